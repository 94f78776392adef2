"""The shared token bucket: waits on the fake clock, server hints, and its admission bound."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.errors import RateLimited
from mediator.policies import LimitHint, RateLimiter
from mediator.testing import FakeClock


async def test_burst_passes_at_once_then_callers_wait_for_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter("harvest", rate=2.0, burst=2, clock=clock)
    assert await limiter.acquire() == 0.0
    assert await limiter.acquire() == 0.0
    task = asyncio.create_task(limiter.acquire())
    await clock.wait_for_timers()
    await clock.advance(0.5)
    assert await task == 0.5
    stats = limiter.statistics()
    assert (stats.admitted, stats.waits, stats.waited) == (3, 1, 0.5)


async def test_waiters_are_admitted_in_arrival_order_each_at_its_turn() -> None:
    clock = FakeClock()
    limiter = RateLimiter("stripe", rate=1.0, burst=1, clock=clock)
    limiter.acquire_nowait()
    admitted: list[tuple[str, float]] = []

    async def call(name: str) -> None:
        await limiter.acquire()
        admitted.append((name, clock.monotonic()))

    async with asyncio.TaskGroup() as tg:
        for name in "abc":
            tg.create_task(call(name))
        await clock.wait_for_timers(3)
        assert limiter.statistics().waiting == 3
        await clock.advance(3)
    assert admitted == [("a", 1.0), ("b", 2.0), ("c", 3.0)]


async def test_try_acquire_reports_the_wait_and_takes_nothing() -> None:
    clock = FakeClock()
    limiter = RateLimiter("stripe", rate=4.0, burst=2, clock=clock)
    assert limiter.try_acquire(2) == 0.0
    assert limiter.try_acquire(1) == 0.25
    assert limiter.try_acquire(1) == 0.25  # nothing was taken by the refusal
    with pytest.raises(RateLimited) as caught:
        limiter.acquire_nowait()
    assert (caught.value.system, caught.value.retry_after) == ("stripe", 0.25)
    await clock.advance(0.25)
    assert limiter.try_acquire(1) == 0.0


async def test_a_wait_beyond_max_wait_raises_at_once_without_taking_tokens() -> None:
    clock = FakeClock()
    limiter = RateLimiter("harvest", rate=1.0, burst=1, clock=clock, max_wait=5.0)
    limiter.acquire_nowait()
    limiter.pause(30.0)
    with pytest.raises(RateLimited) as caught:
        await limiter.acquire()
    assert caught.value.retry_after == pytest.approx(31.0)
    assert clock.pending == 0  # it did not sleep
    stats = limiter.statistics()
    assert (stats.rejected, stats.over_cap, stats.paused_for) == (1, 1, 30.0)


async def test_retry_after_pauses_every_caller_until_it_passes() -> None:
    clock = FakeClock()
    limiter = RateLimiter("harvest", rate=10.0, burst=10, clock=clock)
    limiter.observe_headers({"Retry-After": "15"})
    task = asyncio.create_task(limiter.acquire())
    await clock.wait_for_timers()
    await clock.advance(15.0)
    assert not task.done()  # the bucket refills from empty after the pause
    await clock.advance(0.1)
    assert await task == pytest.approx(15.1)


async def test_a_pause_during_a_wait_holds_the_sleeper_until_the_pause_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter("harvest", rate=1.0, burst=1, clock=clock)
    limiter.acquire_nowait()
    task = asyncio.create_task(limiter.acquire())
    await clock.wait_for_timers()
    await clock.advance(0.5)
    limiter.observe(LimitHint(retry_after=10.0))
    await clock.advance(10.0)
    assert not task.done()
    await clock.advance(1.0)
    assert await task == pytest.approx(11.5)


async def test_remaining_zero_with_reset_pauses_and_lower_remaining_drains() -> None:
    clock = FakeClock()
    limiter = RateLimiter("x", rate=1.0, burst=10, clock=clock)
    limiter.observe_headers({"X-RateLimit-Remaining": "2", "X-RateLimit-Limit": "5000"})
    assert limiter.statistics().tokens == 2.0
    limiter.observe_headers({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"})
    assert limiter.try_acquire() == pytest.approx(8.0)
    assert limiter.statistics().server_remaining == 0


async def test_an_advertised_lower_rate_slows_the_bucket_but_a_higher_one_does_not() -> None:
    clock = FakeClock()
    limiter = RateLimiter("harvest", rate=20.0, burst=50, clock=clock)
    limiter.observe_headers({"RateLimit-Policy": '"general";q=100;w=15'})
    assert limiter.rate == pytest.approx(100 / 15)
    assert limiter.statistics().burst == 50
    limiter.observe_headers({"RateLimit-Policy": '"general";q=1000;w=1'})
    assert limiter.rate == pytest.approx(100 / 15)
    limiter.observe_headers({"RateLimit-Policy": '"daily";q=1000;w=86400'})
    assert limiter.rate == pytest.approx(100 / 15)  # a daily quota is not a rate


def test_cost_above_burst_is_a_programming_error() -> None:
    limiter = RateLimiter("x", rate=1.0, burst=2, clock=FakeClock())
    with pytest.raises(ValueError, match="cost"):
        limiter.try_acquire(3)


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(0.5, 20.0),
    burst=st.integers(1, 10),
    calls=st.lists(st.tuples(st.floats(0.0, 10.0), st.integers(1, 3)), min_size=1, max_size=30),
    pauses=st.lists(st.tuples(st.floats(0.0, 10.0), st.floats(0.0, 5.0)), max_size=3),
)
def test_never_more_than_rate_times_window_plus_burst_in_any_window(
    rate: float,
    burst: int,
    calls: list[tuple[float, int]],
    pauses: list[tuple[float, float]],
) -> None:
    admitted = asyncio.run(_play(rate, burst, calls, pauses))
    assert sum(cost for _, cost in admitted) == sum(min(cost, burst) for _, cost in calls)
    for start, _ in admitted:
        for window in (0.0, 0.5, 1.0, 3.0, 10.0):
            inside = sum(c for t, c in admitted if start <= t <= start + window)
            assert inside <= rate * window + burst + 1e-6, (start, window, admitted)


async def _play(
    rate: float, burst: int, calls: list[tuple[float, int]], pauses: list[tuple[float, float]]
) -> list[tuple[float, int]]:
    clock = FakeClock()
    limiter = RateLimiter("p", rate=rate, burst=burst, clock=clock, max_wait=1e9)
    admitted: list[tuple[float, int]] = []

    async def call(at: float, cost: int) -> None:
        await clock.sleep(at)
        await limiter.acquire(cost)
        admitted.append((clock.monotonic(), cost))

    async def pause(at: float, delay: float) -> None:
        await clock.sleep(at)
        limiter.pause(delay)

    # a real-time guard: a bug here must fail the example, not hang the run
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        for at, cost in calls:
            tg.create_task(call(at, min(cost, burst)))
        for at, delay in pauses:
            tg.create_task(pause(at, delay))
        await clock.advance(10.0 + 5.0 * len(pauses) + 3.0 * len(calls) / rate + 1.0)
    return admitted
