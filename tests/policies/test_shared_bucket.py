"""One daemon's view of a shared bucket, over an in-memory store on the fake clock.

What the PostgreSQL tests cannot show deterministically: how many round trips a queue of
callers costs, that held tokens expire, and that a refusal waits as long as the store says.
"""

from __future__ import annotations

import asyncio

import pytest

from mediator.errors import RateLimited
from mediator.policies import Grant, QuotaSpend, RateLimiter, SharedBudgets
from mediator.testing import FakeClock


class MemoryStore:
    """A `BucketStore` in memory: one bucket's arithmetic on the fake clock."""

    def __init__(self, clock: FakeClock, *, latency: float = 0.0) -> None:
        self.clock = clock
        self.latency = latency
        self.rows: dict[str, tuple[float, float]] = {}
        self.takes = 0
        self.pauses: list[tuple[str, float]] = []

    async def take(
        self, name: str, *, least: float, most: float, rate: float, burst: float
    ) -> Grant:
        self.takes += 1
        # a round trip: others queue meanwhile (on the fake clock, when the test says how long)
        await (self.clock.sleep(self.latency) if self.latency else asyncio.sleep(0))
        now = self.clock.monotonic()
        tokens, at = self.rows.get(name, (burst, now))
        level = min(burst, tokens + max(now - at, 0.0) * rate) if now >= at else tokens
        at = max(now, at)
        if now >= at and level >= least:
            granted = max(least, min(most, float(int(level))))
            self.rows[name] = (level - granted, at)
            return Grant(granted=granted, wait=0.0)
        self.rows[name] = (level, at)
        return Grant(granted=0.0, wait=max(at - now, 0.0) + max(least - level, 0.0) / rate)

    async def pause(self, name: str, *, delay: float) -> None:
        self.pauses.append((name, delay))
        self.rows[name] = (0.0, self.clock.monotonic() + delay)

    async def drain(self, name: str, *, level: float, rate: float, burst: float) -> None:
        tokens, at = self.rows.get(name, (burst, self.clock.monotonic()))
        self.rows[name] = (min(tokens, level), at)

    async def spend(
        self, name: str, *, cost: int, ceiling: int, since: float, now: float
    ) -> QuotaSpend:
        raise NotImplementedError  # quotas are tested on PostgreSQL


def limiter_of(budgets: SharedBudgets, clock: FakeClock, **kwargs: float) -> RateLimiter:
    return RateLimiter(
        "stripe",
        rate=kwargs.get("rate", 10.0),
        burst=kwargs.get("burst", 10.0),
        clock=clock,
        max_wait=kwargs.get("max_wait", 60.0),
        shared=budgets.bucket("rate/stripe@stripe", system="stripe"),
    )


async def test_callers_queued_behind_one_round_trip_share_it() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    budgets = SharedBudgets(store, clock=clock, hold=0.5)
    limiter = limiter_of(budgets, clock)
    await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    # the first goes alone; the four queued behind it ride on the second round trip
    assert store.takes == 2
    stats = budgets.bucket("rate/stripe@stripe", system="stripe").statistics()
    assert (stats.granted, stats.held) == (5.0, 0.0)


async def test_without_hold_every_call_is_a_round_trip() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = limiter_of(SharedBudgets(store, clock=clock, hold=0.0), clock)
    await asyncio.gather(*(limiter.acquire() for _ in range(5)))
    assert store.takes == 5


async def test_held_tokens_not_spent_in_time_are_dropped() -> None:
    clock = FakeClock()
    store = MemoryStore(clock, latency=0.01)
    budgets = SharedBudgets(store, clock=clock, hold=0.5)
    bucket = budgets.bucket("rate/stripe@stripe", system="stripe")
    first = asyncio.create_task(bucket.take(1, rate=10, burst=10, max_wait=1))
    await clock.wait_for_timers()  # the first is in its round trip
    second = asyncio.create_task(bucket.take(1, rate=10, burst=10, max_wait=1))
    third = asyncio.create_task(bucket.take(1, rate=10, burst=10, max_wait=1))
    await clock.advance(0.01)  # the second's round trip takes a token for the third too
    assert first.done()
    third.cancel()
    await clock.advance(0.01)
    await second
    assert bucket.statistics().held == 1.0
    await clock.advance(0.5)
    stats = bucket.statistics()
    assert (stats.held, stats.expired, stats.granted, stats.takes) == (0.0, 1.0, 3.0, 2)
    assert third.cancelled()


async def test_a_refused_take_waits_as_long_as_the_store_says() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    budgets = SharedBudgets(store, clock=clock, hold=0.0)
    limiter = limiter_of(budgets, clock, rate=2.0, burst=1.0)
    await limiter.acquire()
    store.rows["rate/stripe@stripe"] = (0.0, clock.monotonic() + 3.0)  # another daemon's pause
    task = asyncio.create_task(limiter.acquire())
    await clock.wait_for_timers()
    await clock.advance(3.5)
    assert await task == 3.5


async def test_a_wait_past_max_wait_is_refused_at_once() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = limiter_of(SharedBudgets(store, clock=clock), clock, max_wait=1.0)
    store.rows["rate/stripe@stripe"] = (0.0, clock.monotonic() + 30.0)
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire()
    assert caught.value.retry_after == pytest.approx(30.1)
    assert limiter.statistics().rejected == 1


async def test_a_pause_is_written_for_every_daemon_by_flush() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    budgets = SharedBudgets(store, clock=clock)
    limiter = limiter_of(budgets, clock)
    limiter.pause(4.0)
    limiter.pause(2.0)  # shorter: neither the local nor the shared pause is shortened
    await budgets.flush()
    assert store.pauses == [("rate/stripe@stripe", 4.0)]


def test_a_hold_beyond_a_second_is_refused() -> None:
    with pytest.raises(ValueError, match="hold"):
        SharedBudgets(MemoryStore(FakeClock()), clock=FakeClock(), hold=5.0)


async def test_the_limiters_statistics_show_its_use_of_the_shared_bucket() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    limiter = limiter_of(SharedBudgets(store, clock=clock), clock)
    await limiter.acquire()
    shared = limiter.statistics().shared
    assert shared is not None
    assert (shared.name, shared.takes, shared.granted) == ("rate/stripe@stripe", 1, 1.0)
    assert RateLimiter("x", rate=1, burst=1, clock=clock).statistics().shared is None
