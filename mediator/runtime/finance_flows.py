"""The finance flows as plug-ins: receivables, cash application and milestones.

Each joins its entity actor (`mediator.flows`) to what feeds it: Stripe's events, from the
webhook listener and from the catch-up poller ``stripe_events`` (`StripeEventsPoller`), which
both receivables and cash application offer: one poller, journaling the kinds of whichever
of them are enabled.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Annotated

import msgspec

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.flows.cash_application import (
    INVOICE_PAID,
    INVOICE_UPDATED,
    RECEIVABLE_POSTED,
    CashApplication,
    CashOptions,
    WaitingPayments,
)
from mediator.flows.kinds import MILESTONE_CHANGED
from mediator.flows.milestones import MilestoneInvoicing, MilestoneOptions
from mediator.flows.receivable_credits import (
    CREDIT_NOTE_CREATED,
    CREDIT_NOTE_POSTED,
    CreditNotePosting,
)
from mediator.flows.receivables import (
    APPROVAL_DECIDED,
    INVOICE_FINALIZED,
    INVOICE_VOIDED,
    ReceivableOptions,
    ReceivablePosting,
)
from mediator.flows.tax_treatment import TREATMENTS
from mediator.ingress.salesforce_changes import salesforce_pollers
from mediator.ingress.stripe_events import StripeEventsPoller
from mediator.runtime.flow import FlowContext, Poller
from mediator.systems.salesforce import SalesforceConnector
from mediator.systems.stripe import StripeConnector
from mediator.systems.tryton import TrytonConnector
from mediator.tomlfile import Fail, convert

__all__ = [
    "STRIPE_EVENT_KINDS",
    "CashApplicationFlow",
    "CashApplicationOptions",
    "MilestonesFlow",
    "MilestonesOptions",
    "ReceivablesFlow",
    "ReceivablesOptions",
]

#: The Stripe events the finance flows consume (the events poller journals those of the
#: enabled flows).
STRIPE_EVENT_KINDS = frozenset(
    {INVOICE_FINALIZED, INVOICE_VOIDED, INVOICE_PAID, INVOICE_UPDATED, CREDIT_NOTE_CREATED}
)
_Timeout = Annotated[float, msgspec.Meta(gt=0, le=600)]
_RecordId = Annotated[int, msgspec.Meta(ge=1)]
_Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]


#: one events poller per Stripe connector, shared by the flows that consume its events
_EVENT_POLLERS: weakref.WeakKeyDictionary[StripeConnector, StripeEventsPoller] = (
    weakref.WeakKeyDictionary()
)


def _events_poller(context: FlowContext, kinds: frozenset[str]) -> StripeEventsPoller:
    # Both Stripe flows offer `stripe_events`, and the Mediator runs one poller of a name: the
    # first flow built makes it, each adds the kinds it handles, so the poller journals the
    # events of the enabled flows only (another kind would be a dead letter parking its
    # invoice's later events), exactly what the webhook listener journals.
    stripe = context.connectors["stripe"]
    assert isinstance(stripe, StripeConnector)
    poller = _EVENT_POLLERS.get(stripe)
    if poller is None:
        poller = StripeEventsPoller(stripe, kinds=frozenset(), name="stripe_events")
        _EVENT_POLLERS[stripe] = poller
    poller.kinds = poller.kinds | kinds
    return poller


class ReceivablesOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.receivables.options]`: the revenue account (a Tryton ``account.account`` id) of
    each service line (others: `[systems.tryton.erp] revenue_account`), the kind the finance
    approval rules know customer invoices by, and the ERP call's deadline."""

    revenue_accounts: dict[str, _RecordId] = {}
    approval_kind: str = "customer_invoice"
    erp_timeout: _Timeout = 60.0
    #: the Tryton ``account.tax`` id of each client tax treatment (``standard``, ``reverse``,
    #: ``exempt``: the Stripe customer's `tax_exempt`); one not named carries no tax
    taxes: dict[str, _RecordId] = {}


