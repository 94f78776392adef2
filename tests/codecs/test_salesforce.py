"""Salesforce ↔ canonical: SOQL pages of accounts, won deals, milestones; errors; hostile data."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Literal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.codecs import Address, Client, Engagement, Money, TaxProfile
from mediator.codecs.canonical.engagements import BillingModel
from mediator.codecs.salesforce.mapping import (
    accounts_from_soql,
    change_order_from_salesforce,
    client_from_salesforce,
    decode_salesforce,
    engagement_from_salesforce,
    milestones_from_soql,
    opportunities_from_soql,
)
from mediator.codecs.salesforce.wire import (
    SfAccount,
    SfChangeOrder,
    SfContract,
    SfError,
    SfOpportunity,
    SfSaveResult,
)
from mediator.codecs.salesforce.write import (
    account_sync_fields,
    account_to_salesforce,
    encode_salesforce,
    opportunity_to_salesforce,
)
from mediator.errors import DecodeError

_STAMP = "2026-10-31T17:05:00.000+0000"


def _soql(obj: str, records: list[dict[str, object]], *, done: bool = True) -> bytes:
    for index, record in enumerate(records):
        record.setdefault(
            "attributes",
            {"type": obj, "url": f"/services/data/v59.0/sobjects/{obj}/{record.get('Id', index)}"},
        )
    page: dict[str, object] = {"totalSize": 2500, "done": done, "records": records}
    if not done:
        page["nextRecordsUrl"] = "/services/data/v59.0/query/01gD0000002HU6KIAW-2000"
    return msgspec.json.Encoder(decimal_format="number").encode(page)


def _opportunity(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "Id": "0065g00000AbCdEAAV",
        "Name": "Acme — data platform",
        "AccountId": "0015g00000XyZaBAAV",
        "Amount": 120000.0,
        "CloseDate": "2026-10-01",
        "StageName": "Closed Won",
        "IsClosed": True,
        "IsWon": True,
        "CurrencyIsoCode": "EUR",
        "Service_Line__c": "Data",
        "Delivery_Region__c": "EMEA",
        "Legal_Entity__c": "Firm Europe BV",
        "Billing_Model__c": "Fixed Fee",
        "Payment_Terms_Days__c": 45,
        "SystemModstamp": _STAMP,
    }
    record.update(changes)
    return record


def test_a_won_deal_page_maps_to_engagements_and_keeps_the_cursor() -> None:
    page = opportunities_from_soql(
        _soql("Opportunity", [_opportunity()], done=False), org_currency="USD"
    )
    assert page.next_url == "/services/data/v59.0/query/01gD0000002HU6KIAW-2000"
    assert page.total == 2500
    (deal,) = page.items
    assert deal.billing_model == "fixed_fee"
    assert deal.value == Money(amount=12_000_000, currency="EUR")
    assert deal.payment_terms_days == 45
    assert deal.won_on == dt.date(2026, 10, 1)
    assert (deal.service_line, deal.delivery_region) == ("Data", "EMEA")


def test_a_contract_gives_the_engagement_its_dates() -> None:
    opportunity = decode_salesforce(msgspec.json.encode(_opportunity()), SfOpportunity)
    contract = decode_salesforce(
        b'{"Id":"8005g000001AbCdAAK","AccountId":"0015g00000XyZaBAAV","Status":"Activated",'
        b'"StartDate":"2026-10-01","EndDate":"2027-03-31","ContractTerm":6}',
        SfContract,
    )
    deal = engagement_from_salesforce(opportunity, org_currency="USD", contract=contract)
    assert (deal.starts_on, deal.ends_on) == (dt.date(2026, 10, 1), dt.date(2027, 3, 31))


def test_accounts_carry_hierarchy_address_and_tax_profile() -> None:
    body = _soql(
        "Account",
        [
            {
                "Id": "0015g00000XyZaBAAV",
                "Name": "Acme Holdings GmbH",
                "ParentId": "0015g00000ParentAAV",
                "BillingStreet": "Hauptstr. 1",
                "BillingCity": "Berlin",
                "BillingPostalCode": "10115",
                "BillingCountry": "Germany",
                "BillingCountryCode": "DE",
                "BillingAddress": {"city": "Berlin", "country": "Germany"},
                "Tax_Id__c": "DE123456789",
                "Tax_Exempt__c": "Reverse charge",
                "Legal_Entity__c": "Firm Europe BV",
                "SystemModstamp": _STAMP,
            }
        ],
    )
    (client,) = accounts_from_soql(body).items
    assert client.parent_id == "0015g00000ParentAAV"
    assert client.tax == TaxProfile(tax_id="DE123456789", exempt="reverse")
    assert client.billing_address is not None
    assert client.billing_address.country == "DE"


def test_milestones_and_change_orders_map() -> None:
    body = _soql(
        "Milestone__c",
        [
            {
                "Id": "a0M5g000000AbCdEAK",
                "Name": "Phase 1 accepted",
                "Opportunity__c": "0065g00000AbCdEAAV",
                "Amount__c": 40000,
                "Due_Date__c": "2026-11-15",
                "Status__c": "Approved",
                "Approved_Date__c": "2026-10-31",
            }
        ],
    )
    (milestone,) = milestones_from_soql(body, org_currency="EUR").items
    assert milestone.status == "approved"
    assert milestone.amount == Money(amount=4_000_000, currency="EUR")
    order = decode_salesforce(
        b'{"Id":"a0C1","Opportunity__c":"006X","Effective_Date__c":"2026-11-01",'
        b'"Role__c":"Senior Engineer","New_Bill_Rate__c":190,"Amount_Delta__c":-5000.5}',
        SfChangeOrder,
    )
    change = change_order_from_salesforce(order, org_currency="USD")
    assert change.rate_changes[0].bill_rate == Money(amount=19_000, currency="USD")
    assert change.value_delta == Money(amount=-500_050, currency="USD")


def test_error_arrays_and_save_results_decode() -> None:
    errors = decode_salesforce(
        b'[{"message":"Required fields are missing: [CloseDate]",'
        b'"errorCode":"REQUIRED_FIELD_MISSING","fields":["CloseDate"]}]',
        list[SfError],
    )
    assert errors[0].errorCode == "REQUIRED_FIELD_MISSING"
    assert errors[0].fields == ["CloseDate"]
    result = decode_salesforce(
        b'{"id":"001D000000IqhSLIAZ","success":true,"errors":[],"created":true}', SfSaveResult
    )
    assert result.created is True


def test_save_results_read_collection_and_single_record_errors() -> None:
    # sObject Collections say statusCode, the single-record resources errorCode: both decode
    results = decode_salesforce(
        b'[{"id":"001D000000IqhSLIAZ","success":true,"errors":[],"created":false},'
        b'{"id":null,"success":false,"errors":[{"statusCode":"REQUIRED_FIELD_MISSING",'
        b'"message":"Required fields are missing: [Name]","fields":["Name"]}]},'
        b'{"success":false,"errors":[{"errorCode":"INVALID_FIELD","message":"No such column"}]}]',
        list[SfSaveResult],
    )
    assert [r.success for r in results] == [True, False, False]
    assert [e.code for r in results for e in r.errors] == [
        "REQUIRED_FIELD_MISSING",
        "INVALID_FIELD",
    ]
    assert results[1].errors[0].fields == ["Name"]
    with pytest.raises(DecodeError) as info:
        decode_salesforce(b'[{"success":false,"errors":[{"message":"m"}]}]', list[SfSaveResult])
    assert info.value.path == "$[0].errors[0]"


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (_opportunity(Billing_Model__c=None), "$.records[1].Billing_Model__c"),
        (_opportunity(Billing_Model__c="Barter"), "$.records[1].Billing_Model__c"),
        (_opportunity(Service_Line__c=""), "$.records[1].Service_Line__c"),
        (_opportunity(AccountId=None), "$.records[1].AccountId"),
        (_opportunity(CurrencyIsoCode="XBT"), "$.records[1].CurrencyIsoCode"),
        (_opportunity(Amount=1e300), "$.records[1].Amount"),
        (_opportunity(Amount="lots"), "$.records[1].Amount"),
        (_opportunity(IsWon="yes"), "$.records[1].IsWon"),
        (_opportunity(CloseDate="31/10/2026"), "$.records[1].CloseDate"),
        (_opportunity(Payment_Terms_Days__c=10**30), "$.records[1].Payment_Terms_Days__c"),
        (_opportunity(Name="x" * 10_000_000), "$.records[1].Name"),
    ],
)
def test_bad_deals_name_the_field(record: dict[str, object], path: str) -> None:
    body = _soql("Opportunity", [_opportunity(), record])
    with pytest.raises(DecodeError) as info:
        opportunities_from_soql(body, org_currency="USD")
    assert (info.value.system, info.value.path) == ("salesforce", path)


@pytest.mark.parametrize(
    "body",
    [b"", b"[", b"\xff", b'{"totalSize":NaN}', b"[" * 50_000 + b"]" * 50_000, b'{"records":[]}'],
)
def test_hostile_pages_are_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        accounts_from_soql(body)
    assert info.value.path.startswith("$")


_names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=80)
_ids = st.from_regex(r"001[0-9A-Za-z]{15}", fullmatch=True)


@settings(max_examples=100, deadline=None)
@given(
    source_id=_ids,
    name=_names,
    parent=st.one_of(st.none(), _ids),
    tax_id=st.one_of(st.none(), st.from_regex(r"[A-Z]{2}[0-9]{9}", fullmatch=True)),
    exempt=st.sampled_from(["none", "exempt", "reverse"]),
    city=st.one_of(st.none(), _names),
    currency=st.one_of(st.none(), st.sampled_from(["USD", "EUR", "JPY"])),
)
def test_any_client_round_trips_through_an_account(
    source_id: str,
    name: str,
    parent: str | None,
    tax_id: str | None,
    exempt: Literal["none", "exempt", "reverse"],
    city: str | None,
    currency: str | None,
) -> None:
    client = Client(
        source_system="salesforce",
        source_id=source_id,
        name=name,
        parent_id=parent,
        tax=TaxProfile(tax_id=tax_id, exempt=exempt),
        billing_address=None if city is None else Address(city=city, country="DE"),
        currency=currency,
    )
    record = {"Id": source_id, **account_to_salesforce(client)}
    account = decode_salesforce(encode_salesforce(record), SfAccount)
    assert client_from_salesforce(account) == client


@settings(max_examples=100, deadline=None)
@given(
    model=st.sampled_from(["time_and_materials", "fixed_fee", "retainer"]),
    amount=st.one_of(st.none(), st.integers(min_value=0, max_value=10**12)),
    currency=st.sampled_from(["USD", "EUR", "JPY", "KWD"]),
    terms=st.integers(min_value=0, max_value=365),
    won=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)),
)
def test_any_engagement_round_trips_through_an_opportunity(
    model: BillingModel, amount: int | None, currency: str, terms: int, won: dt.date
) -> None:
    engagement = Engagement(
        source_system="salesforce",
        source_id="0065g00000AbCdEAAV",
        name="Deal",
        client_id="0015g00000XyZaBAAV",
        billing_model=model,
        currency=currency,
        value=None if amount is None else Money(amount=amount, currency=currency),
        payment_terms_days=terms,
        service_line="Data",
        delivery_region="EMEA",
        won_on=won,
        retainer_interval="month" if model == "retainer" else None,
    )
    record = {"Id": engagement.source_id, "IsWon": True, **opportunity_to_salesforce(engagement)}
    opportunity = decode_salesforce(encode_salesforce(record), SfOpportunity)
    assert engagement_from_salesforce(opportunity, org_currency="USD") == engagement


def test_write_back_sends_only_what_is_known() -> None:
    fields = account_sync_fields(erp_party_id="42", status="Synced")
    assert json.loads(encode_salesforce(fields)) == {
        "ERP_Party_Id__c": "42",
        "Sync_Status__c": "Synced",
    }


def test_amounts_decode_exactly_from_json_numbers() -> None:
    body = msgspec.json.Encoder(decimal_format="number").encode(_opportunity(Amount=Decimal("0.1")))
    opportunity = decode_salesforce(body, SfOpportunity)
    assert opportunity.Amount == Decimal("0.1")
