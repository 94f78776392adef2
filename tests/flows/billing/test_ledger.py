"""Booking entries onto aggregates, against a real journal: idempotent, concurrent-safe, and
never touching a finalized invoice."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from mediator.clock import SystemClock
from mediator.codecs.canonical.money import Money
from mediator.flows.billing import Contribution, InvoiceState, book, invoice_lines
from mediator.flows.billing.state import INVOICE, OPEN, SHARD, OpenInvoices, Shard, load, update
from mediator.journal import SqliteJournal, open_journal

CLIENT = "001A"


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SqliteJournal]:
    async with open_journal(tmp_path / "journal.sqlite", clock=SystemClock()) as opened:
        yield opened


def hours(
    entry: str, quantity: str, *, project: str = "P-1", day: int = 5, rate: int = 15_000
) -> Contribution:
    period = "2026-11" if day > 0 else "2026-10"
    return Contribution(
        id=entry,
        entry_id=entry,
        invoice_period=period,
        origin_period=period,
        project_id=project,
        consultant_id="U-1",
        what="Consultant",
        unit="hour",
        unit_rate=Money(amount=rate, currency="EUR"),
        quantity=Decimal(quantity),
        amount=Money(amount=rate, currency="EUR").scale(Decimal(quantity)),
        spent_on=datetime.date(2026, 11, max(day, 1)),
    )


async def post(
    journal: SqliteJournal, entry: str, *facts: Contribution
) -> tuple[Contribution, ...]:
    return await book(
        journal,
        client_id=CLIENT,
        entry_id=entry,
        facts=list(facts),
        currency="EUR",
        delivery_key="billing:project:7",
        clock_time=0.0,
    )


async def invoice(journal: SqliteJournal, period: str = "2026-11") -> InvoiceState:
    state, _ = await load(journal, INVOICE, f"invoice:{CLIENT}:{period}", InvoiceState)
    assert state is not None
    return state


async def contributions(journal: SqliteJournal, period: str = "2026-11") -> list[Contribution]:
    state = await invoice(journal, period)
    found: list[Contribution] = []
    for part in state.shards:
        shard, _ = await load(journal, SHARD, f"{CLIENT}|{period}|{part}", Shard)
        found += shard.contributions.values() if shard else []
    return found


async def finalize(journal: SqliteJournal, period: str = "2026-11") -> None:
    def finalized(state: InvoiceState | None) -> InvoiceState:
        assert state is not None
        return msgspec.structs.replace(state, status="finalized")

    await update(journal, INVOICE, f"invoice:{CLIENT}:{period}", InvoiceState, finalized)


async def test_the_same_version_booked_twice_counts_once(journal: SqliteJournal) -> None:
    first = await post(journal, "time:1", hours("time:1", "2.5"))
    revision = (await invoice(journal)).revision
    again = await post(journal, "time:1", hours("time:1", "2.5"))
    assert again == first
    assert (await invoice(journal)).revision == revision  # nothing written
    [line] = invoice_lines(await contributions(journal), "2026-11").values()
    assert (line.quantity, line.amount.amount) == (Decimal("2.5"), 37_500)
    listed, _ = await load(journal, OPEN, "all", OpenInvoices)
    assert listed is not None
    assert listed.keys == (f"invoice:{CLIENT}:2026-11",)


async def test_concurrent_bookings_of_one_invoice_all_count(journal: SqliteJournal) -> None:
    await asyncio.gather(
        *(
            post(journal, f"time:{n}", hours(f"time:{n}", "1.5", project=f"P-{n % 3}"))
            for n in range(60)
        )
    )
    state = await invoice(journal)
    assert state.revision == 60
    assert state.writing == ()
    assert state.dirty
    lines = invoice_lines(await contributions(journal), "2026-11")
    assert len(lines) == 3
    assert sum(line.quantity for line in lines.values()) == Decimal(90)


async def test_an_edit_of_a_draft_replaces_and_a_non_billable_version_removes(
    journal: SqliteJournal,
) -> None:
    await post(journal, "time:1", hours("time:1", "2"))
    await post(journal, "time:2", hours("time:2", "3"))
    await post(journal, "time:1", hours("time:1", "4", rate=16_000))  # new rate: another line
    await post(journal, "time:2")  # no longer billable
    lines = invoice_lines(await contributions(journal), "2026-11")
    assert [(line.quantity, line.amount.amount) for line in lines.values()] == [
        (Decimal(4), 64_000)
    ]


async def test_a_finalized_invoice_is_corrected_on_the_next_one(journal: SqliteJournal) -> None:
    await post(journal, "time:1", hours("time:1", "2"))
    await finalize(journal)
    await post(journal, "time:1", hours("time:1", "3.5"))
    assert [c.quantity for c in await contributions(journal)] == [Decimal(2)]  # as sent
    december = invoice_lines(await contributions(journal, "2026-12"), "2026-12")
    [line] = december.values()
    assert (line.quantity, line.amount.amount) == (Decimal("1.5"), 22_500)  # the difference
    assert "correction for 2026-11" in line.description
    # an edit back to the first hours while December is a draft: nothing left to correct
    await post(journal, "time:1", hours("time:1", "2"))
    [line] = invoice_lines(await contributions(journal, "2026-12"), "2026-12").values()
    assert line.amount.amount == 0
    # late time of a finalized period goes on the next invoice too
    await post(journal, "time:9", hours("time:9", "1"))
    assert Decimal(1) in [c.quantity for c in await contributions(journal, "2026-12")]


async def test_an_entry_in_another_currency_is_refused(journal: SqliteJournal) -> None:
    await post(journal, "time:1", hours("time:1", "2"))
    with pytest.raises(Exception, match="in USD, the invoice"):
        await book(
            journal,
            client_id=CLIENT,
            entry_id="time:2",
            facts=[msgspec.structs.replace(
                hours("time:2", "1"), unit_rate=Money(amount=100, currency="USD"),
                amount=Money(amount=100, currency="USD"),
            )],
            currency="USD",
            delivery_key="billing:project:7",
            clock_time=0.0,
        )  # fmt: skip


async def test_an_older_version_delivered_late_changes_nothing(journal: SqliteJournal) -> None:
    newer = "2026-11-20T10:00:00+00:00"
    await book(
        journal, client_id=CLIENT, entry_id="time:1", facts=[hours("time:1", "3")],
        currency="EUR", delivery_key="billing:project:7", clock_time=0.0, version=newer,
    )  # fmt: skip
    await book(
        journal, client_id=CLIENT, entry_id="time:1", facts=[hours("time:1", "1")],
        currency="EUR", delivery_key="billing:project:7", clock_time=0.0,
        version="2026-11-19T10:00:00+00:00",
    )  # fmt: skip
    assert [c.quantity for c in await contributions(journal)] == [Decimal(3)]


async def test_an_entry_moved_to_another_client_is_taken_back_from_the_first(
    journal: SqliteJournal,
) -> None:
    await post(journal, "time:1", hours("time:1", "2"))
    await finalize(journal)
    await book(
        journal, client_id="001B", entry_id="time:1", facts=[hours("time:1", "2")],
        currency="EUR", delivery_key="billing:project:8", clock_time=0.0,
    )  # fmt: skip
    # the first client's sent invoice keeps it; its next one takes it back
    assert [c.quantity for c in await contributions(journal)] == [Decimal(2)]
    assert [c.quantity for c in await contributions(journal, "2026-12")] == [Decimal(-2)]
    moved, _ = await load(journal, INVOICE, "invoice:001B:2026-11", InvoiceState)
    assert moved is not None
    assert moved.status == "draft"
    shard, _ = await load(journal, SHARD, "001B|2026-11|P-1|U-1", Shard)
    assert shard is not None
    assert [c.quantity for c in shard.contributions.values()] == [Decimal(2)]
