"""What every system of bench/connectors.py shares: sandboxes in their own process, the policies
with a system's limits off, alternating timed batches, and the figures reported from them."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from typing import Any

import msgspec

from mediator.clock import SystemClock
from mediator.policies import PolicyConfig, PolicyRegistry, default_policy_config
from mediator.sandbox.base import Sandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.systems import ConnectorStatistics

# Makes a sandbox from keyword options and says what to report besides its URL (seeded ids).
# A module-level function, so the child process can find it by name.
Build = Callable[..., tuple[Sandbox, dict[str, Any]]]


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """What one run measures: records for the unlimited comparison, the limit scale-up."""

    records: int
    limited_seconds: float
    scale: float


def _serve(build: Build, options: dict[str, Any], pipe: Connection) -> None:
    async def main() -> None:
        sandbox, extra = build(**options)
        async with open_sandbox(sandbox) as url:
            pipe.send({"url": url, **extra})
            await asyncio.get_running_loop().run_in_executor(None, pipe.recv)

    asyncio.run(main())


@asynccontextmanager
async def served(build: Build, **options: Any) -> AsyncIterator[dict[str, Any]]:
    """Run `build(**options)`'s sandbox in a child process (so the client side measured here is
    the connector alone); yield what it reported, its URL first of all."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve, args=(build, options, theirs), daemon=True)
    child.start()
    loop = asyncio.get_running_loop()
    try:
        yield await loop.run_in_executor(None, ours.recv)
    finally:
        ours.send("stop")
        await loop.run_in_executor(None, child.join, 10.0)


def registry(config: PolicyConfig) -> PolicyRegistry:
    """Live policies of `config` on the system clock."""
    return PolicyRegistry(config, clock=SystemClock())


def without_limits(system: str) -> PolicyConfig:
    """The default policies without `system`'s own targets (its rate limit and quota); the
    defaults (breaker, retry, timeouts) stay."""
    config = default_policy_config()
    kept = tuple(t for t in config.targets if t.system != system)
    return msgspec.structs.replace(config, targets=kept)


async def alternate(
    batches: int, sides: dict[str, Callable[[int], Awaitable[int]]]
) -> dict[str, float]:
    """Run batch i of every side in turn, for each i; return each side's records per second."""
    spent = dict.fromkeys(sides, 0.0)
    done = dict.fromkeys(sides, 0)
    for index in range(batches):
        for side, run in sides.items():
            start = time.perf_counter()
            done[side] += await run(index)
            spent[side] += time.perf_counter() - start
    return {side: done[side] / spent[side] for side in sides}


def compare(rates: dict[str, float], records: int) -> dict[str, float]:
    """The unlimited figures: connector against baseline, and against ``same_requests`` (a raw
    client making the connector's look-ups too) where that side ran."""
    figures = {
        "records": records,
        "connector_records_per_s": round(rates["connector"], 1),
        "baseline_records_per_s": round(rates["baseline"], 1),
        "ratio": round(rates["connector"] / rates["baseline"], 3),
    }
    if "same_requests" in rates:
        figures["baseline_same_requests_records_per_s"] = round(rates["same_requests"], 1)
        figures["ratio_same_requests"] = round(rates["connector"] / rates["same_requests"], 3)
    return figures


def rate_limited(
    limit: str,
    stats: ConnectorStatistics,
    *,
    elapsed: float,
    written: int,
    burst: float,
    rate: float,
) -> dict[str, object]:
    """The limited figures: requests per second after the burst, as a fraction of `rate`."""
    calls = stats.transport.calls
    steady = (calls - burst) / elapsed  # the burst is admitted at once; the rest at `rate`
    return {
        "limit": limit,
        "seconds": round(elapsed, 2),
        "requests": calls,
        "records": written,
        "refused_429": sum(v for k, v in stats.transport.errors.items() if " 429" in k),
        "achieved_requests_per_s": round(steady, 2),
        "limit_requests_per_s": rate,
        "fraction_of_limit": round(steady / rate, 3),
    }


def ok(results: Iterable[object]) -> int:
    """How many of a batch's results are not errors."""
    return sum(1 for r in results if not isinstance(r, BaseException))
