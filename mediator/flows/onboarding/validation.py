"""Judging a won deal by the business rules, before anything is made anywhere.

`judge` checks a deal, its account (read from the CRM) and its contract against
`OnboardingOptions` and returns *every* rule the deal breaks, each as one line naming the rule
and the CRM field to fix, so sales operations fix them all in one pass instead of one per
round trip. It is pure: the reads happen before, in the entity actor, and a rejected deal
costs the ERP, the PSA and billing nothing (`DealRejected` is raised before any step runs).

The account hierarchy is not a rule here: a subsidiary whose parent is not onboarded yet
waits for it (`mediator.flows.onboarding.links`), it is not refused.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

import msgspec

from mediator.codecs.canonical.deals import Contract, Deal
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Client
from mediator.errors import BusinessRejected
from mediator.flows.onboarding.options import OnboardingOptions

__all__ = ["DealRejected", "Terms", "judge", "normalize_billing_model"]

# the CRM's picklist labels, as sales types them, for the flow's billing models
_MODELS = {
    "time_and_materials": "time_and_materials",
    "time & materials": "time_and_materials",
    "time and materials": "time_and_materials",
    "t&m": "time_and_materials",
    "fixed_fee": "fixed_fee",
    "fixed fee": "fixed_fee",
    "fixed-fee": "fixed_fee",
    "retainer": "retainer",
}
#: periods per year of each retainer interval: a retainer's Amount is its yearly value
_PERIODS_PER_YEAR = {"month": 12, "quarter": 4, "year": 1}


class DealRejected(BusinessRejected):
    """A won deal breaks business rules: every broken rule is in `failures` (and the reason).

    A dead letter owned by sales operations; nothing was made in any system. Correcting the
    Opportunity, its Account or its Contract in the CRM runs the deal again by itself.
    """

    def __init__(self, deal: str, failures: Sequence[str]) -> None:
        self.deal = deal
        self.failures = tuple(failures)
        super().__init__(f"deal {deal}", "; ".join(self.failures))


class Terms(msgspec.Struct, frozen=True, kw_only=True):
    """A valid deal's terms as the steps use them (normalized, in canonical values).

    `period_fee` is a retainer's fee per `retainer_interval`: its Amount is the yearly value,
    split evenly over the year's periods (the first takes any remainder of a minor unit).
    """

    billing_model: str
    currency: str
    payment_terms_days: int
    starts_on: datetime.date
    ends_on: datetime.date | None
    amount: Money
    retainer_interval: str | None = None
    period_fee: Money | None = None


def normalize_billing_model(label: str | None) -> str | None:
    """The flow's name of the CRM's billing-model `label` (None when it is unknown)."""
    return None if label is None else _MODELS.get(label.strip().lower())


def judge(
    deal: Deal,
    *,
    account: Client | None,
    hierarchy_problem: str | None,
    contract: Contract | None,
    options: OnboardingOptions,
) -> tuple[list[str], Terms | None]:
    """Every rule `deal` breaks (empty when none), and its terms when it breaks none."""
    failures: list[str] = []
    if not deal.is_won:
        failures.append("stage: the opportunity is not won (Opportunity.IsWon)")
    failures += _company(deal, options)
    failures += _account(deal, account, hierarchy_problem, options)
    model, model_failures = _billing_model(deal, options)
    failures += model_failures
    failures += _money_terms(deal, model, options)
    failures += _contract(deal, contract)
    failures += _staffing(deal, options)
    if failures:
        return failures, None
    assert model is not None
    assert deal.currency is not None
    assert deal.amount is not None
    assert deal.payment_terms_days is not None
    assert contract is not None
    assert contract.starts_on is not None
    fee = None
    if model == "retainer":
        assert deal.retainer_interval is not None
        periods = _PERIODS_PER_YEAR[deal.retainer_interval.strip().lower()]
        fee = deal.amount.allocate([1] * periods)[0]
    return [], Terms(
        billing_model=model,
        currency=deal.currency,
        payment_terms_days=deal.payment_terms_days,
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        amount=deal.amount,
        retainer_interval=None if fee is None else (deal.retainer_interval or "").lower(),
        period_fee=fee,
    )


def _company(deal: Deal, options: OnboardingOptions) -> list[str]:
    found: list[str] = []
    if not deal.legal_entity:
        found.append("legal entity: missing (Opportunity.Legal_Entity__c)")
    elif deal.legal_entity not in options.legal_entities:
        found.append(
            f"legal entity: {deal.legal_entity!r} is not one of the firm's companies "
            f"({', '.join(options.legal_entities)})"
        )
    if not deal.service_line:
        found.append("service line: missing (Opportunity.Service_Line__c)")
    elif deal.service_line not in options.service_lines:
        found.append(f"service line: {deal.service_line!r} is not offered")
    if not deal.delivery_region:
        found.append("delivery region: missing (Opportunity.Delivery_Region__c)")
    elif deal.delivery_region not in options.delivery_regions:
        found.append(f"delivery region: {deal.delivery_region!r} is not one the firm delivers in")
    return found


def _account(
    deal: Deal, account: Client | None, hierarchy_problem: str | None, options: OnboardingOptions
) -> list[str]:
    if not deal.account_id:
        return ["account: the opportunity has none (Opportunity.AccountId)"]
    if account is None:
        return [f"account: {deal.account_id} is not in the CRM"]
    found: list[str] = []
    if hierarchy_problem is not None:
        found.append(f"account hierarchy: {hierarchy_problem}")
    address = account.billing_address
    country = None if address is None else address.country
    if address is None or not address.street or not address.city:
        found.append("billing address: street and city are required (Account.BillingStreet/City)")
    if not country:
        found.append("billing country: missing (Account.BillingCountryCode)")
        return found
    profile = options.tax_profiles.get(country)
    if profile is None:
        found.append(f"tax profile: none configured for billing country {country}")
        return found
    tax_id = account.tax.tax_id
    if not tax_id:
        if profile.requires_tax_id and account.tax.exempt != "exempt":
            found.append(f"tax id: a client in {country} needs one (Account.Tax_Id__c)")
    elif profile.tax_id_pattern is not None and not re.fullmatch(profile.tax_id_pattern, tax_id):
        found.append(f"tax id: {tax_id!r} is not a {profile.identifier} id")
    return found


def _billing_model(deal: Deal, options: OnboardingOptions) -> tuple[str | None, list[str]]:
    if not deal.billing_model:
        return None, ["billing model: missing (Opportunity.Billing_Model__c)"]
    model = normalize_billing_model(deal.billing_model)
    if model is None or model not in options.billing_models:
        return None, [f"billing model: {deal.billing_model!r} is not offered"]
    if model == "retainer":
        interval = (deal.retainer_interval or "").strip().lower()
        if interval not in _PERIODS_PER_YEAR:
            return model, [
                "retainer interval: a retainer needs month, quarter or year "
                "(Opportunity.Retainer_Interval__c)"
            ]
    return model, []


def _money_terms(deal: Deal, model: str | None, options: OnboardingOptions) -> list[str]:
    found: list[str] = []
    if not deal.currency:
        found.append("currency: missing (Opportunity.CurrencyIsoCode)")
    elif deal.currency not in options.currencies:
        found.append(f"currency: {deal.currency} is not billed in")
    elif deal.currency not in options.rate_cards:
        found.append(f"rate card: none configured for {deal.currency}")
    if deal.amount is None:
        found.append("amount: missing (Opportunity.Amount)")
    elif deal.amount.amount <= 0:
        found.append(f"amount: {deal.amount} is not positive")
    elif deal.currency and deal.amount.currency != deal.currency:
        found.append(f"amount: in {deal.amount.currency}, the deal is in {deal.currency}")
    terms, bounds = deal.payment_terms_days, options.payment_terms_days
    if terms is None:
        found.append("payment terms: missing (Opportunity.Payment_Terms_Days__c)")
    elif not bounds.min <= terms <= bounds.max:
        found.append(f"payment terms: {terms} days is outside {bounds.min} to {bounds.max}")
    return found


def _contract(deal: Deal, contract: Contract | None) -> list[str]:
    if not deal.contract_id:
        return ["contract: the opportunity has none (Opportunity.ContractId)"]
    if contract is None:
        return [f"contract: {deal.contract_id} is not in the CRM"]
    found: list[str] = []
    if deal.account_id and contract.account_id != deal.account_id:
        found.append(f"contract: {contract.source_id} belongs to another account")
    if contract.starts_on is None:
        found.append("contract: no start date (Contract.StartDate)")
    elif contract.ends_on is not None and contract.ends_on < contract.starts_on:
        found.append("contract: ends before it starts (Contract.EndDate)")
    return found


def _staffing(deal: Deal, options: OnboardingOptions) -> list[str]:
    if not deal.staffing:
        return ["staffing: nobody is staffed (Opportunity.Staffing__c)"]
    card = options.rate_cards.get(deal.currency or "", {})
    if not card:
        return []  # the missing rate card is one failure already, not one per line
    return [
        f"staffing: {line.email} is staffed as {line.role!r}, which the {deal.currency} rate "
        "card does not have"
        for line in deal.staffing
        if line.role not in card
    ]
