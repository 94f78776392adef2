"""A quick check of the PostgreSQL journal's append throughput; prints JSON.

Durable appends/s through `PostgresJournal.append` with 1, 100 and 1,000 concurrent producers
on an empty scratch schema of the test server (`MEDIATOR_TEST_DSN`), with bench/journal.py's
envelopes (~200-byte payloads, keys half increasing, half random), p50/p99 latency, and the
writer's transactions and largest batch. Not the full comparison (prefilled tables, baselines):
that is the bench of issue #21.

  python bench/journal_postgres_quick.py [--appends 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from journal import Keys, envelopes  # a bench/ sibling

from mediator.clock import SystemClock
from mediator.journal.postgres import open_postgres_journal
from mediator.testing.postgres import TEST_DSN, scratch_schema


async def run(producers: int, appends: int) -> dict[str, float]:
    batch = envelopes(Keys(seed=producers)(appends))
    latencies: list[float] = []
    clock = time.perf_counter
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=SystemClock(), schema=schema) as journal,
    ):

        async def produce(mine: list[object]) -> None:
            for envelope in mine:
                t0 = clock()
                await journal.append(envelope)  # type: ignore[arg-type]  # an Envelope
                latencies.append(clock() - t0)

        start = clock()
        await asyncio.gather(*(produce(batch[k::producers]) for k in range(producers)))
        elapsed = clock() - start
        stats = journal.statistics()
    latencies.sort()
    return {
        "producers": producers,
        "appends_per_s": round(appends / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "transactions": stats.transactions,
        "largest_batch": stats.largest_batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=20_000)
    args = parser.parse_args()
    results = [asyncio.run(run(p, args.appends if p > 1 else 1000)) for p in (1, 100, 1000)]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
