"""The tax rate of a client's invoice: its treatment's percentage, as one Stripe tax rate.

`[flows.billing.options.tax_rates]` maps a treatment (`mediator.flows.tax_treatment`) to a
percentage; a treatment it does not name is not taxed. The client's treatment is its Stripe
customer's `tax_exempt` (written by onboarding from the canonical `TaxProfile.exempt`), read
when the draft is created, so Stripe and the CRM agree on it.

Each percentage is created once in Stripe (`CreateTaxRate`, keyed by the percentage) and its
id kept in flow state ``billing.tax_rates`` by percentage: Stripe keeps tax rates for good, so
a rate is never made twice, even by two flushes at once (the key makes the second a replay).
The rate goes on the draft as its `default_tax_rates`: Stripe then taxes every line, per line.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol

import msgspec

from mediator.actors import ActorRef
from mediator.codecs.stripe import wire
from mediator.flows.billing.state import load, update
from mediator.flows.tax_treatment import Treatment, treatment_of
from mediator.journal import Journal
from mediator.systems import Command
from mediator.systems.stripe import CreateTaxRate

__all__ = ["RATES", "CustomerReader", "SavedRate", "TaxRates"]

#: The flow state of the tax rates made in Stripe, by percentage.
RATES = "billing.tax_rates"


class CustomerReader(Protocol):
    """What is read of Stripe: a customer (`StripeConnector.get_customer`)."""

    async def get_customer(self, customer: str) -> wire.StCustomer:
        """Read one customer."""
        ...


class SavedRate(msgspec.Struct, frozen=True, kw_only=True):
    """A tax rate made in Stripe: its id and percentage."""

    rate_id: str
    percentage: str


class TaxRates:
    """Which Stripe tax rates a customer's invoice carries, made in Stripe at first use."""

    def __init__(
        self,
        journal: Journal,
        *,
        stripe: ActorRef[Command],
        reader: CustomerReader,
        percentages: Mapping[Treatment, Decimal],
        timeout: float,
    ) -> None:
        self.journal = journal
        self.stripe = stripe
        self.reader = reader
        self.percentages = percentages
        self.timeout = timeout

    async def for_customer(self, customer: str) -> tuple[str, ...]:
        """The tax rates (``txr_…``) of the Stripe customer `customer`'s invoices: its
        treatment's rate, or none when its treatment has no percentage configured."""
        if not self.percentages:
            return ()
        found = await self.reader.get_customer(customer)
        treatment = treatment_of(found.tax_exempt, who=f"Stripe customer {customer}")
        percentage = self.percentages.get(treatment)
        if percentage is None:
            return ()
        return (await self.rate(percentage),)

    async def rate(self, percentage: Decimal) -> str:
        """The id of the Stripe tax rate of `percentage`, created the first time."""
        text = _text(percentage)
        saved, _ = await load(self.journal, RATES, text, SavedRate)
        if saved is not None:
            return saved.rate_id
        made = await self.stripe.ask(
            CreateTaxRate(
                idempotency_key=f"billing:tax_rate:{text}",
                percentage=Decimal(text),
                display_name=f"Tax {text}%",
            ),
            timeout=self.timeout,
        )
        if not isinstance(made, wire.StTaxRate):
            raise TypeError(f"Stripe answered {type(made).__name__}, not StTaxRate")
        await update(
            self.journal,
            RATES,
            text,
            SavedRate,
            lambda s: s or SavedRate(rate_id=made.id, percentage=text),
        )
        return made.id


def _text(percentage: Decimal) -> str:
    # one spelling per percentage ("20", "20.0", "20.00" are one rate): at least one decimal
    normal = percentage.normalize()
    exponent = normal.as_tuple().exponent
    return (
        str(normal.quantize(Decimal("0.1")))
        if isinstance(exponent, int) and exponent >= 0
        else str(normal)
    )
