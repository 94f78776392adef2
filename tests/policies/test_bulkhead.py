"""The bulkhead: bounded concurrency, a bounded wait in arrival order; and the timeouts record."""

import asyncio

import pytest

from mediator.errors import BulkheadFull
from mediator.policies import Bulkhead, Timeouts
from mediator.testing import FakeClock


async def test_callers_beyond_the_limit_wait_and_get_slots_in_arrival_order() -> None:
    clock = FakeClock()
    bulkhead = Bulkhead("tryton", limit=2, clock=clock, max_wait=10.0)
    await bulkhead.acquire()
    await bulkhead.acquire()
    order: list[str] = []

    async def call(name: str) -> None:
        async with bulkhead:
            order.append(name)
            await clock.sleep(1.0)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(call("a"))
        tg.create_task(call("b"))
        await clock.wait_for_timers(2)  # their wait timers
        assert bulkhead.statistics().waiting == 2
        bulkhead.release()
        await clock.advance(0)
        assert order == ["a"]
        bulkhead.release()
        await clock.advance(1.0)
    assert order == ["a", "b"]
    stats = bulkhead.statistics()
    assert (stats.active, stats.peak, stats.waits, stats.rejected) == (0, 2, 2, 0)


async def test_the_wait_is_bounded() -> None:
    clock = FakeClock()
    bulkhead = Bulkhead("tryton", limit=1, clock=clock, max_wait=5.0)
    bulkhead.acquire_nowait()
    task = asyncio.create_task(bulkhead.acquire())
    await clock.wait_for_timers()
    await clock.advance(5.0)
    with pytest.raises(BulkheadFull) as caught:
        await task
    assert (caught.value.target, caught.value.limit) == ("tryton", 1)
    assert bulkhead.statistics().waiting == 0


async def test_the_queue_is_bounded_and_nowait_never_jumps_it() -> None:
    clock = FakeClock()
    bulkhead = Bulkhead("tryton", limit=1, clock=clock, max_waiting=1)
    bulkhead.acquire_nowait()
    queued = asyncio.create_task(bulkhead.acquire())
    await clock.wait_for_timers()
    with pytest.raises(BulkheadFull):
        await bulkhead.acquire()
    bulkhead.release()
    with pytest.raises(BulkheadFull):
        bulkhead.acquire_nowait()  # the slot went to the queued caller
    await queued
    assert bulkhead.statistics().rejected == 2


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    clock = FakeClock()
    bulkhead = Bulkhead("tryton", limit=1, clock=clock)
    bulkhead.acquire_nowait()
    task = asyncio.create_task(bulkhead.acquire())
    await clock.wait_for_timers()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    bulkhead.release()
    assert bulkhead.statistics().active == 0
    bulkhead.acquire_nowait()


def test_timeouts_are_validated_and_give_the_time_left() -> None:
    timeouts = Timeouts(connect=2.0, read=10.0, total=30.0)
    assert timeouts.remaining(started=100.0, now=125.0) == 5.0
    assert timeouts.remaining(started=100.0, now=140.0) == 0.0
    with pytest.raises(ValueError, match="exceed"):
        Timeouts(connect=5.0, read=40.0, total=30.0)
    with pytest.raises(ValueError, match="positive"):
        Timeouts(connect=0.0)
