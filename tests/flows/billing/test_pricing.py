"""Pricing a time entry at the rate in force on its day: the rate history first, Harvest's own
rate only for a project without one, never a guess."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from mediator.clock import SystemClock
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.billing.pricing import Canonical, Resolver, price_time
from mediator.flows.rate_history import RateHistory, RatePeriod, update_rates
from mediator.journal import SqliteJournal, open_journal

IDS = Canonical(client_id="001A", project_id="P-1042", consultant_id="U-7")


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SqliteJournal]:
    async with open_journal(tmp_path / "journal.sqlite", clock=SystemClock()) as opened:
        yield opened


def entry(day: int, *, rate: int | None = 18_000) -> TimeEntry:
    return TimeEntry(
        source_system="harvest",
        source_id="42",
        project_id="9",
        consultant_id="5",
        client_id="3",
        task="Consulting",
        spent_on=datetime.date(2026, 11, day),
        hours=Decimal("2.5"),
        billable=True,
        approved=True,
        bill_rate=None if rate is None else Money(amount=rate, currency="EUR"),
    )


def period(
    role: str, amount: int, day: int, source: str, *, consultant_id: str | None = None
) -> RatePeriod:
    return RatePeriod(
        role=role,
        consultant_id=consultant_id,
        bill_rate=Money(amount=amount, currency="EUR"),
        effective_from=datetime.date(2026, 11, day),
        source=source,
    )


async def test_without_a_history_the_entry_is_priced_at_harvests_rate(
    journal: SqliteJournal,
) -> None:
    price = await price_time(journal, entry(10), IDS)
    assert (price.what, price.rate.amount, price.source) == ("Consulting", 18_000, "harvest")
    with pytest.raises(BusinessRejected, match="no rate history and none in Harvest"):
        await price_time(journal, entry(10, rate=None), IDS)


async def test_the_rate_in_force_on_the_entrys_day_is_used(journal: SqliteJournal) -> None:
    history = RateHistory(
        project_id="P-1042",
        currency="EUR",
        staffing={"U-7": "Principal"},
        periods=(
            period("Principal", 30_000, 1, "rate_card"),
            period("Principal", 33_000, 16, "change_order:CO-1"),
        ),
    )
    await update_rates(journal, "P-1042", lambda _: history)
    before, after = (
        await price_time(journal, entry(15), IDS),
        await price_time(journal, entry(16), IDS),
    )
    assert (before.what, before.rate.amount, before.source) == ("Principal", 30_000, "rate_card")
    assert (after.rate.amount, after.source) == (33_000, "change_order:CO-1")
    own = history.with_period(period("Principal", 35_000, 20, "rate_card", consultant_id="U-7"))
    await update_rates(journal, "P-1042", lambda _: own)
    assert (await price_time(journal, entry(21), IDS)).rate.amount == 35_000


async def test_a_history_without_the_consultants_rate_is_refused_not_guessed(
    journal: SqliteJournal,
) -> None:
    history = RateHistory(
        project_id="P-1042", currency="EUR", periods=(period("Principal", 30_000, 1, "rate_card"),)
    )
    await update_rates(journal, "P-1042", lambda _: history)
    with pytest.raises(BusinessRejected, match="no rate for consultant U-7 on 2026-11-10"):
        await price_time(journal, entry(10), IDS)


async def test_ids_are_resolved_through_the_xref_map(journal: SqliteJournal) -> None:
    resolver = Resolver(journal)
    with pytest.raises(MissingReference, match="harvest client 3 has no canonical id"):
        await resolver.canonical(client_id="3", project_id="9", consultant_id="5")
    for entity_type, canonical, harvest in (
        ("client", "001A", "3"), ("project", "P-1042", "9"), ("consultant", "U-7", "5"),
    ):  # fmt: skip
        await journal.record_xref(entity_type, canonical, "harvest", harvest)
    assert await resolver.canonical(client_id="3", project_id="9", consultant_id="5") == IDS
    with pytest.raises(MissingReference, match="has no client"):
        await resolver.canonical(client_id=None, project_id="9", consultant_id="5")
