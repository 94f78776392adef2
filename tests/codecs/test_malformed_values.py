"""Every malformed vendor value is a `DecodeError` naming the field (issue #13, decoders).

Each case here raised something else before (``InvalidOperation``, ``TypeError: Cannot hash a
signaling NaN value``, ``ConversionSyntax``) or was accepted (``NaN``, ``Infinity``, ``1e400``,
amounts beyond 64 bits).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from decimal import Decimal

import msgspec
import pytest

from mediator.codecs import CANONICAL, Envelope, Money, TimeEntry
from mediator.codecs.harvest import wire as hv
from mediator.codecs.harvest.mapping import (
    decode_harvest_records,
    time_entries_from_harvest,
)
from mediator.codecs.records import decode_each
from mediator.codecs.salesforce.mapping import opportunities_from_soql
from mediator.codecs.scalars import decimal_at, parse_decimal
from mediator.codecs.stripe.mapping import (
    decode_stripe,
    invoice_from_stripe,
    payment_from_stripe,
    to_stripe_amount,
)
from mediator.codecs.stripe.wire import StInvoice
from mediator.codecs.tryton.mapping import read_invoices
from mediator.codecs.tryton.rpc import RpcValue
from mediator.codecs.tryton.rpc import decode_response as decode_tryton_response
from mediator.codecs.tryton.values import dumps as tryton_dumps
from mediator.codecs.validation import WireDecoder
from mediator.errors import AmountOutOfRange, DecodeError

MAX = 2**63 - 1
NOT_NUMBERS = ["NaN", "nan", "sNaN", "-sNaN", "Infinity", "-Infinity", "inf", "1e400", "-1e400"]
NOT_NUMBERS += ["", " ", "abc", "1,5", "0x10", "1e", "--1", "1" * 65]
# Text Python's Decimal reads as a number although JSON would not: refused where we parse
# the text ourselves (Stripe metadata, Tryton); msgspec reads it as the number it spells in a
# JSON string field (Harvest, Salesforce), which is harmless.
LENIENT = ["١", "1_000", " 1 "]


# -- the one parser --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("180.50", Decimal("180.50")),
        ("-0", Decimal(0)),
        ("7", Decimal(7)),
        ("1.5e2", Decimal(150)),
        (".5", Decimal("0.5")),
        ("9" * 19, Decimal("9" * 19)),
        ("0." + "3" * 28, Decimal("0." + "3" * 28)),
    ],
)
def test_vendor_decimals_read_exactly(text: str, value: Decimal) -> None:
    assert parse_decimal(text) == value
    assert str(parse_decimal(text)) == str(Decimal(text))  # as written: trailing zeros kept


@pytest.mark.parametrize("text", [*NOT_NUMBERS, *LENIENT, "1" * 20, "0." + "1" * 29, "0E+400"])
def test_what_is_not_a_vendor_decimal_is_refused_with_the_path(text: str) -> None:
    with pytest.raises(DecodeError) as info:
        decimal_at("stripe", "$.lines.data[0].metadata.quantity", text)
    assert info.value.path == "$.lines.data[0].metadata.quantity"


@pytest.mark.parametrize(
    "value",
    [
        True,
        None,
        [],
        {},
        float("nan"),
        float("inf"),
        10**19,
        1e300,
        pytest.param(10**5000, id="huge"),
    ],
)
def test_what_is_not_a_number_at_all_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match=r"number|beyond") as info:
        parse_decimal(value)
    assert len(str(info.value)) < 200


# -- Harvest -----------------------------------------------------------------------------------


def _entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": 1,
        "spent_date": "2026-10-30",
        "user": {"id": 7, "name": "Kim Allen"},
        "project": {"id": 42, "name": "Data platform"},
        "hours": 7.5,
        "billable_rate": 180.0,
        "updated_at": "2026-10-30T17:00:00Z",
    }
    entry.update(changes)
    return entry


def _page(*entries: dict[str, object]) -> bytes:
    return msgspec.json.encode({"time_entries": list(entries), "links": {}})


@pytest.mark.parametrize("field", ["hours", "billable_rate", "cost_rate"])
@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_a_harvest_number_that_is_not_one_names_its_field(field: str, text: str) -> None:
    # "sNaN" as a rate crashed the page's rate cache: TypeError: Cannot hash a signaling NaN
    body = _page(_entry(), _entry(id=2, **{field: text}))
    with pytest.raises(DecodeError) as info:
        time_entries_from_harvest(body, account_currency="USD")
    assert info.value.path == f"$.time_entries[1].{field}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hours", msgspec.Raw(b"1e400")),
        ("hours", msgspec.Raw(b"1" * 5000)),
        ("id", msgspec.Raw(b"1" * 5000)),
        ("spent_date", "2026-13-45"),
        ("spent_date", "0000-01-01"),
        ("updated_at", "2026-10-30T17:00:00"),
        ("updated_at", "9999-12-31T23:59:59-05:00"),
        ("updated_at", "0001-01-01T00:00:00+05:00"),
    ],
)
def test_harvest_numbers_ids_and_times_out_of_range_name_their_field(
    field: str, value: object
) -> None:
    with pytest.raises(DecodeError) as info:
        time_entries_from_harvest(_page(_entry(**{field: value})), account_currency="USD")
    assert info.value.path == f"$.time_entries[0].{field}"


def test_one_bad_record_of_a_page_is_rejected_alone_with_its_identity() -> None:
    page = hv.HvRawTimeEntryPage(
        time_entries=[
            msgspec.Raw(msgspec.json.encode(e))
            for e in (_entry(), _entry(id=2, hours="NaN"), _entry(id=3))
        ]
    )
    decoded = decode_harvest_records(page.time_entries, hv.HvTimeEntry, "$.time_entries")
    assert [e.id for e in decoded.records] == [1, 3]
    [bad] = decoded.rejected
    assert bad.error.path == "$.time_entries[1].hours"
    assert bad.source_id == "2"
    assert bad.updated_at == datetime.datetime(2026, 10, 30, 17, tzinfo=datetime.UTC)
    assert bad.version() == "2026-10-30T17:00:00+00:00"


@pytest.mark.parametrize(
    "raw",
    [b'"just text"', b"[1, 2]", b'{"id": [1], "updated_at": 5}', b'{"id": "\xff"}', b"{}"],
)
def test_a_record_without_a_readable_identity_is_named_by_its_content(raw: bytes) -> None:
    decoder = WireDecoder("harvest", hv.HvTimeEntry)
    first = decode_each(decoder, [msgspec.Raw(raw)], "$.time_entries").rejected[0]
    again = decode_each(decoder, [msgspec.Raw(raw)], "$.time_entries").rejected[0]
    assert first.source_id is None
    assert first.version() == again.version() == f"sha256:{first.fingerprint}"
    assert first.error.path.startswith("$.time_entries[0]")


# -- Salesforce --------------------------------------------------------------------------------


def _soql(**changes: object) -> bytes:
    record: dict[str, object] = {
        "Id": "0065g00000AbCdEAAV",
        "Name": "Acme",
        "AccountId": "0015g00000XyZaBAAV",
        "CloseDate": "2026-10-01",
        "StageName": "Closed Won",
        "IsWon": True,
        "Service_Line__c": "Data",
        "Delivery_Region__c": "EMEA",
        "Billing_Model__c": "Fixed Fee",
        "Payment_Terms_Days__c": 45,
    }
    record.update(changes)
    return msgspec.json.encode({"totalSize": 1, "done": True, "records": [record]})


@pytest.mark.parametrize("text", NOT_NUMBERS)
@pytest.mark.parametrize("field", ["Payment_Terms_Days__c", "Amount"])
def test_a_salesforce_number_that_is_not_one_names_its_field(field: str, text: str) -> None:
    # "NaN" terms raised InvalidOperation from `0 <= terms`
    with pytest.raises(DecodeError) as info:
        opportunities_from_soql(_soql(**{field: text}), org_currency="EUR")
    assert info.value.path == f"$.records[0].{field}"


@pytest.mark.parametrize("raw", [b"1e400", b"-1e400", b"1" * 5000])
def test_a_salesforce_number_out_of_range_names_its_field(raw: bytes) -> None:
    body = _soql(Payment_Terms_Days__c=msgspec.Raw(raw))
    with pytest.raises(DecodeError) as info:
        opportunities_from_soql(body, org_currency="EUR")
    assert info.value.path == "$.records[0].Payment_Terms_Days__c"


# -- Stripe ------------------------------------------------------------------------------------


def _invoice(**changes: object) -> StInvoice:
    invoice: dict[str, object] = {
        "id": "in_1",
        "customer": "cus_1",
        "currency": "usd",
        "created": 1_790_000_000,
        "status": "paid",
        "subtotal": 1000,
        "total": 1000,
        "amount_remaining": 0,
        "amount_paid": 1000,
        "status_transitions": {"paid_at": 1_790_000_100},
    }
    invoice.update(changes)
    return decode_stripe(msgspec.json.encode(invoice), StInvoice)


def _line(metadata: dict[str, str]) -> dict[str, object]:
    return {"id": "il_1", "amount": 1000, "currency": "usd", "metadata": metadata}


@pytest.mark.parametrize("text", [*NOT_NUMBERS, *LENIENT])
@pytest.mark.parametrize("key", ["quantity", "unit_amount"])
def test_stripe_line_metadata_that_is_not_a_number_names_its_field(key: str, text: str) -> None:
    # "" and "abc" raised decimal.ConversionSyntax past an `except ValueError`; "NaN",
    # "Infinity" and "1e400" were accepted as quantities
    invoice = _invoice(lines={"data": [_line({"quantity": "2"}), _line({key: text})]})
    with pytest.raises(DecodeError) as info:
        invoice_from_stripe(invoice)
    assert info.value.path == f"$.lines.data[1].metadata.{key}"


def test_stripe_amounts_beyond_64_bits_in_iso_units_name_their_field() -> None:
    # MGA: Stripe counts whole ariary, ISO counts hundredths; 2**63-1 of them made ~9.2e20
    with pytest.raises(DecodeError) as info:
        payment_from_stripe(_invoice(currency="mga", amount_paid=MAX))
    assert info.value.path == "$.amount_paid"
    with pytest.raises(DecodeError) as info:
        invoice_from_stripe(_invoice(currency="mga", total=MAX))
    assert info.value.path == "$.total"


def test_a_tax_beyond_the_range_is_a_decode_error_not_a_huge_number() -> None:
    # total = MAX and subtotal = -MAX made a tax of 2**64 - 2
    with pytest.raises(DecodeError) as info:
        invoice_from_stripe(_invoice(total=MAX, subtotal=-MAX))
    assert info.value.path == "$.total"
    assert "tax" in info.value.reason


def test_an_amount_stripe_cannot_hold_is_refused_on_the_way_out() -> None:
    with pytest.raises(AmountOutOfRange):
        to_stripe_amount(Money(amount=MAX, currency="ISK"))


# -- Tryton ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*NOT_NUMBERS, *LENIENT])
def test_a_tryton_decimal_that_is_not_a_number_names_its_field(text: str) -> None:
    record = {"id": 5, "total_amount": {"__class__": "Decimal", "decimal": text}}
    with pytest.raises(DecodeError) as info:
        decode_tryton_response(json.dumps({"id": 1, "result": [record]}))
    assert info.value.path == "$.result[0].total_amount.decimal"


def test_a_tryton_float_that_is_not_finite_never_becomes_an_amount() -> None:
    line: dict[str, RpcValue] = {"id": 8, "quantity": 1e308, "unit_price": 1, "amount": 1}
    record: dict[str, RpcValue] = {
        "id": 5,
        "state": "posted",
        "party": 9,
        "currency.": {"id": 2, "code": "EUR"},
        "untaxed_amount": 1,
        "tax_amount": 0,
        "total_amount": 1,
        "lines.": [line],
    }
    with pytest.raises(DecodeError) as info:
        read_invoices([record])
    assert info.value.path == "$.result[0].lines.[0].quantity"


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")])
def test_we_never_write_a_decimal_tryton_json_would_refuse(value: Decimal) -> None:
    with pytest.raises(ValueError, match="finite"):
        tryton_dumps([value])


# -- Money -------------------------------------------------------------------------------------


def _usd(amount: int) -> Money:
    return Money(amount=amount, currency="USD")


@pytest.mark.parametrize("amount", [2**63, -(2**63), pytest.param(10**5000, id="5000-digits")])
def test_money_beyond_64_bits_cannot_be_constructed(amount: int) -> None:
    with pytest.raises(AmountOutOfRange, match="USD"):
        Money(amount=amount, currency="USD")


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        (lambda: _usd(MAX) + _usd(1), "+"),
        (lambda: _usd(-MAX) - _usd(1), "-"),
        (lambda: _usd(MAX) * 2, "×"),
        (lambda: 2 * _usd(-MAX), "×"),
        (lambda: _usd(MAX).scale(Decimal("1.5")), "×"),
        (lambda: Money.from_decimal("92233720368547758.08", "USD"), "USD"),
    ],
)
def test_every_money_operation_that_would_overflow_raises_naming_it(
    operation: Callable[[], object], name: str
) -> None:
    with pytest.raises(AmountOutOfRange) as info:
        operation()
    assert name in info.value.operation
    assert isinstance(info.value, ValueError)  # existing `except ValueError` callers see it


def test_money_at_the_bounds_still_adds_and_negates() -> None:
    assert -_usd(MAX) == _usd(-MAX)
    assert _usd(MAX) + _usd(-MAX) == _usd(0)
    assert _usd(MAX - 1) + _usd(1) == _usd(MAX)


def test_money_is_counted_in_whole_minor_units() -> None:
    with pytest.raises(TypeError):
        Money(amount=1.5, currency="USD")  # type: ignore[arg-type]  # the point: refused


# -- journaled payloads ------------------------------------------------------------------------


@pytest.mark.parametrize("hours", ["NaN", "Infinity", "1e400"])
def test_a_journaled_time_entry_cannot_bring_back_a_non_finite_hour(hours: str) -> None:
    payload = {
        "source_system": "harvest",
        "source_id": "1",
        "project_id": "2",
        "consultant_id": "3",
        "spent_on": "2026-10-30",
        "hours": hours,
        "billable": True,
    }
    envelope = Envelope(
        id="e1",
        key="project:2",
        kind="time_entry",
        source="harvest",
        idempotency_key="k",
        occurred_at=datetime.datetime(2026, 10, 30, tzinfo=datetime.UTC),
        payload=msgspec.Raw(msgspec.json.encode(payload)),
    )
    with pytest.raises(DecodeError) as info:
        CANONICAL.decode(envelope)
    assert info.value.path == "$.hours"


def test_a_time_entry_with_nan_hours_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="hours"):
        TimeEntry(
            source_system="harvest",
            source_id="1",
            project_id="2",
            consultant_id="3",
            spent_on=datetime.date(2026, 10, 30),
            hours=Decimal("NaN"),
            billable=True,
        )
