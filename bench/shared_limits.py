"""What a vendor limit shared through PostgreSQL costs; prints JSON.

(a) one take from a shared bucket (`PostgresBuckets.take`): p50/p99 latency, one caller
(b) admissions/s through `RateLimiter.acquire` with a shared bucket and an unreachable rate,
    so that only the round trips limit it: one daemon with 1 and 50 concurrent callers, and
    three daemons (each a pool and a `SharedBudgets` of its own, 50 callers each) contending
    for one row; each without held tokens (`hold` 0: one round trip per call) and with
    (`hold` 0.1 s: a round trip takes tokens for the callers queued behind it), and the round
    trips per admission
(c) the same limiter with no shared bucket (the single daemon's path), the baseline: what
    one daemon admits when nothing is shared; `ratio_held_to_not_shared` is (b) with held
    tokens, one daemon, 50 callers, over it
(d) one shared quota spend (a transaction: lock, conditional insert): p50/p99

The loopback PostgreSQL of this project (`MEDIATOR_TEST_DSN`), in a scratch schema.

  python bench/shared_limits.py            # 2 s per figure
  python bench/shared_limits.py --quick    # 0.5 s per figure
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
from _machine import machine  # a bench/ sibling

from mediator.clock import SystemClock
from mediator.journal.postgres._schema import MIGRATIONS
from mediator.journal.postgres.budgets import PostgresBuckets
from mediator.policies import RateLimiter, SharedBudgets, open_shared_budgets
from mediator.testing.postgres import TEST_DSN, scratch_schema

_FAST = 1e7  # a rate no round trip reaches: only the round trips limit admissions


@contextlib.asynccontextmanager
async def _tables() -> AsyncIterator[str]:
    async with scratch_schema() as schema:
        conn = await asyncpg.connect(TEST_DSN)
        try:
            await conn.execute(f"SET search_path TO {schema}")
            for statement in MIGRATIONS[0]:
                await conn.execute(statement)
        finally:
            await conn.close()
        yield schema


@contextlib.asynccontextmanager
async def _daemon(schema: str, hold: float) -> AsyncIterator[SharedBudgets]:
    pool = await asyncpg.create_pool(TEST_DSN, min_size=2, max_size=2)
    try:
        store = PostgresBuckets(pool, schema=schema)
        async with open_shared_budgets(store, clock=SystemClock(), hold=hold) as budgets:
            yield budgets
    finally:
        await pool.close()


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(samples[len(samples) // 2] * 1000, 3),
        "p99_ms": round(samples[int(len(samples) * 0.99)] * 1000, 3),
        "n": len(samples),
    }


async def _take_latency(seconds: float) -> dict[str, float]:
    async with _tables() as schema, _daemon(schema, 0.0) as budgets:
        samples: list[float] = []
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            started = time.perf_counter()
            await budgets.store.take("rate/x", least=1, most=1, rate=_FAST, burst=_FAST)
            samples.append(time.perf_counter() - started)
        return _percentiles(samples)


async def _admissions(
    seconds: float, *, daemons: int, callers: int, hold: float | None
) -> dict[str, float]:
    async with _tables() as schema, contextlib.AsyncExitStack() as stack:
        limiters = []
        budgets: list[SharedBudgets] = []
        for _ in range(daemons):
            shared = None
            if hold is not None:
                one = await stack.enter_async_context(_daemon(schema, hold))
                budgets.append(one)
                shared = one.bucket("rate/x", system="x")
            limiters.append(
                RateLimiter("x", rate=_FAST, burst=_FAST, clock=SystemClock(), shared=shared)
            )
        admitted = 0
        stop = time.perf_counter() + seconds

        async def call(limiter: RateLimiter) -> None:
            nonlocal admitted
            while time.perf_counter() < stop:
                await limiter.acquire()
                admitted += 1

        started = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for limiter in limiters:
                for _ in range(callers):
                    tg.create_task(call(limiter))
        elapsed = time.perf_counter() - started
        takes = sum(b.bucket("rate/x", system="x").statistics().takes for b in budgets)
        return {
            "admissions_per_s": round(admitted / elapsed),
            "round_trips_per_admission": round(takes / admitted, 3) if admitted else 0.0,
        }


async def _spend_latency(seconds: float) -> dict[str, float]:
    async with _tables() as schema, _daemon(schema, 0.0) as budgets:
        quota = budgets.quota("quota/x")
        samples: list[float] = []
        stop = time.perf_counter() + seconds
        while time.perf_counter() < stop:
            started = time.perf_counter()
            now = time.time()
            await quota.spend(1, ceiling=10**9, since=now - 86_400, now=now)
            samples.append(time.perf_counter() - started)
        return _percentiles(samples)


async def _run(seconds: float, quick: bool) -> dict[str, object]:
    report: dict[str, object] = {"machine": machine(), "quick": quick}
    admissions: dict[str, object] = {}
    for daemons, callers in ((1, 1), (1, 50), (3, 50)):
        for hold in (0.0, 0.1):
            key = f"{daemons}_daemons_{callers}_callers_hold_{hold:g}"
            admissions[key] = await _admissions(
                seconds, daemons=daemons, callers=callers, hold=hold
            )
    admissions["1_daemon_50_callers_not_shared"] = await _admissions(
        seconds, daemons=1, callers=50, hold=None
    )
    return report | {
        "take": await _take_latency(seconds),
        "admissions": admissions,
        "ratio_held_to_not_shared": round(
            _rate(admissions, "1_daemons_50_callers_hold_0.1")
            / _rate(admissions, "1_daemon_50_callers_not_shared"),
            3,
        ),
        "quota_spend": await _spend_latency(seconds),
        "postgres": TEST_DSN.rsplit("@", 1)[-1],
        "seconds_per_figure": seconds,
    }


def _rate(admissions: dict[str, object], key: str) -> float:
    figures = admissions[key]
    assert isinstance(figures, dict)
    return float(figures["admissions_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="0.5 s per figure")
    args = parser.parse_args()
    result = asyncio.run(_run(0.5 if args.quick else 2.0, args.quick))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
