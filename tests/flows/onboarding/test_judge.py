"""`judge`, the pure rules: terms of a valid deal, and every failure of an invalid one."""

from __future__ import annotations

import datetime

import msgspec
import pytest

from mediator.codecs.canonical.deals import Contract, Deal, StaffingLine
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Address, Client, TaxProfile
from mediator.flows.onboarding import DealRejected, OnboardingOptions, judge

OPTIONS = msgspec.convert(
    {
        "legal_entities": ["Meridian Advisory GmbH"],
        "service_lines": ["Strategy"],
        "delivery_regions": ["EMEA"],
        "currencies": ["EUR"],
        "payment_terms_days": {"min": 0, "max": 60},
        "tax_profiles": {
            "DE": {"identifier": "de_vat", "tax_id_pattern": "DE[0-9]{9}"},
            "US": {"identifier": "us_ein", "requires_tax_id": False},
        },
        "rate_cards": {"EUR": {"Partner": {"bill": "420.00", "cost": "210.00"}}},
    },
    OnboardingOptions,
)
ACCOUNT = Client(
    source_system="salesforce",
    source_id="001A",
    name="Globex",
    billing_address=Address(street="1 Hauptstrasse", city="Berlin", country="DE"),
    tax=TaxProfile(tax_id="DE136695976"),
)
CONTRACT = Contract(
    source_system="salesforce",
    source_id="800A",
    account_id="001A",
    starts_on=datetime.date(2026, 11, 1),
    ends_on=datetime.date(2027, 10, 31),
)
DEAL = Deal(
    source_system="salesforce",
    source_id="006A",
    name="Retainer",
    account_id="001A",
    contract_id="800A",
    amount=Money.from_decimal("120000.01", "EUR"),
    currency="EUR",
    billing_model="Retainer",
    retainer_interval="Quarter",
    payment_terms_days=30,
    service_line="Strategy",
    delivery_region="EMEA",
    legal_entity="Meridian Advisory GmbH",
    staffing=(StaffingLine(email="ada@firm.example", role="Partner"),),
)


def test_a_valid_retainer_gets_its_fee_per_period() -> None:
    failures, terms = judge(
        DEAL, account=ACCOUNT, hierarchy_problem=None, contract=CONTRACT, options=OPTIONS
    )
    assert failures == []
    assert terms is not None
    assert (terms.billing_model, terms.retainer_interval) == ("retainer", "quarter")
    assert terms.period_fee == Money(amount=3_000_001, currency="EUR")  # the remainder first
    assert terms.starts_on == CONTRACT.starts_on


@pytest.mark.parametrize(
    ("label", "model"),
    [
        ("Time & Materials", "time_and_materials"),
        ("fixed fee", "fixed_fee"),
        ("T&M", "time_and_materials"),
    ],
)
def test_the_crms_billing_model_labels_are_understood(label: str, model: str) -> None:
    deal = msgspec.structs.replace(DEAL, billing_model=label)
    _, terms = judge(
        deal, account=ACCOUNT, hierarchy_problem=None, contract=CONTRACT, options=OPTIONS
    )
    assert terms is not None
    assert terms.billing_model == model
    assert terms.period_fee is None


def test_a_client_where_no_tax_id_is_required_needs_none() -> None:
    account = msgspec.structs.replace(
        ACCOUNT,
        billing_address=Address(street="1 Main", city="Boston", country="US"),
        tax=TaxProfile(),
    )
    failures, _ = judge(
        DEAL, account=account, hierarchy_problem=None, contract=CONTRACT, options=OPTIONS
    )
    assert failures == []


def test_every_failure_is_listed_in_the_rejection() -> None:
    deal = msgspec.structs.replace(
        DEAL,
        is_won=False,
        legal_entity=None,
        payment_terms_days=None,
        contract_id=None,
        staffing=(),
    )
    account = msgspec.structs.replace(ACCOUNT, tax=TaxProfile())
    failures, terms = judge(
        deal,
        account=account,
        hierarchy_problem="the parents of 001A loop",
        contract=None,
        options=OPTIONS,
    )
    assert terms is None
    assert [f.split(":")[0] for f in failures] == [
        "stage",
        "legal entity",
        "account hierarchy",
        "tax id",
        "payment terms",
        "contract",
        "staffing",
    ]
    rejected = DealRejected("006A", failures)
    assert rejected.failures == tuple(failures)
    assert str(rejected).count(";") == len(failures) - 1
