"""Canonical entities: valid ones survive the journal's JSON; inconsistent ones do not decode."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.codecs import (
    CANONICAL,
    Assignment,
    ChangeOrder,
    Envelope,
    Invoice,
    InvoiceLine,
    Money,
    RateCard,
    RateCardLine,
    RateChange,
    TimeEntry,
    WireDecoder,
)
from mediator.errors import DecodeError

_AT = dt.datetime(2026, 10, 31, tzinfo=dt.UTC)
_currency = st.sampled_from(["USD", "EUR", "JPY", "KWD", "CHF"])
_ids = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30)
_days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))


def _money(currency: str) -> st.SearchStrategy[Money]:
    return st.builds(Money, amount=st.integers(-(10**12), 10**12), currency=st.just(currency))


@st.composite
def _invoices(draw: st.DrawFn) -> Invoice:
    currency = draw(_currency)
    lines = draw(
        st.lists(
            st.builds(
                InvoiceLine,
                description=st.text(max_size=40),
                quantity=st.decimals(min_value=0, max_value=1000, places=2),
                unit_amount=_money(currency),
                amount=_money(currency),
                origin_id=st.one_of(st.none(), _ids),
            ),
            max_size=5,
        )
    )
    total = draw(_money(currency))
    return Invoice(
        source_system="stripe",
        source_id=draw(_ids),
        client_id=draw(_ids),
        status=draw(st.sampled_from(["draft", "open", "paid", "void", "uncollectible"])),
        currency=currency,
        lines=tuple(lines),
        subtotal=total,
        tax=draw(st.one_of(st.none(), _money(currency))),
        total=total,
        amount_due=draw(_money(currency)),
        issued_on=draw(st.one_of(st.none(), _days)),
    )


@st.composite
def _time_entries(draw: st.DrawFn) -> TimeEntry:
    return TimeEntry(
        source_system="harvest",
        source_id=draw(_ids),
        project_id=draw(_ids),
        consultant_id=draw(_ids),
        spent_on=draw(_days),
        hours=draw(st.decimals(min_value=0, max_value=24, places=4)),
        notes=draw(st.text(max_size=100)),
        billable=draw(st.booleans()),
        approved=draw(st.booleans()),
        bill_rate=draw(st.one_of(st.none(), _currency.flatmap(_money))),
        updated_at=draw(st.one_of(st.none(), st.datetimes(timezones=st.just(dt.UTC)))),
    )


@st.composite
def _change_orders(draw: st.DrawFn) -> ChangeOrder:
    currency = draw(_currency)
    return ChangeOrder(
        source_system="salesforce",
        source_id=draw(_ids),
        engagement_id=draw(_ids),
        effective_on=draw(_days),
        value_delta=draw(st.one_of(st.none(), _money(currency))),
        rate_changes=tuple(
            draw(st.lists(st.builds(RateChange, role=_ids, bill_rate=_money(currency)), max_size=3))
        ),
    )


def _round_trip(kind: str, payload: msgspec.Struct) -> msgspec.Struct:
    envelope = CANONICAL.envelope(
        kind, payload, key="k", source="test", idempotency_key="i", occurred_at=_AT
    )
    wire = msgspec.json.encode(envelope)
    return CANONICAL.decode(msgspec.json.decode(wire, type=Envelope))


@settings(max_examples=60, deadline=None)
@given(_invoices())
def test_invoices_round_trip(invoice: Invoice) -> None:
    assert _round_trip("invoice", invoice) == invoice


@settings(max_examples=60, deadline=None)
@given(_time_entries())
def test_time_entries_round_trip(entry: TimeEntry) -> None:
    assert _round_trip("time_entry", entry) == entry


@settings(max_examples=60, deadline=None)
@given(_change_orders())
def test_change_orders_round_trip(order: ChangeOrder) -> None:
    assert _round_trip("change_order", order) == order


def test_assignments_know_when_their_rates_apply() -> None:
    assignment = Assignment(
        source_system="harvest",
        source_id="1",
        project_id="42",
        consultant_id="7",
        role="Senior Engineer",
        bill_rate=Money(amount=18_000, currency="EUR"),
        effective_from=dt.date(2026, 10, 1),
        effective_to=dt.date(2026, 10, 31),
    )
    assert assignment.in_force_on(dt.date(2026, 10, 31))
    assert not assignment.in_force_on(dt.date(2026, 11, 1))
    assert _round_trip("assignment", assignment) == assignment


def test_a_rate_card_is_in_one_currency() -> None:
    line = RateCardLine(role="Partner", bill_rate=Money(amount=40_000, currency="EUR"))
    card = RateCard(
        source_system="mediator",
        source_id="rc-2026",
        name="2026",
        currency="EUR",
        effective_from=dt.date(2026, 1, 1),
        lines=(line,),
    )
    assert card.rate_for("Partner") == line
    assert card.rate_for("Intern") is None
    with pytest.raises(ValueError, match="USD amount in a EUR record"):
        RateCard(
            source_system="mediator",
            source_id="rc",
            name="x",
            currency="EUR",
            effective_from=dt.date(2026, 1, 1),
            lines=(RateCardLine(role="Partner", bill_rate=Money(amount=1, currency="USD")),),
        )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            b'{"source_system":"stripe","source_id":"in_1","client_id":"c","currency":"EUR",'
            b'"subtotal":{"amount":1,"currency":"USD"},"total":{"amount":1,"currency":"EUR"},'
            b'"amount_due":{"amount":1,"currency":"EUR"}}',
            "$",
        ),
        (
            b'{"source_system":"stripe","source_id":"in_1","client_id":"c","currency":"EUR",'
            b'"subtotal":{"amount":1,"currency":"EUR"},"total":{"amount":1,"currency":"EUR"},'
            b'"amount_due":{"amount":1,"currency":"EUR"},"lines":[{"description":"x",'
            b'"unit_amount":{"amount":1,"currency":"EUR"},"amount":{"amount":1,"currency":"ZZZ"}}]}',
            "$.lines[0].amount",
        ),
        (
            b'{"source_system":"erp","source_id":"in_1","client_id":"c","currency":"EUR",'
            b'"subtotal":{"amount":1,"currency":"EUR"},"total":{"amount":1,"currency":"EUR"},'
            b'"amount_due":{"amount":1,"currency":"EUR"}}',
            "$.source_system",
        ),
    ],
)
def test_inconsistent_invoices_do_not_decode(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        WireDecoder("journal", Invoice).decode(body)
    assert info.value.path == path


def test_billable_amount_needs_billable_time_and_a_rate() -> None:
    entry = TimeEntry(
        source_system="harvest",
        source_id="1",
        project_id="42",
        consultant_id="7",
        spent_on=dt.date(2026, 10, 30),
        hours=Decimal("1.5"),
        billable=False,
        bill_rate=Money(amount=10_000, currency="USD"),
        cost_rate=Money(amount=5_000, currency="USD"),
    )
    assert entry.billable_amount() is None
    assert entry.cost_amount() == Money(amount=7_500, currency="USD")
