"""Deliveries per flow over the last minute and fifteen minutes, on a fake clock."""

from __future__ import annotations

from mediator.runtime.throughput import ThroughputCounter
from mediator.testing import FakeClock


async def test_counts_fall_out_of_each_window_as_time_passes() -> None:
    clock = FakeClock()
    counter = ThroughputCounter(clock)
    for _ in range(3):
        counter.record(ok=True)
    counter.record(ok=False)
    await clock.advance(30)
    counter.record(ok=True)
    stats = counter.statistics()
    assert (stats.delivered, stats.failed, stats.last_minute, stats.last_15_minutes) == (4, 1, 5, 5)
    await clock.advance(45)  # the first four are 75 s old
    assert counter.within(60) == 1
    assert counter.within(900) == 5
    await clock.advance(900)  # everything is older than the ring
    assert counter.statistics().last_15_minutes == 0
    counter.record(ok=True)  # a bucket reused after a full turn starts from zero
    assert counter.within(900) == 1
    assert counter.statistics().delivered == 5
