"""Background priority classes of the token bucket: below the live callers, within a share."""

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.errors import RateLimited
from mediator.policies import RateLimiter
from mediator.testing import FakeClock

BG = "reconciliation"


def limiter(clock: FakeClock, *, rate: float = 10.0, burst: float = 4, **kw: float) -> RateLimiter:
    max_wait = kw.pop("max_wait", 1e9)
    share = kw.pop("share", 0.5)
    return RateLimiter(
        "harvest", rate=rate, burst=burst, clock=clock, max_wait=max_wait, shares={BG: share}
    )


async def flat_out(lim: RateLimiter, clock: FakeClock, log: list[float]) -> None:
    """A background reader that asks again the moment it is admitted, forever."""
    while True:
        await lim.acquire(priority=BG)
        log.append(clock.monotonic())


def most_in_any_window(times: list[float], window: float) -> int:
    return max((sum(1 for t in times if s <= t <= s + window) for s in times), default=0)


async def test_alone_a_background_class_is_paced_at_its_share_of_the_rate() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=10.0, burst=4, share=0.5)  # 5/s, bursts of 2
    admitted: list[float] = []
    async with asyncio.TaskGroup() as tg:
        reader = tg.create_task(flat_out(lim, clock, admitted))
        await clock.advance(10.0)
        assert lim.statistics().waiting_by_class == {"default": 0, BG: 1}
        reader.cancel()
    assert 50 <= len(admitted) <= 2 + 5 * 10
    for window in (0.0, 0.1, 0.5, 1.0, 3.0, 10.0):
        assert most_in_any_window(admitted, window) <= 2 + 5 * window + 1e-9, window
    stats = lim.statistics()
    assert stats.admitted_by_class == {"default": 0, BG: len(admitted)}
    assert stats.shares == {BG: 0.5}
    assert stats.waiting == 0


async def test_a_background_caller_never_goes_ahead_of_a_waiting_live_caller() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=1.0, burst=1)
    lim.acquire_nowait()  # empty
    order: list[tuple[str, float]] = []

    async def call(name: str, priority: str | None) -> None:
        await lim.acquire(priority=priority)
        order.append((name, clock.monotonic()))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(call("bg", BG))
        await clock.wait_for_timers(1)
        for name in ("a", "b", "c"):
            tg.create_task(call(name, None))
        await clock.wait_for_timers(4)
        assert lim.try_acquire(priority=BG) > 0  # nothing taken: live callers wait
        await clock.advance(10.0)
    # live callers in arrival order, each at its turn; then the bucket refills before the
    # background takes a token
    assert order == [("a", 1.0), ("b", 2.0), ("c", 3.0), ("bg", 4.0)]
    assert lim.statistics().admitted_by_class == {"default": 4, BG: 1}


async def test_live_callers_keep_fifo_order_beside_a_background_reader() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=2.0, burst=2)
    background: list[float] = []
    live: list[str] = []

    async def call(name: str) -> None:
        await lim.acquire()
        live.append(name)

    async with asyncio.TaskGroup() as tg:
        reader = tg.create_task(flat_out(lim, clock, background))
        await clock.advance(0.3)
        for name in "abcdef":
            tg.create_task(call(name))
            await clock.advance(0.01)
        await clock.advance(5.0)
        reader.cancel()
    assert live == list("abcdef")
    assert background  # the reader went on around them


async def test_a_server_pause_holds_the_background_until_the_bucket_is_full_again() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=2.0, burst=2)
    lim.acquire_nowait(priority=BG)
    lim.pause(5.0)
    task = asyncio.create_task(lim.acquire(priority=BG))
    await clock.advance(5.5)
    assert not task.done()  # paused, then refilling from empty
    await clock.advance(0.5)
    assert await task == pytest.approx(6.0)


async def test_a_background_wait_beyond_max_wait_raises_rate_limited() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=1.0, burst=1, max_wait=3.0)
    lim.acquire_nowait()
    live = [asyncio.create_task(lim.acquire()) for _ in range(2)]  # admitted at 1 s and 2 s
    await clock.wait_for_timers(2)
    reader = asyncio.create_task(lim.acquire(priority=BG))  # the bucket is full at 3 s
    await clock.advance(0.5)
    live.append(asyncio.create_task(lim.acquire()))  # a live caller pushes it to 4 s
    await clock.advance(2.5)
    with pytest.raises(RateLimited) as caught:
        await reader
    assert caught.value.retry_after == pytest.approx(1.0)
    await clock.advance(1.0)
    assert [await t for t in live] == pytest.approx([1.0, 2.0, 2.5])
    stats = lim.statistics()
    assert (stats.rejected, stats.admitted_by_class[BG], stats.waiting) == (1, 0, 0)


