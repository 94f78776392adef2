"""The flows mediator ships, as plug-ins of `Mediator`: each built from its `[flows.<name>]`.

A plug-in joins a flow's entity actor (`mediator.flows`, which knows no vendor) to the
ingress that feeds it (a vendor's poller), so it lives here, at the top, where both meet.

`SHIPPED_FLOWS` maps a flow's name to its factory, which reads the flow's options (raising a
`ConfigError` that names the option's key and line) and returns the `Flow`. A host service
passes its own mapping to `Mediator(flows=...)` to add or replace flows.
"""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated, Literal, Protocol

import msgspec

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.flows.approved_time import APPROVED_TIME, TimesheetPosting
from mediator.flows.billing import (
    ADJUSTMENT_APPROVED,
    APPROVED_EXPENSE,
    BILLABLE_TIME,
    CLOSE_PERIOD,
    FLUSH_INVOICE,
    BillingDesk,
    CloseSchedule,
    FlushSchedule,
)
from mediator.flows.billing.taxes import TaxRates
from mediator.flows.onboarding import OnboardingFlow
from mediator.flows.tax_treatment import TREATMENTS, Treatment, tax_percentage
from mediator.ingress.harvest_expenses import HarvestExpensesPoller
from mediator.ingress.harvest_time import POLLER_NAME, HarvestTimePoller
from mediator.runtime.change_orders import ChangeOrdersFlow
from mediator.runtime.finance_flows import CashApplicationFlow, MilestonesFlow, ReceivablesFlow
from mediator.runtime.flow import Flow, FlowContext, Poller
from mediator.systems import HarvestConnector
from mediator.systems.stripe import StripeConnector
from mediator.tomlfile import Fail, convert

__all__ = [
    "SHIPPED_FLOWS",
    "ApprovedTimeFlow",
    "ApprovedTimeOptions",
    "BillingFlow",
    "BillingOptions",
    "FlowFactory",
]


class FlowFactory(Protocol):
    """Build a flow from its options; `fail(key, reason)` makes the error for an option's key."""

    def __call__(self, options: Mapping[str, object], fail: Fail, /) -> Flow: ...


class ApprovedTimeOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.approved_time.options]`: the PSA account's currency, the ERP call's deadline."""

    account_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    #: how long one ERP create may take before the delivery is retried by the journal
    erp_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0


class ApprovedTimeFlow:
    """Approved time → ERP timesheet lines: Harvest's approved entries, one actor per project."""

    name = "approved_time"
    kinds = frozenset({APPROVED_TIME})
    owner = "delivery"
    systems = frozenset({"harvest", "tryton"})
    poller_names = frozenset({POLLER_NAME})

    def __init__(self, options: ApprovedTimeOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """The ERP call's own deadline: the dispatcher waits longer than this."""
        return self.options.erp_timeout

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> ApprovedTimeFlow:
        """Read `[flows.approved_time.options]`; raise `ConfigError` naming the bad key."""
        return cls(convert(dict(options), ApprovedTimeOptions, "", fail))

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `TimesheetPosting` for the project `key`."""
        return TimesheetPosting(
            key,
            erp=context.systems["tryton"],
            journal=context.journal,
            timeout=self.options.erp_timeout,
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Harvest poller of approved time entries."""
        harvest = context.connectors["harvest"]
        assert isinstance(harvest, HarvestConnector)
        return [
            HarvestTimePoller(
                harvest,
                account_currency=self.options.account_currency,
                name=POLLER_NAME,
                billing=BillingFlow.name in context.enabled_flows,
            )
        ]


class BillingOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.billing.options]`: expenses' currency and markup, terms, the close's cut-off.

    The flush and close run on `[ingress.pollers.billing_flush]` (an interval: how long an
    aggregate may stay dirty) and `[ingress.pollers.billing_close]` (e.g. a cron on business
    days); `cutoff` is the local time on a period's last business day from which it closes.
    """

    #: the Harvest account's currency (expenses of clients without their own)
    account_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    #: re-billed expenses: cost plus this fraction (``0.1`` is 10 %; read as the decimal it
    #: is written as, never as a binary float)
    expense_markup: Annotated[float, msgspec.Meta(ge=0, le=10)] = 0.0
    #: days until an invoice is due, unless onboarding recorded the client's own terms
    payment_terms_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    #: the local time (``HH:MM``) on a period's last business day when it is due to close
    cutoff: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] = "18:00"
    #: corrections of a finalized invoice: on the next invoice, or (``credit_note``) those that
    #: lower it as a Stripe credit note on it (a raise still goes on the next invoice)
    corrections: Literal["next_invoice", "credit_note"] = "next_invoice"
    #: how long one Stripe call may take before the delivery is retried by the journal
    stripe_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0
    #: the tax percentage (``"20.0"``) of each client tax treatment (``standard``,
    #: ``reverse``, ``exempt``: the Stripe customer's `tax_exempt`); one not named is untaxed
    tax_rates: dict[str, str] = {}


class BillingFlow:
    """Approved time and expenses → aggregated Stripe invoice items, flushed and closed."""

    name = "billing"
    kinds = frozenset(
        {BILLABLE_TIME, APPROVED_EXPENSE, FLUSH_INVOICE, CLOSE_PERIOD, ADJUSTMENT_APPROVED}
    )
    owner = "finance"
    systems = frozenset({"harvest", "stripe"})
    poller_names = frozenset({"harvest_expenses", "billing_flush", "billing_close"})

    def __init__(self, options: BillingOptions) -> None:
        self.options = options
        # read once (checked by `from_options`), not for each entity actor
        self.markup = Decimal(repr(options.expense_markup))
        self.percentages: dict[Treatment, Decimal] = {
            treatment: found
            for treatment in TREATMENTS
            if (found := tax_percentage(options.tax_rates.get(treatment, ""))) is not None
        }

    @property
    def delivery_timeout(self) -> float:
        """A flush makes a few Stripe calls one after the other: their deadlines, summed."""
        return self.options.stripe_timeout * 3

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> BillingFlow:
        """Read `[flows.billing.options]`; raise `ConfigError` naming the bad key."""
        parsed = convert(dict(options), BillingOptions, "", fail)
        for treatment, text in parsed.tax_rates.items():
            if treatment not in TREATMENTS:
                raise fail(f"tax_rates.{treatment}", f"not a treatment: {', '.join(TREATMENTS)}")
            if tax_percentage(text) is None:
                raise fail(
                    f"tax_rates.{treatment}",
                    f"{text!r:.40} is not a percentage from 0 to 100 with at most 4 decimals",
                )
        return cls(parsed)

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `BillingDesk` for a project's entries or an invoice's flushes and close."""
        stripe = context.connectors["stripe"]
        assert isinstance(stripe, StripeConnector)
        taxes = TaxRates(
            context.journal,
            stripe=context.systems["stripe"],
            reader=stripe,
            percentages=self.percentages,
            timeout=self.options.stripe_timeout,
        )
        return BillingDesk(
            key,
            journal=context.journal,
            stripe=context.systems["stripe"],
            clock=context.clock,
            expense_markup=self.markup,
            payment_terms_days=self.options.payment_terms_days,
            timeout=self.options.stripe_timeout,
            credit_notes=self.options.corrections == "credit_note",
            # what a create may have made already is looked for first: reads, so the connector
            credit_note_lookup=lambda invoice: stripe.list_credit_notes(invoice=invoice),
            item_lookup=lambda invoice: stripe.list_invoice_items(invoice=invoice),
            taxes=taxes,
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Harvest expenses poller, and the flush and close schedules."""
        harvest = context.connectors["harvest"]
        assert isinstance(harvest, HarvestConnector)
        hours, minutes = (int(part) for part in self.options.cutoff.split(":"))
        return [
            HarvestExpensesPoller(harvest, account_currency=self.options.account_currency),
            FlushSchedule(clock=context.clock),
            CloseSchedule(
                clock=context.clock,
                zone=zoneinfo.ZoneInfo(context.time_zone),
                cutoff=datetime.time(hours, minutes),
            ),
        ]


SHIPPED_FLOWS: Mapping[str, FlowFactory] = MappingProxyType(
    {
        ApprovedTimeFlow.name: ApprovedTimeFlow.from_options,
        OnboardingFlow.name: OnboardingFlow.from_options,
        ChangeOrdersFlow.name: ChangeOrdersFlow.from_options,
        BillingFlow.name: BillingFlow.from_options,
        ReceivablesFlow.name: ReceivablesFlow.from_options,
        CashApplicationFlow.name: CashApplicationFlow.from_options,
        MilestonesFlow.name: MilestonesFlow.from_options,
    }
)
"""The flows mediator ships, by name: what `[flows.<name>]` may enable."""