class ReceivablesFlow:
    """Stripe's finalized invoices → posted Tryton customer invoices, one actor per invoice;
    Stripe's credit notes → posted Tryton credit notes, one actor per credit note."""

    name = "receivables"
    kinds = frozenset({INVOICE_FINALIZED, INVOICE_VOIDED, APPROVAL_DECIDED, CREDIT_NOTE_CREATED})
    owner = "finance"
    systems = frozenset({"stripe", "tryton"})
    poller_names = frozenset({"stripe_events"})

    def __init__(self, options: ReceivablesOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """The ERP call's deadline, and as long again for the reads before it."""
        return 2 * self.options.erp_timeout

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> ReceivablesFlow:
        """Read `[flows.receivables.options]`; raise `ConfigError` naming the bad key."""
        parsed = convert(dict(options), ReceivablesOptions, "", fail)
        for treatment in parsed.taxes:
            if treatment not in TREATMENTS:
                raise fail(f"taxes.{treatment}", f"not a treatment: {', '.join(TREATMENTS)}")
        return cls(parsed)

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `ReceivablePosting` for the invoice `key`, a `CreditNotePosting` for the credit
        note `key` (``credit_note:<id>``), which tells cash application when it is enabled."""
        stripe, tryton = context.connectors["stripe"], context.connectors["tryton"]
        assert isinstance(stripe, StripeConnector)
        assert isinstance(tryton, TrytonConnector)
        posting = ReceivablePosting(
            key,
            stripe=stripe,
            tryton=tryton,
            erp=context.systems["tryton"],
            journal=context.journal,
            clock=context.clock,
            approvals=context.approvals,
            options=ReceivableOptions(
                revenue_accounts=dict(self.options.revenue_accounts),
                approval_kind=self.options.approval_kind,
                erp_timeout=self.options.erp_timeout,
                taxes=dict(self.options.taxes),
            ),
        )
        if not key.startswith("credit_note:"):
            return posting
        cash = CashApplicationFlow.name in context.enabled_flows
        return CreditNotePosting(
            key,
            posting=posting,
            stripe=stripe,
            tryton=tryton,
            erp=context.systems["tryton"],
            journal=context.journal,
            clock=context.clock,
            follow_up=context.follow_up if cash else None,
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Stripe events poller (shared with cash application)."""
        return [_events_poller(context, self.kinds & STRIPE_EVENT_KINDS)]


class CashApplicationOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.cash_application.options]`: the Tryton ``account.invoice.payment.method`` id
    payments are applied with, the Salesforce quota class of the CRM write-backs, and the
    ERP and CRM calls' deadline."""

    payment_method: _RecordId
    crm_priority: str = "crm_writeback"
    timeout: _Timeout = 60.0


class CashApplicationFlow:
    """Stripe's payments → payments applied to the Tryton receivables, and the CRM told."""

    name = "cash_application"
    kinds = frozenset({INVOICE_PAID, INVOICE_UPDATED, RECEIVABLE_POSTED, CREDIT_NOTE_POSTED})
    owner = "finance"
    systems = frozenset({"stripe", "tryton", "salesforce"})
    poller_names = frozenset({"stripe_events", "cash_application_waiting"})

    def __init__(self, options: CashApplicationOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """The ERP and the CRM calls' deadlines, and one more for the reads."""
        return 3 * self.options.timeout

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> CashApplicationFlow:
        """Read `[flows.cash_application.options]`; raise `ConfigError` naming the bad key."""
        return cls(convert(dict(options), CashApplicationOptions, "", fail))

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `CashApplication` for the invoice `key`."""
        stripe = context.connectors["stripe"]
        assert isinstance(stripe, StripeConnector)
        return CashApplication(
            key,
            stripe=stripe,
            erp=context.systems["tryton"],
            crm=context.systems["salesforce"],
            journal=context.journal,
            clock=context.clock,
            options=CashOptions(
                payment_method=self.options.payment_method,
                crm_priority=self.options.crm_priority,
                timeout=self.options.timeout,
            ),
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Stripe events poller (shared with receivables) and the sweep of payments
        waiting for their receivable."""
        return [
            _events_poller(context, self.kinds & STRIPE_EVENT_KINDS),
            WaitingPayments(name="cash_application_waiting"),
        ]


class MilestonesOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.milestones.options]`: the CRM org's corporate currency (of milestones without
    ``CurrencyIsoCode``), the payment terms of deals that name none, the Salesforce quota class
    of its reads and write-backs, and the Stripe and CRM calls' deadline."""

    org_currency: _Currency
    payment_terms_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 30
    crm_priority: str = "crm_writeback"
    timeout: _Timeout = 60.0


class MilestonesFlow:
    """Approved fixed-fee milestones → one finalized Stripe invoice each, marked invoiced in
    the CRM; one actor per deal (the milestones wait behind its onboarding)."""

    name = "milestones"
    kinds = frozenset({MILESTONE_CHANGED})
    owner = "finance"
    systems = frozenset({"stripe", "salesforce"})
    poller_names = frozenset({"salesforce_milestones"})

    def __init__(self, options: MilestonesOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """One deal read, three Stripe calls and one CRM write, each within the deadline."""
        return 5 * self.options.timeout

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> MilestonesFlow:
        """Read `[flows.milestones.options]`; raise `ConfigError` naming the bad key."""
        return cls(convert(dict(options), MilestonesOptions, "", fail))

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `MilestoneInvoicing` for the deal `key`."""
        salesforce = context.connectors["salesforce"]
        assert isinstance(salesforce, SalesforceConnector)
        return MilestoneInvoicing(
            key,
            salesforce=salesforce,
            billing=context.systems["stripe"],
            crm=context.systems["salesforce"],
            journal=context.journal,
            options=MilestoneOptions(
                payment_terms_days=self.options.payment_terms_days,
                crm_priority=self.options.crm_priority,
                timeout=self.options.timeout,
            ),
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The CRM's milestones poller (`mediator.ingress.salesforce_changes`)."""
        salesforce = context.connectors["salesforce"]
        assert isinstance(salesforce, SalesforceConnector)
        return salesforce_pollers(
            salesforce, ["salesforce_milestones"], org_currency=self.options.org_currency
        )
