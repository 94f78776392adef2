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


async def test_the_last_hour_is_counted_per_clock_minute_oldest_first() -> None:
    clock = FakeClock()
    counter = ThroughputCounter(clock)
    await clock.advance(60 - clock.time() % 60)  # the start of a minute
    counter.record(ok=True)
    counter.record(ok=False)
    await clock.advance(60)
    counter.record(ok=True)
    minutes = counter.statistics().per_minute
    assert len(minutes) == 60
    assert minutes[-2:] == [2, 1]
    assert sum(minutes) == 3
    await clock.advance(59 * 60)  # the first minute has left the hour; the second is oldest
    assert counter.per_minute()[0] == 1
    await clock.advance(60)  # and then it leaves too; its bucket is reused from zero
    counter.record(ok=True)
    assert counter.per_minute() == [0] * 59 + [1]
