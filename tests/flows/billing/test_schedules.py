"""The flush and close schedules on a fake clock: a cron in the firm's time zone, a period due
from its last business day's cut-off, one flush per revision."""

from __future__ import annotations

import asyncio
import datetime
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediator.codecs import Envelope
from mediator.config import PollerConfig
from mediator.flows.billing import (
    CLOSE_PERIOD,
    FLUSH_INVOICE,
    PAYLOADS,
    CloseSchedule,
    FlushSchedule,
    InvoiceRequest,
    period_cutoff,
)
from mediator.journal import Dispatcher, SqliteJournal, open_dispatcher, open_journal
from mediator.runtime.schedule import ScheduledPoller
from mediator.testing import FakeClock
from tests.flows.billing.test_ledger import hours, post

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SIX = datetime.time(18, 0)


class Sink:
    """Takes what the dispatcher delivers."""

    def __init__(self) -> None:
        self.delivered: list[Envelope] = []

    async def ask(self, message: Envelope, *, timeout: float) -> object:
        self.delivered.append(message)
        return None

    def requests(self, kind: str) -> list[tuple[str, str]]:
        found = [PAYLOADS.decode_as(e, InvoiceRequest) for e in self.delivered if e.kind == kind]
        return [(r.client_id, r.period) for r in found]


@dataclass
class Scheduled:
    clock: FakeClock
    journal: SqliteJournal
    dispatcher: Dispatcher
    sink: Sink


@pytest.fixture
async def scheduled(tmp_path: Path) -> AsyncIterator[Scheduled]:
    # Monday 30 November 2026, 17:00 in Berlin: an hour before November's cut-off
    start = datetime.datetime(2026, 11, 30, 17, 0, tzinfo=BERLIN).timestamp()
    clock = FakeClock(wall=start)
    sink = Sink()
    async with (
        open_journal(tmp_path / "journal.sqlite", clock=clock) as journal,
        open_dispatcher(journal, lambda key: sink, clock=clock) as dispatcher,
    ):
        yield Scheduled(clock, journal, dispatcher, sink)


def test_a_period_closes_on_its_last_business_day() -> None:
    assert period_cutoff("2026-11", SIX, BERLIN) == datetime.datetime(
        2026, 11, 30, 18, 0, tzinfo=BERLIN
    )
    # January 2027 ends on a Sunday: its last business day is Friday the 29th
    assert period_cutoff("2027-01", SIX, BERLIN).date() == datetime.date(2027, 1, 29)


async def test_the_close_cron_runs_in_the_firms_zone_and_closes_what_is_due(
    scheduled: Scheduled,
) -> None:
    await post(scheduled.journal, "time:1", hours("time:1", "2"))  # November's invoice
    await post(scheduled.journal, "time:2", hours("time:2", "1", day=0))  # October's
    schedule = CloseSchedule(clock=scheduled.clock, zone=BERLIN, cutoff=SIX)
    looped = ScheduledPoller(
        schedule, PollerConfig(schedule="5 18 * * 1-5"), zone=BERLIN, clock=scheduled.clock
    )
    task = asyncio.create_task(looped.run(scheduled.journal, scheduled.dispatcher))
    try:
        await scheduled.clock.advance(60 * 60)  # 18:00: the cron has not fired yet
        assert looped.status().polls == 0
        await scheduled.clock.advance(5 * 60)  # 18:05 Berlin
        await looped.wait_polls(1)
        await scheduled.dispatcher.wait_idle()
    finally:
        looped.stop()
        await task  # the loop ends once stopped
    assert sorted(scheduled.sink.requests(CLOSE_PERIOD)) == [
        ("001A", "2026-10"),
        ("001A", "2026-11"),
    ]
    [first] = [e for e in scheduled.sink.delivered if e.kind == CLOSE_PERIOD][:1]
    assert first.key.startswith("invoice:001A:")


async def test_a_close_before_the_cutoff_asks_for_nothing(scheduled: Scheduled) -> None:
    await post(scheduled.journal, "time:1", hours("time:1", "2"))
    schedule = CloseSchedule(clock=scheduled.clock, zone=BERLIN, cutoff=SIX)
    report = await schedule.poll(scheduled.journal, scheduled.dispatcher)
    assert (report.read, report.journaled) == (1, 0)


async def test_a_flush_is_asked_once_per_revision(scheduled: Scheduled) -> None:
    schedule = FlushSchedule(clock=scheduled.clock)
    await post(scheduled.journal, "time:1", hours("time:1", "2"))
    first = await schedule.poll(scheduled.journal, scheduled.dispatcher)
    again = await schedule.poll(scheduled.journal, scheduled.dispatcher)
    assert (first.journaled, again.journaled, again.duplicates) == (1, 0, 1)
    await post(scheduled.journal, "time:2", hours("time:2", "3"))
    later = await schedule.poll(scheduled.journal, scheduled.dispatcher)
    assert later.journaled == 1
    await scheduled.dispatcher.wait_idle()
    assert scheduled.sink.requests(FLUSH_INVOICE) == [("001A", "2026-11")] * 2
