"""A vendor's limits shared by several daemons through PostgreSQL: never over, pauses shared.

Each "daemon" is its own limiter, `SharedBudgets` and connection pool on one scratch schema, as
separate processes would be. Time is the real time (the shared bucket refills by the
database's clock); the bounds asserted carry the margin of a burst and a held lease, so they
hold on a loaded machine, yet fail if the daemons did not share (each would admit its own
rate: three times the bound).
"""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
import pytest

from mediator.clock import SystemClock
from mediator.errors import RateLimited
from mediator.policies import LimitHint, RateLimiter, SharedBudgets
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from tests.policies.shared_support import open_daemon, open_tables

RATE = 20.0
BURST = 4.0


def limiter_of(budgets: SharedBudgets, *, max_wait: float = 10.0) -> RateLimiter:
    return RateLimiter(
        "stripe",
        rate=RATE,
        burst=BURST,
        clock=SystemClock(),
        max_wait=max_wait,
        shared=budgets.bucket("rate/stripe@stripe", system="stripe"),
    )


def most_in_any_window(times: list[float], window: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.slow
async def test_three_daemons_together_stay_within_the_limit_in_every_window() -> None:
    run = 2.0
    admitted: list[float] = []
    async with (
        open_tables() as schema,
        open_daemon(schema) as a,
        open_daemon(schema) as b,
        open_daemon(schema) as c,
    ):
        limiters = [limiter_of(x) for x in (a, b, c)]
        stop = time.monotonic() + run

        async def caller(limiter: RateLimiter) -> None:
            while time.monotonic() < stop:
                await limiter.acquire()
                admitted.append(time.monotonic())

        async with asyncio.TaskGroup() as tg:
            for limiter in limiters:
                for _ in range(4):  # four callers per daemon, each flat out
                    tg.create_task(caller(limiter))
        held = [x.bucket("rate/stripe@stripe", system="stripe").statistics() for x in (a, b, c)]
    hold = 0.1
    for window in (0.5, 1.0):
        # a burst, the rate over the window, and the tokens a daemon may hold (rate * hold)
        bound = BURST + RATE * (window + hold) + 2
        assert most_in_any_window(admitted, window) <= bound, (window, sorted(admitted))
    # and the daemons did use the limit (it is shared, not starved), each some of it
    assert len(admitted) >= RATE * run * 0.7
    assert all(stats.granted > 0 for stats in held), held


async def test_a_retry_after_seen_by_one_daemon_pauses_the_others() -> None:
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        first, second = limiter_of(a), limiter_of(b, max_wait=0.2)
        await first.acquire()
        await second.acquire()
        first.observe(LimitHint(retry_after=3.0))
        await a.flush()
        with pytest.raises(RateLimited) as caught:
            await second.acquire()
        assert 2.5 < caught.value.retry_after <= 3.0 + 1 / RATE


async def test_remaining_seen_by_one_daemon_drains_the_others() -> None:
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        first, second = limiter_of(a), limiter_of(b, max_wait=0.01)
        first.observe(LimitHint(remaining=0))  # before either took from the bucket
        await a.flush()
        with pytest.raises(RateLimited):
            await second.acquire()


async def test_the_hint_writer_shares_a_pause_without_being_asked() -> None:
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        first, second = limiter_of(a), limiter_of(b, max_wait=0.2)
        await first.acquire()
        first.observe(LimitHint(retry_after=5.0))
        deadline = time.monotonic() + 5.0
        refused: RateLimited | None = None
        while refused is None:  # the writer runs in its own task: poll with a deadline
            try:
                await second.acquire()
            except RateLimited as exc:
                refused = exc
            assert time.monotonic() < deadline, "the pause never reached the other daemon"
            await asyncio.sleep(0.01)
        assert refused.retry_after > 4.0


async def test_nowait_admits_only_on_tokens_already_held() -> None:
    async with open_tables() as schema, open_daemon(schema) as a:
        limiter = limiter_of(a)
        with pytest.raises(RateLimited):
            limiter.acquire_nowait()
        assert limiter.statistics().tokens == BURST  # the local bucket gave nothing away


@pytest.mark.slow
async def test_three_daemons_calling_the_stripe_sandbox_flat_out_get_no_429() -> None:
    # the shipped Stripe policy (24/s, burst 1) against the sandbox's 25 per sliding second
    box = StripeSandbox(rate_limit=25)
    run = 1.5
    async with (
        open_sandbox(box) as url,
        aiohttp.ClientSession(headers={"Authorization": "Bearer sk_test_sandbox"}) as http,
        open_tables() as schema,
        open_daemon(schema) as a,
        open_daemon(schema) as b,
        open_daemon(schema) as c,
    ):
        limiters = [
            RateLimiter(
                "stripe",
                rate=24.0,
                burst=1,
                clock=SystemClock(),
                shared=x.bucket("rate/stripe@stripe", system="stripe"),
            )
            for x in (a, b, c)
        ]
        stop = time.monotonic() + run

        async def caller(limiter: RateLimiter) -> None:
            while time.monotonic() < stop:
                await limiter.acquire()
                async with http.get(f"{url}/v1/customers") as response:
                    await response.read()

        async with asyncio.TaskGroup() as tg:
            for limiter in limiters:
                for _ in range(3):
                    tg.create_task(caller(limiter))
    statuses = collections.Counter(entry.status for entry in box.requests)
    assert statuses[429] == 0, statuses
    assert statuses[200] >= 24 * run * 0.7, statuses
