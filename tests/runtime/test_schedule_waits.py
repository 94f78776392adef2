"""A scheduled poller waits out a spent allowance instead of failing or polling on."""

from __future__ import annotations

import asyncio
import zoneinfo
from typing import cast

import msgspec

from mediator.config import PollerConfig
from mediator.errors import QuotaExhausted
from mediator.journal import Dispatcher, Journal
from mediator.runtime import PollerStatus, ScheduledPoller
from mediator.testing import FakeClock

DAY = 86_400.0


class Report(msgspec.Struct, frozen=True, kw_only=True):
    read: int = 0
    journaled: int = 0
    duplicates: int = 0
    rejected: int = 0
    waiting_until: float | None = None
    waiting_reason: str | None = None


class Scripted:
    """A poller whose polls play a script: a report to return or an error to raise."""

    name = "scripted"

    def __init__(self, clock: FakeClock, script: list[Report | Exception]) -> None:
        self.clock = clock
        self.script = script
        self.polled_at: list[float] = []

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> Report:
        self.polled_at.append(self.clock.time())
        step = self.script.pop(0) if self.script else Report()
        if isinstance(step, Exception):
            raise step
        return step


async def run_script(
    script: list[Report | Exception], until: float
) -> tuple[Scripted, list[PollerStatus]]:
    clock = FakeClock()
    poller = Scripted(clock, script)
    scheduled = ScheduledPoller(
        poller, PollerConfig(interval=300.0), zone=zoneinfo.ZoneInfo("UTC"), clock=clock
    )
    nobody = cast(Journal, None), cast(Dispatcher, None)  # the scripted poller uses neither
    task = asyncio.create_task(scheduled.run(*nobody))
    statuses: list[PollerStatus] = []
    await scheduled.wait_polls(1)
    statuses.append(scheduled.status())
    await clock.advance(until)
    statuses.append(scheduled.status())
    scheduled.stop()
    await clock.advance(1.0)
    await task
    return poller, statuses


async def test_a_report_that_says_wait_moves_the_next_poll_to_the_reset() -> None:
    start = FakeClock().time()
    resets = start + DAY
    script: list[Report | Exception] = [
        Report(read=3, journaled=3, waiting_until=resets, waiting_reason="allowance spent"),
    ]
    poller, (waiting, after) = await run_script(script, DAY + 10.0)
    assert (waiting.waiting_until, waiting.next_poll_at) == (resets, resets)
    assert waiting.waiting_reason == "allowance spent"
    assert poller.polled_at[:2] == [start, resets]  # no poll in between, not 288 of them
    assert after.waiting_until is None


async def test_a_raised_quota_exhausted_is_a_wait_not_a_failure() -> None:
    start = FakeClock().time()
    script: list[Report | Exception] = [
        QuotaExhausted("salesforce", start + 3_600.0, priority="crm_poll")
    ]
    poller, (waiting, _) = await run_script(script, 3_600.0)
    assert (waiting.failures, waiting.last_error) == (0, None)
    assert waiting.waiting_until == start + 3_600.0
    assert waiting.waiting_reason is not None
    assert "quota of salesforce exhausted for crm_poll work" in waiting.waiting_reason
    assert poller.polled_at[:2] == [start, start + 3_600.0]
