"""Fuzz: every decoder family returns or raises `DecodeError`, whatever the vendor sends.

One test per family (Harvest, Salesforce, Stripe, Tryton JSON-RPC, the journal's envelopes and
payloads) decodes hostile variants of a realistic document (`tests.codecs.hostile`) and maps
what decodes. Any other exception (``InvalidOperation``, ``TypeError``, ``OverflowError``...)
is a bug and fails the test with the smallest example hypothesis finds. Fixed seed and 60
examples per document kind by default; ``MEDIATOR_FUZZ_EXAMPLES`` runs more before a release.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediator.codecs import CANONICAL, Envelope
from mediator.codecs.harvest import error_code as harvest_error_code
from mediator.codecs.harvest import wire as hv
from mediator.codecs.harvest.mapping import (
    assignment_from_harvest,
    client_from_harvest,
    consultant_from_harvest,
    decode_harvest,
    decode_harvest_records,
    expenses_from_harvest,
    project_from_harvest,
    time_entries_from_harvest,
    time_entry_from_harvest,
)
from mediator.codecs.salesforce import error_code as salesforce_error_code
from mediator.codecs.salesforce import wire as sf
from mediator.codecs.salesforce.deals import deal_from_salesforce
from mediator.codecs.salesforce.mapping import (
    accounts_from_soql,
    change_order_from_salesforce,
    decode_salesforce,
    engagement_from_salesforce,
    milestones_from_soql,
    opportunities_from_soql,
)
from mediator.codecs.stripe import decode_form
from mediator.codecs.stripe import error_code as stripe_error_code
from mediator.codecs.stripe import wire as stw
from mediator.codecs.stripe.mapping import (
    customer_from_stripe,
    decode_event_object,
    decode_stripe,
    invoice_from_stripe,
    payment_from_stripe,
)
from mediator.codecs.tryton.mapping import read_invoices, read_parties, read_timesheet_lines
from mediator.codecs.tryton.rpc import RpcValue, decode_request, decode_response
from mediator.codecs.validation import WireDecoder
from tests.codecs.hostile import fuzz, mutated, returns_or_decode_error, sweep

_FIXTURES = Path(__file__).parent / "fixtures"
_STAMP = "2026-10-31T17:05:00Z"

# -- Harvest ------------------------------------------------------------------------------------

_HV_ENTRY = json.loads((_FIXTURES / "harvest_time_entries.json").read_text())["time_entries"][0]
_HV_DOCS: dict[str, object] = {
    "time_entries": {"time_entries": [_HV_ENTRY, _HV_ENTRY], "per_page": 2000, "links": {}},
    "expenses": {
        "expenses": [
            {
                "id": 1,
                "spent_date": "2026-10-30",
                "total_cost": 12.5,
                "units": 1,
                "user": {"id": 7, "name": "Kim"},
                "client": {"id": 5, "name": "ABC", "currency": "EUR"},
                "project": {"id": 42, "name": "DP"},
                "expense_category": {"id": 3, "name": "Travel"},
                "updated_at": _STAMP,
            }
        ],
        "links": {},
    },
    "project": {
        "id": 42,
        "client": {"id": 5, "name": "ABC", "currency": "EUR"},
        "name": "Data platform",
        "code": "DP",
        "is_fixed_fee": True,
        "fee": 50000.0,
        "budget_by": "project_cost",
        "cost_budget": 20000.0,
        "hourly_rate": 180.0,
        "starts_on": "2026-01-01",
        "updated_at": _STAMP,
    },
    "user": {
        "id": 7,
        "first_name": "Kim",
        "last_name": "Allen",
        "roles": ["Engineer"],
        "cost_rate": 80.0,
        "updated_at": _STAMP,
    },
    "assignment": {
        "id": 9,
        "project": {"id": 42, "name": "DP"},
        "user": {"id": 7, "name": "Kim"},
        "hourly_rate": 180.0,
        "created_at": _STAMP,
    },
    "client": {"id": 5, "name": "ABC", "currency": "EUR", "updated_at": _STAMP},
}


def _harvest(kind: str, body: bytes) -> None:
    if kind == "time_entries":
        returns_or_decode_error(lambda: time_entries_from_harvest(body, account_currency="USD"))
        page = returns_or_decode_error(lambda: decode_harvest(body, hv.HvRawTimeEntryPage))
        if page is not None:  # the poller's way: record by record
            decoded = decode_harvest_records(page.time_entries, hv.HvTimeEntry, "$.time_entries")
            for entry in decoded.records:
                returns_or_decode_error(
                    partial(time_entry_from_harvest, entry, account_currency="USD")
                )
    elif kind == "expenses":
        returns_or_decode_error(lambda: expenses_from_harvest(body, account_currency="USD"))
    elif kind == "project":
        project = returns_or_decode_error(lambda: decode_harvest(body, hv.HvProject))
        if project is not None:
            returns_or_decode_error(lambda: project_from_harvest(project))
    elif kind == "user":
        user = returns_or_decode_error(lambda: decode_harvest(body, hv.HvUser))
        if user is not None:
            consultant_from_harvest(user)
    elif kind == "assignment":
        assignment = returns_or_decode_error(lambda: decode_harvest(body, hv.HvUserAssignment))
        if assignment is not None:
            returns_or_decode_error(lambda: assignment_from_harvest(assignment, currency="EUR"))
    else:
        client = returns_or_decode_error(lambda: decode_harvest(body, hv.HvClient))
        if client is not None:
            returns_or_decode_error(lambda: client_from_harvest(client))


@pytest.mark.parametrize("kind", sorted(_HV_DOCS))
def test_harvest_decoders_survive_every_single_bad_value(kind: str) -> None:
    sweep(_HV_DOCS[kind], lambda body: _harvest(kind, body))


@pytest.mark.parametrize("kind", sorted(_HV_DOCS))
@fuzz
@given(data=st.data())
def test_harvest_decoders_return_or_raise_decode_error(kind: str, data: st.DataObject) -> None:
    _harvest(kind, data.draw(mutated(_HV_DOCS[kind])))


# -- Salesforce ---------------------------------------------------------------------------------

_SF_STAMP = "2026-10-31T17:05:00.000+0000"
_SF_RECORDS: dict[str, dict[str, object]] = {
    "Opportunity": {
        "attributes": {"type": "Opportunity"},
        "Id": "0065g00000AbCdEAAV",
        "Name": "Acme",
        "AccountId": "0015g00000XyZaBAAV",
        "Amount": 120000.0,
        "CloseDate": "2026-10-01",
        "StageName": "Closed Won",
        "IsWon": True,
        "CurrencyIsoCode": "EUR",
        "Service_Line__c": "Data",
        "Delivery_Region__c": "EMEA",
        "Billing_Model__c": "Retainer",
        "Payment_Terms_Days__c": 45,
        "Retainer_Interval__c": "Month",
        "Project_Key__c": "P-1042",
        "Staffing__c": "ada@firm.example=Architect\nbob@firm.example=Engineer",
        "SystemModstamp": _SF_STAMP,
    },
    "Milestone__c": {
        "Id": "a0B5g000001",
        "Name": "Phase 1",
        "Opportunity__c": "0065g00000AbCdEAAV",
        "Amount__c": 25000.0,
        "Due_Date__c": "2026-12-01",
        "Status__c": "Approved",
        "CurrencyIsoCode": "EUR",
    },
    "Account": {
        "Id": "0015g00000XyZaBAAV",
        "Name": "Acme",
        "BillingStreet": "Hauptstr. 1",
        "BillingCountry": "DE",
        "CurrencyIsoCode": "EUR",
        "Tax_Exempt__c": "Reverse Charge",
        "SystemModstamp": _SF_STAMP,
    },
    "Change_Order__c": {
        "Id": "a0C5g000001",
        "Opportunity__c": "0065g00000AbCdEAAV",
        "Effective_Date__c": "2026-11-01",
        "Amount_Delta__c": -5000.0,
        "Role__c": "Engineer",
        "New_Bill_Rate__c": 200.0,
        "New_Cost_Rate__c": 90.0,
        "Status__c": "Approved",
        "CurrencyIsoCode": "EUR",
    },
}


def _salesforce(kind: str, body: bytes) -> None:
    if kind == "Opportunity":
        returns_or_decode_error(lambda: opportunities_from_soql(body, org_currency="USD"))
        page = returns_or_decode_error(
            lambda: decode_salesforce(body, sf.SoqlPage[sf.SfOpportunity])
        )
        contract = sf.SfContract(Id="800", AccountId="001")
        for record in [] if page is None else page.records:
            returns_or_decode_error(
                partial(engagement_from_salesforce, record, org_currency="USD", contract=contract)
            )
            returns_or_decode_error(partial(deal_from_salesforce, record, org_currency="USD"))
    elif kind == "Milestone__c":
        returns_or_decode_error(lambda: milestones_from_soql(body, org_currency="USD"))
    elif kind == "Account":
        returns_or_decode_error(lambda: accounts_from_soql(body))
    else:
        orders = returns_or_decode_error(
            lambda: decode_salesforce(body, sf.SoqlPage[sf.SfChangeOrder])
        )
        for order in [] if orders is None else orders.records:
            returns_or_decode_error(
                partial(change_order_from_salesforce, order, org_currency="USD")
            )


def _soql(kind: str) -> dict[str, object]:
    return {"totalSize": 1, "done": True, "records": [_SF_RECORDS[kind], _SF_RECORDS[kind]]}


@pytest.mark.parametrize("kind", sorted(_SF_RECORDS))
def test_salesforce_decoders_survive_every_single_bad_value(kind: str) -> None:
    sweep(_soql(kind), lambda body: _salesforce(kind, body))


@pytest.mark.parametrize("kind", sorted(_SF_RECORDS))
@fuzz
@given(data=st.data())
def test_salesforce_decoders_return_or_raise_decode_error(kind: str, data: st.DataObject) -> None:
    page = _soql(kind)
    _salesforce(kind, data.draw(mutated(page)))


# -- Stripe -------------------------------------------------------------------------------------

_ST_INVOICE: dict[str, object] = {
    "id": "in_1",
    "object": "invoice",
    "customer": "cus_1",
    "currency": "mga",
    "status": "paid",
    "number": "INV-1",
    "created": 1_790_000_000,
    "subtotal": 1000,
    "total": 1200,
    "amount_due": 1200,
    "amount_paid": 1200,
    "amount_remaining": 0,
    "due_date": 1_790_500_000,
    "status_transitions": {"finalized_at": 1_790_000_050, "paid_at": 1_790_000_100},
    "payment_intent": "pi_1",
    "metadata": {"mediator_engagement": "006B"},
    "lines": {
        "object": "list",
        "data": [
            {
                "id": "il_1",
                "amount": 1000,
                "currency": "mga",
                "quantity": 1,
                "period": {"start": 1_789_000_000, "end": 1_790_000_000},
                "metadata": {"quantity": "7.25", "unit_amount": "137.93", "mediator_origin": "t"},
            }
        ],
    },
}
_ST_CUSTOMER: dict[str, object] = {
    "id": "cus_1",
    "name": "Acme",
    "address": {"line1": "Hauptstr. 1", "country": "DE"},
    "currency": "eur",
    "tax_exempt": "reverse",
    "metadata": {"mediator_client": "salesforce:001"},
}
_ST_DOCS: dict[str, object] = {
    "invoice": _ST_INVOICE,
    "customer": _ST_CUSTOMER,
    "event": {
        "id": "evt_1",
        "type": "invoice.paid",
        "created": 1_790_000_100,
        "data": {"object": _ST_INVOICE},
    },
    "form": {"customer": "cus_1", "metadata": {"quantity": "7.25"}, "lines": [{"amount": 5}]},
}


def _stripe(kind: str, body: bytes) -> None:
    if kind == "invoice":
        invoice = returns_or_decode_error(lambda: decode_stripe(body, stw.StInvoice))
        if invoice is not None:
            returns_or_decode_error(lambda: invoice_from_stripe(invoice))
            returns_or_decode_error(lambda: payment_from_stripe(invoice))
    elif kind == "customer":
        customer = returns_or_decode_error(lambda: decode_stripe(body, stw.StCustomer))
        if customer is not None:
            returns_or_decode_error(lambda: customer_from_stripe(customer))
    elif kind == "event":
        event = returns_or_decode_error(lambda: decode_stripe(body, stw.StEvent))
        if event is not None:
            inner = returns_or_decode_error(lambda: decode_event_object(event))
            if isinstance(inner, stw.StInvoice):
                returns_or_decode_error(lambda: invoice_from_stripe(inner))
    else:  # the sandbox's side: a form body built from the same hostile document
        returns_or_decode_error(lambda: decode_form(body))


@pytest.mark.parametrize("kind", sorted(_ST_DOCS))
def test_stripe_decoders_survive_every_single_bad_value(kind: str) -> None:
    sweep(_ST_DOCS[kind], lambda body: _stripe(kind, body))


@pytest.mark.parametrize("kind", sorted(_ST_DOCS))
@fuzz
@given(data=st.data())
def test_stripe_decoders_return_or_raise_decode_error(kind: str, data: st.DataObject) -> None:
    _stripe(kind, data.draw(mutated(_ST_DOCS[kind])))


@fuzz
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_stripe_forms_of_any_bytes_return_or_raise_decode_error(body: bytes) -> None:
    returns_or_decode_error(lambda: decode_form(body))


# -- Tryton JSON-RPC ----------------------------------------------------------------------------


def _decimal(text: str) -> dict[str, object]:
    return {"__class__": "Decimal", "decimal": text}


_TR_RESULTS: dict[str, object] = {
    "invoice": {
        "id": 5,
        "state": "posted",
        "number": "INV2026-1",
        "party": 9,
        "currency.": {"id": 2, "code": "EUR"},
        "invoice_date": {"__class__": "date", "year": 2026, "month": 10, "day": 31},
        "untaxed_amount": _decimal("1000.00"),
        "tax_amount": _decimal("0.00"),
        "total_amount": _decimal("1000.00"),
        "amount_to_pay": _decimal("1000.00"),
        "lines.": [
            {
                "id": 8,
                "quantity": 10.0,
                "unit_price": _decimal("100.0000"),
                "amount": _decimal("1000.00"),
                "note": "time_entry:1",
            }
        ],
    },
    "party": {"id": 9, "name": "Acme", "code": "P9", "active": 1, "tax_identifier.": {"id": 1}},
    "timesheet": {
        "id": 3,
        "date": {"__class__": "date", "year": 2026, "month": 10, "day": 30},
        "duration": {"__class__": "timedelta", "seconds": 26100.0},
        "employee": 4,
        "work": 6,
        "description": "Work [mediator harvest:1:r0]",
    },
    "error": None,
}
_TR_READERS: dict[str, Callable[[RpcValue], Sequence[object]]] = {
    "invoice": read_invoices,
    "party": read_parties,
    "timesheet": read_timesheet_lines,
}


def _tryton_document(kind: str) -> dict[str, object]:
    if kind == "error":
        return {"id": 1, "error": ["UserError", ["The amount is wrong.", "", None]]}
    return {"id": 1, "result": [_TR_RESULTS[kind]]}


_TR_REQUEST = {"id": 1, "method": "model.account.invoice.read", "params": [[5], ["id"], {}]}


def _tryton(kind: str, body: bytes) -> None:
    response = returns_or_decode_error(lambda: decode_response(body))
    if response is not None and kind in _TR_READERS:
        returns_or_decode_error(lambda: _TR_READERS[kind](response.result))
    returns_or_decode_error(lambda: decode_request(body))


@pytest.mark.parametrize("kind", sorted(_TR_RESULTS))
def test_tryton_decoders_survive_every_single_bad_value(kind: str) -> None:
    sweep(_tryton_document(kind), lambda body: _tryton(kind, body))
    sweep(_TR_REQUEST, lambda body: returns_or_decode_error(lambda: decode_request(body)))


@pytest.mark.parametrize("kind", sorted(_TR_RESULTS))
@fuzz
@given(data=st.data())
def test_tryton_decoders_return_or_raise_decode_error(kind: str, data: st.DataObject) -> None:
    _tryton(kind, data.draw(mutated(_tryton_document(kind))))
    returns_or_decode_error(lambda: decode_request(data.draw(mutated(_TR_REQUEST))))


# -- the journal's envelopes and payloads -------------------------------------------------------

_JOURNALED = json.loads((_FIXTURES / "journal_v1.json").read_text())
_ENVELOPE = WireDecoder("journal", Envelope)


def _journaled(entry: dict[str, Any], payload: bytes, *, kind: str = "", version: int = 1) -> None:
    envelope = Envelope(
        id=entry["id"],
        key=entry["key"],
        kind=kind or entry["kind"],
        source=entry["source"],
        idempotency_key=entry["idempotency_key"],
        occurred_at=datetime.datetime(2026, 10, 31, tzinfo=datetime.UTC),
        schema_version=version,
        payload=msgspec.Raw(payload),
    )
    returns_or_decode_error(lambda: CANONICAL.decode(envelope))


@pytest.mark.parametrize("entry", _JOURNALED, ids=[e["kind"] for e in _JOURNALED])
def test_journaled_payloads_and_envelopes_survive_every_single_bad_value(
    entry: dict[str, Any],
) -> None:
    sweep(entry["payload"], lambda body: _journaled(entry, body))
    sweep(entry, lambda body: returns_or_decode_error(lambda: _ENVELOPE.decode(body)))


@pytest.mark.parametrize("entry", _JOURNALED, ids=[e["kind"] for e in _JOURNALED])
@fuzz
@given(data=st.data())
def test_envelopes_and_payloads_return_or_raise_decode_error(
    entry: dict[str, Any], data: st.DataObject
) -> None:
    kind = data.draw(st.sampled_from([entry["kind"], entry["kind"], "psa.unknown"]))
    version = data.draw(st.sampled_from([1, 1, 1, 0, 2, -1, 2**62]))
    _journaled(entry, data.draw(mutated(entry["payload"])), kind=kind, version=version)
    returns_or_decode_error(lambda: _ENVELOPE.decode(data.draw(mutated(entry))))


# -- the connectors' readers of vendor error bodies --------------------------------------------

_ERROR_BODIES: dict[str, object] = {
    "harvest": {"error": "invalid_token", "error_description": "The token is invalid"},
    "salesforce": [{"message": "bad", "errorCode": "INVALID_FIELD", "fields": ["Name"]}],
    "stripe": {"error": {"type": "invalid_request_error", "code": "lock_timeout", "param": "x"}},
}
_ERROR_READERS = {
    "harvest": harvest_error_code,
    "salesforce": salesforce_error_code,
    "stripe": stripe_error_code,
}


@pytest.mark.parametrize("system", sorted(_ERROR_BODIES))
def test_error_code_readers_survive_every_single_bad_value(system: str) -> None:
    # An error answer is vendor input too: a deep or oddly typed one must not raise
    # (RecursionError, "unhashable type: 'list'") where the transport classifies the failure.
    read = _ERROR_READERS[system]
    sweep(_ERROR_BODIES[system], lambda body: read(500, body))
    for body in (b"[" * 100_000 + b"]" * 100_000, b"\xff", b"1" * 5000, b""):
        assert read(500, body) is None
