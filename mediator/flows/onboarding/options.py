"""`[flows.onboarding.options]`: the business rules a won deal is judged by, and its timeouts.

Sales operations own these lists; a deal outside them is refused with every rule it breaks
(`mediator.flows.onboarding.validation`). Rates are written in major units, as people write
them (``"210.00"``), and become `Money` in the card's currency here, once, at start.

    legal_entities = ["Meridian Advisory Inc.", "Meridian Advisory GmbH"]
    service_lines = ["Strategy", "Technology"]
    delivery_regions = ["EMEA", "North America"]
    billing_models = ["time_and_materials", "fixed_fee", "retainer"]
    currencies = ["USD", "EUR"]
    payment_terms_days = { min = 0, max = 90 }

    [flows.onboarding.options.tax_profiles.DE]   # per billing country (ISO alpha-2)
    identifier = "de_vat"                        # the ERP's identifier type
    requires_tax_id = true

    [flows.onboarding.options.rate_cards.EUR]    # role → bill and cost rate per hour
    Partner = { bill = "420.00", cost = "210.00" }
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from mediator.codecs.canonical.money import Money

__all__ = [
    "BILLING_MODELS",
    "OnboardingOptions",
    "RateOption",
    "TaxProfileOption",
    "TermsRange",
]

#: The billing models the flow knows how to onboard (its canonical names).
BILLING_MODELS = ("time_and_materials", "fixed_fee", "retainer")

_Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
_Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
_Days = Annotated[int, msgspec.Meta(ge=0, le=365)]
_Rate = Annotated[str, msgspec.Meta(pattern=r"^\d{1,9}(\.\d{1,4})?$")]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class TaxProfileOption(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How clients billed in one country are taxed: the ERP identifier type of their tax id,
    whether a deal may go ahead without one, and (optionally) the shape the id must have."""

    identifier: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}_[a-z]{2,6}$")]
    requires_tax_id: bool = True
    tax_id_pattern: str | None = None


class RateOption(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One role's rates per hour, in major units of the card's currency (``"210.00"``)."""

    bill: _Rate
    cost: _Rate | None = None


class TermsRange(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The payment terms (net days) the firm accepts."""

    min: _Days = 0
    max: _Days = 90

    def __post_init__(self) -> None:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min})")


class OnboardingOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.onboarding.options]`: what a deal must be to be onboarded, and how.

    `org_currency` is the CRM org's corporate currency (of amounts read without one);
    `billable_task` and `internal_task` name the Harvest tasks every project gets (billable
    and not); `timeout` bounds one system call of a step (the dispatcher waits longer).
    """

    legal_entities: Annotated[list[_Name], msgspec.Meta(min_length=1)]
    service_lines: Annotated[list[_Name], msgspec.Meta(min_length=1)]
    delivery_regions: Annotated[list[_Name], msgspec.Meta(min_length=1)]
    billing_models: list[str] = msgspec.field(default_factory=lambda: list(BILLING_MODELS))
    currencies: Annotated[list[_Code], msgspec.Meta(min_length=1)]
    payment_terms_days: TermsRange = TermsRange()
    tax_profiles: dict[_Country, TaxProfileOption]
    rate_cards: dict[_Code, dict[_Name, RateOption]]
    org_currency: _Code = "USD"
    billable_task: _Name = "Consulting"
    internal_task: _Name | None = "Internal"
    timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.billing_models) - set(BILLING_MODELS))
        if unknown:
            raise ValueError(f"unknown billing models {unknown} (known: {list(BILLING_MODELS)})")
        for currency, card in self.rate_cards.items():
            for role, rate in card.items():
                try:
                    Money.from_decimal(Decimal(rate.bill), currency)
                except ValueError as exc:
                    raise ValueError(f"rate_cards.{currency}.{role}: {exc}") from exc

    def bill_rate(self, currency: str, role: str) -> Money | None:
        """The bill rate of `role` on the `currency` card (None: no such card or role)."""
        rate = self.rate_cards.get(currency, {}).get(role)
        return None if rate is None else Money.from_decimal(Decimal(rate.bill), currency)

    def cost_rate(self, currency: str, role: str) -> Money | None:
        """The cost rate of `role` on the `currency` card (None when the card gives none)."""
        rate = self.rate_cards.get(currency, {}).get(role)
        if rate is None or rate.cost is None:
            return None
        return Money.from_decimal(Decimal(rate.cost), currency)