async def test_a_background_wait_known_to_exceed_max_wait_fails_at_once() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=1.0, burst=1, max_wait=5.0)
    lim.pause(30.0)
    with pytest.raises(RateLimited):
        await lim.acquire(priority=BG)
    with pytest.raises(RateLimited):
        lim.acquire_nowait(priority=BG)
    assert clock.pending == 0


async def test_a_cancelled_background_waiter_leaves_its_place_to_the_next() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=2.0, burst=1, share=1.0)
    lim.acquire_nowait(priority=BG)
    first = asyncio.create_task(lim.acquire(priority=BG))
    second = asyncio.create_task(lim.acquire(priority=BG))
    await clock.wait_for_timers(3)  # two expiries and the class timer
    first.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await first
    await clock.advance(0.5)
    assert await second == pytest.approx(0.5)
    assert lim.statistics().waiting == 0
    assert clock.pending == 0  # no timer left behind


async def test_background_waiters_of_one_class_go_in_arrival_order() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=4.0, burst=1, share=0.5)
    lim.acquire_nowait(priority=BG)
    order: list[int] = []

    async def call(n: int) -> None:
        await lim.acquire(priority=BG)
        order.append(n)

    async with asyncio.TaskGroup() as tg:
        for n in range(4):
            tg.create_task(call(n))
        await clock.advance(5.0)
    assert order == [0, 1, 2, 3]
    assert lim.try_acquire(priority=BG) == 0.0


async def test_a_priority_without_a_share_is_live_and_counted_by_its_name() -> None:
    clock = FakeClock()
    lim = limiter(clock, rate=1.0, burst=1)
    lim.acquire_nowait(priority="posting")
    task = asyncio.create_task(lim.acquire(priority="posting"))  # reserves like any live call
    await clock.wait_for_timers()
    assert lim.try_acquire(priority=BG) > 0
    await clock.advance(1.0)
    assert await task == 1.0
    stats = lim.statistics()
    assert stats.admitted_by_class == {"default": 0, BG: 0, "posting": 2}


def test_shares_and_costs_are_checked() -> None:
    clock = FakeClock()
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="share"):
            RateLimiter("x", rate=1.0, burst=1, clock=clock, shares={BG: bad})
    with pytest.raises(ValueError, match="empty"):
        RateLimiter("x", rate=1.0, burst=1, clock=clock, shares={"": 0.5})
    lim = RateLimiter("x", rate=1.0, burst=4, clock=clock, shares={BG: 0.5})
    with pytest.raises(ValueError, match="burst=2"):
        lim.try_acquire(3, priority=BG)  # a class bursts at most burst * share
    assert lim.try_acquire(3) == 0.0  # live callers have the whole bucket


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([1.0, 6.4, 24.0]),
    burst=st.integers(1, 6),
    share=st.sampled_from([0.1, 0.5, 1.0]),
    arrivals=st.lists(st.floats(0.0, 8.0), min_size=1, max_size=25),
)
def test_a_flat_out_background_costs_a_live_caller_at_most_one_token_interval(
    rate: float, burst: int, share: float, arrivals: list[float]
) -> None:
    alone = asyncio.run(_play(rate, burst, share, arrivals, background=False))
    beside, background = asyncio.run(_play_with_background(rate, burst, share, arrivals))
    for wait_alone, wait_beside in zip(alone, beside, strict=True):
        assert wait_beside <= wait_alone + 1.0 / rate + 1e-6
    class_burst = max(1.0, burst * share)
    for window in (0.0, 0.5, 1.0, 4.0):
        assert most_in_any_window(background, window) <= class_burst + rate * share * window + 1e-6


async def _play_with_background(
    rate: float, burst: int, share: float, arrivals: list[float]
) -> tuple[list[float], list[float]]:
    background: list[float] = []
    waits = await _play(rate, burst, share, arrivals, background=True, log=background)
    return waits, background


async def _play(
    rate: float,
    burst: int,
    share: float,
    arrivals: list[float],
    *,
    background: bool,
    log: list[float] | None = None,
) -> list[float]:
    clock = FakeClock()
    lim = RateLimiter("p", rate=rate, burst=burst, clock=clock, max_wait=1e9, shares={BG: share})
    waits = [0.0] * len(arrivals)

    async def call(index: int, at: float) -> None:
        await clock.sleep(at)
        waits[index] = await lim.acquire()

    # a real-time guard: a bug here must fail the example, not hang the run
    async with asyncio.timeout(10), asyncio.TaskGroup() as tg:
        reader = tg.create_task(flat_out(lim, clock, log if log is not None else []))
        if not background:
            reader.cancel()
        await asyncio.sleep(0)
        for index, at in enumerate(sorted(arrivals)):
            tg.create_task(call(index, at))
        await clock.advance(10.0 + len(arrivals) / rate)
        reader.cancel()
    return waits
