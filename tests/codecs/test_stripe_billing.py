"""Stripe ↔ canonical, checked against the Stripe sandbox over loopback HTTP and API fixtures."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediator.codecs import EXPONENTS, Address, Client, InvoiceLine, Money, TaxProfile, encode_form
from mediator.codecs.stripe_billing import (
    customer_from_stripe,
    customer_params,
    decode_event_object,
    decode_stripe,
    from_stripe_amount,
    invoice_from_stripe,
    invoice_item_params,
    invoice_params,
    payment_from_stripe,
    to_stripe_amount,
)
from mediator.codecs.stripe_wire import StCustomer, StError, StEvent, StInvoice, StList
from mediator.errors import DecodeError
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.testing import FakeClock

_KEY = "sk_test_sandbox"


class _Stripe:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url, http

    async def post(self, path: str, params: dict[str, object]) -> bytes:
        headers = {
            "Authorization": f"Bearer {_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with self.http.post(self.url + path, data=encode_form(params), headers=headers) as r:
            body = await r.read()
            assert r.status == 200, body
            return body

    async def get(self, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {_KEY}"}
        async with self.http.get(self.url + path, headers=headers) as r:
            return await r.read()


@pytest.fixture
async def stripe_api() -> AsyncIterator[_Stripe]:
    box = StripeSandbox(clock=FakeClock(start=1_790_000_000.0), rate_limit=1000)
    async with open_sandbox(box) as url, aiohttp.ClientSession() as http:
        yield _Stripe(url, http)


_CLIENT = Client(
    source_system="salesforce",
    source_id="0015g00000XyZaBAAV",
    name="Acme Holdings GmbH",
    email="ap@acme.example",
    tax=TaxProfile(exempt="reverse"),
    billing_address=Address(street="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"),
)


def _line(hours: str, origin: str) -> InvoiceLine:
    rate = Money(amount=18_050, currency="EUR")
    return InvoiceLine(
        description=f"{hours} h consulting",
        quantity=Decimal(hours),
        unit_amount=rate,
        amount=rate.scale(Decimal(hours)),
        origin_id=origin,
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 10, 31),
    )


async def test_a_month_of_time_is_invoiced_paid_and_read_back(stripe_api: _Stripe) -> None:
    customer = decode_stripe(
        await stripe_api.post("/v1/customers", customer_params(_CLIENT)), StCustomer
    )
    mapped = customer_from_stripe(customer)
    assert mapped.tax.exempt == "reverse"
    assert mapped.billing_address == Address(
        street="Hauptstr. 1", city="Berlin", postal_code="10115", country="DE"
    )
    params = invoice_params(
        customer=customer.id, currency="EUR", days_until_due=30, engagement_id="006X"
    )
    draft = decode_stripe(await stripe_api.post("/v1/invoices", params), StInvoice)
    lines = [_line("7.25", "time_entry:1"), _line("0.5", "time_entry:2")]
    for line in lines:
        await stripe_api.post(
            "/v1/invoiceitems", invoice_item_params(line, customer=customer.id, invoice=draft.id)
        )
    await stripe_api.post(f"/v1/invoices/{draft.id}/finalize", {})
    paid = decode_stripe(
        await stripe_api.post(f"/v1/invoices/{draft.id}/pay", {"paid_out_of_band": True}), StInvoice
    )
    invoice = invoice_from_stripe(paid)
    assert invoice.status == "paid"
    assert invoice.engagement_id == "006X"
    assert invoice.total == Money(amount=130_862 + 9_025, currency="EUR")
    assert sorted(invoice.lines, key=lambda x: x.origin_id or "") == lines
    payment = payment_from_stripe(paid)
    assert payment.amount == invoice.total
    assert payment.invoice_id == draft.id
    assert payment.method == "out_of_band"
    events = decode_stripe(await stripe_api.get("/v1/events?limit=100"), StList[StEvent])
    paid_event = next(e for e in events.data if e.type == "invoice.paid")
    snapshot = decode_event_object(paid_event)
    assert isinstance(snapshot, StInvoice)
    assert payment_from_stripe(snapshot) == payment


async def test_sandbox_errors_decode_as_stripe_error_objects(stripe_api: _Stripe) -> None:
    error = decode_stripe(await stripe_api.get("/v1/invoices/in_missing"), StError)
    assert error.error.type == "invalid_request_error"
    assert error.error.code == "resource_missing"


def test_an_invoice_paid_event_as_stripe_documents_it() -> None:
    body = json.dumps(
        {
            "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
            "object": "event",
            "api_version": "2025-04-30.basil",
            "created": 1686089970,
            "data": {
                "object": {
                    "id": "in_1NG8Dt2eZvKYlo2C0gcQZGxy",
                    "object": "invoice",
                    "amount_due": 150000,
                    "amount_paid": 150000,
                    "amount_remaining": 0,
                    "created": 1686089969,
                    "currency": "jpy",
                    "customer": "cus_NeZwdNtLEOXuvB",
                    "number": "6F1C6B2C-0001",
                    "paid_out_of_band": False,
                    "payment_intent": "pi_3NG8Du2eZvKYlo2C1Oq3Kq3a",
                    "status": "paid",
                    "status_transitions": {"finalized_at": 1686089969, "paid_at": 1686089970},
                    "subtotal": 150000,
                    "total": 150000,
                    "lines": {"object": "list", "data": [], "has_more": False},
                },
                "previous_attributes": {"status": "open"},
            },
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": "invoice.paid",
        }
    )
    invoice = decode_event_object(decode_stripe(body, StEvent))
    assert isinstance(invoice, StInvoice)
    payment = payment_from_stripe(invoice)
    assert payment.amount == Money(amount=150_000, currency="JPY")  # zero-decimal: yen as is
    assert payment.source_id == "pi_3NG8Du2eZvKYlo2C1Oq3Kq3a"
    assert payment.received_on == dt.date(2023, 6, 6)


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(EXPONENTS)))
def test_amounts_round_trip_through_stripe_units(amount: int, currency: str) -> None:
    if currency == "MGA":  # Stripe charges whole ariary only
        amount *= 100
    money = Money(amount=amount, currency=currency)
    assert from_stripe_amount(to_stripe_amount(money), currency.lower()) == money


def test_stripe_special_cases_shift_the_minor_unit() -> None:
    assert to_stripe_amount(Money(amount=1500, currency="ISK")) == 150_000
    assert from_stripe_amount(150_000, "isk") == Money(amount=1500, currency="ISK")
    with pytest.raises(DecodeError, match="whole minor unit"):
        from_stripe_amount(150_050, "isk")
    assert to_stripe_amount(Money(amount=1234, currency="KWD")) == 1234
    with pytest.raises(ValueError, match="whole unit"):
        to_stripe_amount(Money(amount=150, currency="MGA"))


def _invoice(**changes: object) -> bytes:
    invoice: dict[str, object] = {
        "id": "in_1",
        "customer": "cus_1",
        "currency": "usd",
        "created": 1_790_000_000,
        "status": "open",
        "subtotal": 1000,
        "total": 1000,
        "amount_remaining": 1000,
    }
    invoice.update(changes)
    return msgspec.json.encode(invoice)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (_invoice(currency="xyz"), "$.currency"),
        (_invoice(total=1.5), "$.total"),
        (_invoice(total=2**80), "$.total"),
        (_invoice(created=-5), "$.created"),
        (_invoice(status="exploded"), "$.status"),
        (_invoice(metadata={f"k{i}": "v" for i in range(51)}), "$.metadata"),
        (_invoice(metadata={"k": "v" * 10_000_000}), "$.metadata[...]"),
        (_invoice(lines={"data": [{"id": "il_1", "amount": 5, "currency": "eur"}]}), "$.lines"),
        (
            _invoice(lines={"data": [{"id": "il_1", "amount": "5", "currency": "usd"}]}),
            "$.lines.data[0].amount",
        ),
        (b'{"id": "in_1", "customer": "cus_1", "currency": "usd", "created": NaN}', "$"),
        (b"\xff" + _invoice(), "$"),
        (b"[" * 100_000 + b"]" * 100_000, "$"),
    ],
)
def test_hostile_invoices_are_decode_errors_with_a_path(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        invoice_from_stripe(decode_stripe(body, StInvoice))
    assert (info.value.system, info.value.path) == ("stripe", path)


def test_events_the_mediator_does_not_consume_are_refused_by_type() -> None:
    body = b'{"id":"evt_1","type":"charge.refunded","created":1,"data":{"object":{}}}'
    with pytest.raises(DecodeError) as info:
        decode_event_object(decode_stripe(body, StEvent))
    assert info.value.path == "$.type"


def test_a_bad_snapshot_inside_an_event_names_its_path() -> None:
    body = b'{"id":"evt_1","type":"invoice.paid","created":1,"data":{"object":{"id":"in_1"}}}'
    with pytest.raises(DecodeError) as info:
        decode_event_object(decode_stripe(body, StEvent))
    assert info.value.path == "$.data.object"
