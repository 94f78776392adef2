"""Tryton ↔ canonical: create values the ERP needs, and records read back (with tagged values)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.codecs import (
    Address,
    Client,
    Invoice,
    InvoiceLine,
    Money,
    Payment,
    Project,
    TaxProfile,
    TimeEntry,
)
from mediator.codecs.tryton.mapping import (
    ErpSetup,
    invoice_to_tryton,
    party_to_tryton,
    pay_wizard_start,
    project_to_tryton,
    read_invoices,
    read_parties,
    read_timesheet_lines,
    timesheet_key,
    timesheet_line_to_tryton,
)
from mediator.codecs.tryton.rpc import RpcValue
from mediator.codecs.tryton.rpc import decode_response as decode_tryton_response
from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.codecs.tryton.rpc import loads as tryton_loads
from mediator.errors import DecodeError

_SETUP = ErpSetup(
    company=1,
    currency=2,
    journal=3,
    receivable_account=4,
    revenue_account=5,
    payment_term=6,
    product=7,
    unit=8,
    employee_by_consultant={"7": 11},
)


def _entry(hours: Decimal = Decimal("7.25"), **changes: object) -> TimeEntry:
    fields: dict[str, Any] = {  # TimeEntry's fields, any value the test chooses
        "source_system": "harvest",
        "source_id": "636708723",
        "project_id": "42",
        "consultant_id": "7",
        "spent_on": dt.date(2026, 10, 30),
        "hours": hours,
        "notes": "Ingestion pipeline",
        "billable": True,
    }
    fields.update(changes)
    return TimeEntry(**fields)


def test_party_values_carry_address_email_and_tax_id() -> None:
    client = Client(
        source_system="salesforce",
        source_id="001A",
        name="Acme GmbH",
        email="ap@acme.example",
        tax=TaxProfile(tax_id="DE123456789"),
        billing_address=Address(street="Hauptstr. 1", city="Berlin", postal_code="10115"),
    )
    values = party_to_tryton(client)
    assert values["identifiers"] == [["create", [{"type": "eu_vat", "code": "DE123456789"}]]]
    assert values["contact_mechanisms"] == [
        ["create", [{"type": "email", "value": "ap@acme.example"}]]
    ]
    assert "code" not in values  # Tryton's sequence numbers parties


def test_project_values_are_what_a_timesheet_invoiced_project_needs() -> None:
    project = Project(
        source_system="harvest",
        source_id="42",
        name="Data platform",
        client_id="5",
        currency="EUR",
        hourly_rate=Money(amount=18_050, currency="EUR"),
    )
    values = project_to_tryton(project, party=9, setup=_SETUP)
    wire = json.loads(tryton_dumps(values))
    assert wire["list_price"] == {"__class__": "Decimal", "decimal": "180.50"}
    assert values["project_invoice_method"] == "timesheet"
    assert values["timesheet_available"] is True


def test_timesheet_lines_are_exact_and_idempotent_per_revision() -> None:
    values = timesheet_line_to_tryton(_entry(Decimal("2.11")), work=3, setup=_SETUP)
    assert values["duration"] == dt.timedelta(hours=2, minutes=6, seconds=36)
    assert values["employee"] == 11
    again = timesheet_line_to_tryton(_entry(Decimal("2.11")), work=3, setup=_SETUP)
    assert values["description"] == again["description"]
    assert values["description"] == "Ingestion pipeline [mediator harvest:636708723:r0]"
    assert timesheet_key(_entry(), 1) != timesheet_key(_entry(), 0)
    with pytest.raises(KeyError, match="no ERP employee"):
        timesheet_line_to_tryton(_entry(consultant_id="99"), work=3, setup=_SETUP)


@settings(max_examples=100, deadline=None)
@given(st.decimals(min_value=0, max_value=24, places=4))
def test_hours_survive_the_trip_through_a_timesheet_line(hours: Decimal) -> None:
    values = timesheet_line_to_tryton(_entry(hours), work=3, setup=_SETUP)
    read = tryton_loads(tryton_dumps([{"id": 1, **values}]))
    (line,) = read_timesheet_lines(read)
    assert line.hours == hours
    assert line.notes == "Ingestion pipeline"
    assert line.external_reference == "harvest:636708723:r0"
    assert line.spent_on == dt.date(2026, 10, 30)


def _lines(values: dict[str, RpcValue]) -> Any:
    """An invoice's ``lines`` actions: Tryton's nested lists, whose shape the test asserts."""
    return values["lines"]


def test_invoice_values_and_payment_wizard() -> None:
    rate = Money(amount=18_050, currency="EUR")
    line = InvoiceLine(
        description="7.25 h",
        quantity=Decimal("7.25"),
        unit_amount=rate,
        amount=rate.scale(Decimal("7.25")),
        origin_id="time_entry:1",
    )
    invoice = Invoice(
        source_system="stripe",
        source_id="in_1",
        client_id="cus_1",
        number="ACME-0001",
        status="open",
        currency="EUR",
        lines=(line,),
        subtotal=line.amount,
        total=line.amount,
        amount_due=line.amount,
        issued_on=dt.date(2026, 10, 31),
    )
    values = invoice_to_tryton(invoice, party=9, invoice_address=10, setup=_SETUP)
    assert values["reference"] == "ACME-0001"
    ((action, (created,)),) = _lines(values)
    assert action == "create"
    assert created["unit_price"] == Decimal("180.50")
    assert created["quantity"] == 7.25
    payment = Payment(
        source_system="stripe",
        source_id="pi_1",
        client_id="cus_1",
        invoice_id="in_1",
        amount=line.amount,
        received_on=dt.date(2026, 11, 20),
    )
    assert pay_wizard_start(payment, payment_method=12)["amount"] == Decimal("1308.62")


def _invoice_record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": 5,
        "type": "out",
        "number": "INV2026-1",
        "reference": "ACME-0001",
        "state": "posted",
        "party": 9,
        "currency.": {"id": 2, "code": "EUR"},
        "invoice_date": {"__class__": "date", "year": 2026, "month": 10, "day": 31},
        "untaxed_amount": {"__class__": "Decimal", "decimal": "1000.00"},
        "tax_amount": {"__class__": "Decimal", "decimal": "0.00"},
        "total_amount": {"__class__": "Decimal", "decimal": "1000.00"},
        "amount_to_pay": {"__class__": "Decimal", "decimal": "1000.00"},
        "lines.": [
            {
                "id": 8,
                "description": "Consulting (retainer)",
                "quantity": 10.0,
                "unit_price": {"__class__": "Decimal", "decimal": "100.0000"},
                "amount": {"__class__": "Decimal", "decimal": "1000.00"},
            }
        ],
    }
    record.update(changes)
    return record


def _answer(*records: dict[str, object]) -> bytes:
    return json.dumps({"id": 3, "result": list(records)}).encode()


def test_a_posted_invoice_reads_back_as_an_open_receivable() -> None:
    (invoice,) = read_invoices(decode_tryton_response(_answer(_invoice_record())).result)
    assert invoice.status == "open"
    assert invoice.total == Money(amount=100_000, currency="EUR")
    assert invoice.lines[0].unit_amount == Money(amount=10_000, currency="EUR")
    assert invoice.issued_on == dt.date(2026, 10, 31)


def test_parties_read_with_their_tax_identifier() -> None:
    result: RpcValue = [
        {"id": 9, "name": "Acme", "code": "P9", "tax_identifier.": {"id": 1, "code": "DE1"}}
    ]
    (client,) = read_parties(result)
    assert (client.source_id, client.tax.tax_id) == ("9", "DE1")


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (_invoice_record(total_amount="lots"), "$.result[1].total_amount"),
        (_invoice_record(state="exploded"), "$.result[1].state"),
        (_invoice_record(**{"currency.": {"id": 2, "code": "XBT"}}), "$.result[1]"),
        (_invoice_record(id=0), "$.result[1].id"),
        (_invoice_record(party=None), "$.result[1].party"),
        (_invoice_record(number="x" * 10_000_000), "$.result[1].number"),
        (
            # beyond what a signed 64-bit count of cents holds
            _invoice_record(
                total_amount={"__class__": "Decimal", "decimal": "99999999999999999.99"}
            ),
            "$.result[1]",
        ),
    ],
)
def test_bad_invoice_records_name_the_field(record: dict[str, object], path: str) -> None:
    result = decode_tryton_response(_answer(_invoice_record(), record)).result
    with pytest.raises(DecodeError) as info:
        read_invoices(result)
    assert (info.value.system, info.value.path) == ("tryton", path)


def test_a_negative_duration_is_refused() -> None:
    result: RpcValue = [
        {
            "id": 1,
            "date": dt.date(2026, 1, 1),
            "duration": dt.timedelta(hours=-1),
            "employee": 1,
            "work": 1,
        }
    ]
    with pytest.raises(DecodeError) as info:
        read_timesheet_lines(result)
    assert info.value.path == "$.result[0].duration"


def test_a_line_tryton_would_round_differently_is_sent_as_one_unit_at_its_amount() -> None:
    rate = Money(amount=18_050, currency="EUR")
    line = InvoiceLine(
        description="discounted",
        quantity=Decimal("7.25"),
        unit_amount=rate,
        amount=Money(amount=120_000, currency="EUR"),
    )
    invoice = Invoice(
        source_system="stripe",
        source_id="in_2",
        client_id="cus_1",
        currency="EUR",
        lines=(line,),
        subtotal=line.amount,
        total=line.amount,
        amount_due=line.amount,
    )
    values = invoice_to_tryton(invoice, party=9, invoice_address=10, setup=_SETUP)
    ((_, (created,)),) = _lines(values)
    assert (created["quantity"], created["unit_price"]) == (1.0, Decimal("1200.00"))
