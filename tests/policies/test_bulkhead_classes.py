"""Background priority classes of the bulkhead: a capped share of the slots, after live calls."""

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.errors import BulkheadFull
from mediator.policies import Bulkhead
from mediator.testing import FakeClock

BG = "reconciliation"


def bulkhead(clock: FakeClock, limit: int = 4, **shares: float) -> Bulkhead:
    return Bulkhead("tryton", limit=limit, clock=clock, max_wait=30.0, shares=shares or {BG: 0.5})


async def test_a_background_class_holds_at_most_its_share_and_live_calls_find_the_rest() -> None:
    clock = FakeClock()
    slots = bulkhead(clock, limit=4)
    await slots.acquire(priority=BG)
    await slots.acquire(priority=BG)
    with pytest.raises(BulkheadFull):
        slots.acquire_nowait(priority=BG)  # floor(4 * 0.5) = 2 held already
    waiting = asyncio.create_task(slots.acquire(priority=BG))
    await clock.wait_for_timers()
    slots.acquire_nowait()  # live calls take the two slots left
    slots.acquire_nowait(priority="posting")
    stats = slots.statistics()
    assert (stats.active, stats.waiting, stats.caps) == (4, 1, {BG: 2})
    assert stats.active_by_class == {BG: 2}
    slots.release(priority=BG)
    await clock.advance(0)
    await waiting  # the freed background slot went to the background waiter
    stats = slots.statistics()
    assert stats.active_by_class == {BG: 2}
    assert stats.admitted_by_class == {"default": 1, BG: 3, "posting": 1}
    assert stats.peak_by_class == {BG: 2}


async def test_a_freed_slot_goes_to_a_waiting_live_caller_before_a_background_one() -> None:
    clock = FakeClock()
    slots = bulkhead(clock, limit=2)  # the class may hold one
    slots.acquire_nowait()
    slots.acquire_nowait()
    order: list[str] = []

    async def call(name: str, priority: str | None) -> None:
        async with slots.slot(priority):
            order.append(name)
            await clock.sleep(1.0)

    async with asyncio.TaskGroup() as tg:
        tg.create_task(call("bg", BG))
        await clock.wait_for_timers(1)
        tg.create_task(call("live", None))
        await clock.wait_for_timers(2)
        slots.release()
        await clock.advance(0)
        assert order == ["live"]
        slots.release()
        await clock.advance(0)
        assert order == ["live", "bg"]
        await clock.advance(1.0)
    assert slots.statistics().active == 0


async def test_background_classes_together_leave_the_last_slot_to_live_calls() -> None:
    clock = FakeClock()
    slots = Bulkhead("tryton", limit=3, clock=clock, shares={BG: 1.0, "backfill": 1.0})
    slots.acquire_nowait(priority=BG)
    slots.acquire_nowait(priority="backfill")
    with pytest.raises(BulkheadFull):
        slots.acquire_nowait(priority=BG)
    slots.acquire_nowait()
    assert slots.statistics().active == 3


async def test_with_one_slot_a_background_class_may_still_use_it_when_idle() -> None:
    clock = FakeClock()
    slots = Bulkhead("tryton", limit=1, clock=clock, shares={BG: 0.5})
    slots.acquire_nowait(priority=BG)  # max(1, floor(0.5)) = 1
    slots.release(priority=BG)
    assert slots.statistics().active == 0


async def test_a_background_wait_is_bounded_and_a_cancelled_one_leaks_no_slot() -> None:
    clock = FakeClock()
    slots = Bulkhead("tryton", limit=2, clock=clock, max_wait=5.0, shares={BG: 0.5})
    slots.acquire_nowait(priority=BG)
    timed_out = asyncio.create_task(slots.acquire(priority=BG))
    cancelled = asyncio.create_task(slots.acquire(priority=BG))
    await clock.wait_for_timers(2)
    cancelled.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await cancelled
    await clock.advance(5.0)
    with pytest.raises(BulkheadFull):
        await timed_out
    slots.release(priority=BG)
    stats = slots.statistics()
    assert (stats.active, stats.waiting, stats.rejected) == (0, 0, 1)


def test_shares_are_checked() -> None:
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="share"):
            Bulkhead("t", limit=2, clock=FakeClock(), shares={BG: bad})
    with pytest.raises(ValueError, match="empty"):
        Bulkhead("t", limit=2, clock=FakeClock(), shares={"": 0.5})


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(2, 6),
    share=st.sampled_from([0.25, 0.5, 1.0]),
    calls=st.lists(
        st.tuples(st.floats(0.0, 5.0), st.floats(0.1, 2.0), st.booleans()),
        min_size=1,
        max_size=30,
    ),
)
def test_background_never_takes_the_last_slots(
    limit: int, share: float, calls: list[tuple[float, float, bool]]
) -> None:
    peaks = asyncio.run(_play(limit, share, calls))
    cap = min(max(1, int(limit * share)), limit - 1)
    assert peaks["background"] <= cap
    assert peaks["total"] <= limit


async def _play(limit: int, share: float, calls: list[tuple[float, float, bool]]) -> dict[str, int]:
    clock = FakeClock()
    slots = Bulkhead("p", limit=limit, clock=clock, max_wait=1e9, shares={BG: share})
    held = {"background": 0, "total": 0}
    peaks = dict(held)

    async def call(at: float, duration: float, background: bool) -> None:
        await clock.sleep(at)
        async with slots.slot(BG if background else None):
            held["total"] += 1
            held["background"] += background
            for key in held:
                peaks[key] = max(peaks[key], held[key])
            await clock.sleep(duration)
            held["total"] -= 1
            held["background"] -= background

    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        for at, duration, background in calls:
            tg.create_task(call(at, duration, background))
        await clock.advance(5.0 + 2.0 * len(calls) + 1.0)
    assert slots.statistics().active == 0
    return peaks
