"""The lenient Salesforce mappings: a deal keeps every term for the rules to judge."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from mediator.codecs.canonical import Money, StaffingLine
from mediator.codecs.salesforce import (
    change_order_from_salesforce,
    contract_from_salesforce,
    deal_from_salesforce,
    staffing_from_salesforce,
)
from mediator.codecs.salesforce.wire import SfChangeOrder, SfContract, SfOpportunity
from mediator.errors import DecodeError

STAMP = datetime.datetime(2026, 11, 3, 9, 30, tzinfo=datetime.UTC)


def opportunity(**fields: object) -> SfOpportunity:
    base: dict[str, object] = {
        "Id": "0065g00000AbCdEAAV",
        "Name": "Platform",
        "CloseDate": datetime.date(2026, 11, 1),
        "StageName": "Closed Won",
        "IsWon": True,
        "SystemModstamp": STAMP,
    }
    return SfOpportunity(**{**base, **fields})  # type: ignore[arg-type]  # test data


def test_a_deal_missing_every_term_still_maps_for_the_rules_to_list_them() -> None:
    deal = deal_from_salesforce(opportunity(Service_Line__c="  "), org_currency="USD")
    assert (deal.source_id, deal.name, deal.is_won) == ("0065g00000AbCdEAAV", "Platform", True)
    assert deal.account_id is None
    assert deal.amount is None
    assert deal.billing_model is None
    assert deal.payment_terms_days is None
    assert deal.service_line is None  # blank is missing, not an unknown line
    assert deal.staffing == ()
    assert (deal.currency, deal.updated_at) == ("USD", STAMP)


def test_a_deal_keeps_its_terms_as_the_crm_holds_them() -> None:
    deal = deal_from_salesforce(
        opportunity(
            AccountId="0015g00000XyZaBAAV",
            ContractId="8005g0000001AAA",
            Amount=Decimal("1200.5"),
            CurrencyIsoCode="JPY",
            Billing_Model__c="Retainer",
            Retainer_Interval__c="Fortnight",  # judged by the flow, not here
            Payment_Terms_Days__c=Decimal(400),
            Service_Line__c="Data",
            Delivery_Region__c="EMEA",
            Legal_Entity__c="Firm GmbH",
            Project_Key__c="P-1042",
        ),
        org_currency="USD",
    )
    assert deal.amount == Money(amount=1200, currency="JPY")  # to the yen, half even
    assert (deal.billing_model, deal.retainer_interval) == ("Retainer", "Fortnight")
    assert deal.payment_terms_days == 400
    assert (deal.service_line, deal.delivery_region, deal.legal_entity) == (
        "Data",
        "EMEA",
        "Firm GmbH",
    )
    assert (deal.project_code, deal.contract_id) == ("P-1042", "8005g0000001AAA")


def test_an_amount_is_money_in_the_records_currency() -> None:
    deal = deal_from_salesforce(
        opportunity(Amount=Decimal("1200.5"), CurrencyIsoCode="EUR"), org_currency="USD"
    )
    assert deal.amount == Money(amount=120050, currency="EUR")
    with pytest.raises(DecodeError, match=r"\$\.Amount"):
        deal_from_salesforce(opportunity(Amount=Decimal("1e17")), org_currency="USD")


def test_payment_terms_must_be_whole_days() -> None:
    with pytest.raises(DecodeError) as caught:
        deal_from_salesforce(opportunity(Payment_Terms_Days__c=Decimal("30.5")), org_currency="USD")
    assert caught.value.path == "$.Payment_Terms_Days__c"


def test_staffing_is_one_email_and_role_a_line() -> None:
    text = "Ada@Firm.example = Lead Architect\r\n\n   \nbob@firm.example=Engineer\n"
    assert staffing_from_salesforce(text) == (
        StaffingLine(email="ada@firm.example", role="Lead Architect"),
        StaffingLine(email="bob@firm.example", role="Engineer"),
    )
    assert staffing_from_salesforce(None) == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ada@firm.example=Architect\nbob", "line 2 'bob' is not email=role"),
        ("ada@firm.example=", "line 1 'ada@firm.example=' is not email=role"),
        ("=Architect", "line 1 '=Architect' is not email=role"),
        ("ada at firm=Architect", "is not email=role"),
        ("ada@localhost=Architect", "is not email=role"),
        ("ada@firm.example=A\nADA@firm.example=B", "line 2: 'ADA@firm.example' is staffed twice"),
    ],
)
def test_a_malformed_staffing_line_is_a_decode_error_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(DecodeError) as caught:
        deal_from_salesforce(opportunity(Staffing__c=text), org_currency="USD", path="$.records[3]")
    assert caught.value.path == "$.records[3].Staffing__c"
    assert says in caught.value.reason


def test_a_contract_maps_with_its_dates_and_version() -> None:
    contract = contract_from_salesforce(
        SfContract(
            Id="8005g0000001AAA",
            AccountId="0015g00000XyZaBAAV",
            ContractNumber="00000042",
            Status="Activated",
            StartDate=datetime.date(2026, 12, 1),
            EndDate=datetime.date(2027, 11, 30),
            SystemModstamp=STAMP,
        )
    )
    assert (contract.source_id, contract.account_id, contract.number) == (
        "8005g0000001AAA",
        "0015g00000XyZaBAAV",
        "00000042",
    )
    assert (contract.status, contract.starts_on, contract.ends_on, contract.updated_at) == (
        "Activated",
        datetime.date(2026, 12, 1),
        datetime.date(2027, 11, 30),
        STAMP,
    )


@pytest.mark.parametrize(
    ("label", "status"),
    [("Approved", "approved"), (" applied ", "applied"), (None, "draft"), ("Draft", "draft")],
)
def test_a_change_orders_status_comes_from_its_status_field(label: str | None, status: str) -> None:
    order = SfChangeOrder(
        Id="a0C5g0000001AAA",
        Opportunity__c="0065g00000AbCdEAAV",
        Effective_Date__c=datetime.date(2026, 12, 15),
        Status__c=label,
    )
    assert change_order_from_salesforce(order, org_currency="USD").status == status


def test_an_unknown_change_order_status_is_a_decode_error() -> None:
    order = SfChangeOrder(
        Id="a0C5g0000001AAA",
        Opportunity__c="0065g00000AbCdEAAV",
        Effective_Date__c=datetime.date(2026, 12, 15),
        Status__c="Pending Legal",
    )
    with pytest.raises(DecodeError) as caught:
        change_order_from_salesforce(order, org_currency="USD")
    assert caught.value.path == "$.Status__c"
