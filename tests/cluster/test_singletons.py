"""A scheduled poller polls only while its daemon holds the poller's singleton lease."""

from __future__ import annotations

import asyncio
import zoneinfo
from typing import cast

from mediator.config import PollerConfig
from mediator.journal import Dispatcher, Journal
from mediator.runtime import ScheduledPoller
from mediator.testing import FakeClock
from tests.runtime.test_schedule_waits import Scripted


async def test_a_poller_polls_only_while_its_lease_is_held_here() -> None:
    clock = FakeClock()
    start = clock.time()
    poller = Scripted(clock, [])
    held = False
    scheduled = ScheduledPoller(
        poller,
        PollerConfig(interval=10.0),
        zone=zoneinfo.ZoneInfo("UTC"),
        clock=clock,
        runs_here=lambda: held,
    )
    nobody = cast(Journal, None), cast(Dispatcher, None)  # the scripted poller uses neither
    task = asyncio.create_task(scheduled.run(*nobody))
    await clock.advance(25.0)  # ticks at 0, 10, 20: another daemon holds the lease
    assert poller.polled_at == []
    assert scheduled.status().standby
    held = True  # the lease came here (its holder died): the next tick polls
    await clock.advance(10.0)
    assert poller.polled_at == [start + 30.0]
    assert not scheduled.status().standby
    scheduled.stop()
    await clock.advance(10.0)
    await task
