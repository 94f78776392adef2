"""Journal throughput and latency against same-run baselines; prints JSON.

(a) durable appends/s through `SqliteJournal.append` with 1, 100 and 1,000 concurrent
    producers, synchronous FULL and NORMAL, on a journal already holding `--prefill` entries
    (1,000,000 by default); ~200-byte payloads; idempotency keys half increasing
    ("harvest:time_entry:<n>"), half random ("evt_<24 chars>", like Stripe's event ids)
(b) p50/p99 latency of one append at each load; with each, the writer's transactions, its
    largest batch, the key merges, and how many keys were looked up in the file's key table
    (those the key filter could not rule out: see mediator/journal/_key_filter.py)
(c) baseline, the ceiling: plain sqlite3 executemany of 1,000 prepared rows per transaction
    into the same table of the same file (the journal's own columns and indexes), on a plain
    connection with SQLite's default checkpointing; the same with checkpoints off while timed
    (the WAL is copied back afterwards, untimed), the bound for inserting these rows at all;
    and, for context, the same with a unique index on the idempotency key
(a') sustained: the journal at 1,000 producers for twice as many appends as keys held in memory
    (500,000 appends with the default 250,000 keys in a full run), so that two merges of keys
    into the file run while it is measured
(d) baseline, the peer: huey's SqliteHuey enqueue (one transaction per task)
(e) why the writer is a thread of its own and not aiosqlite: the same 1,000-row transactions
    (BEGIN, executemany, COMMIT) driven through aiosqlite and through our one-thread executor
(f) file size per million entries

The figures the issue's targets compare (the journal at 1,000 producers, plain sqlite, huey) are
measured in three interleaved rounds and reported as medians, every round listed.

  python bench/journal.py            # full run (builds a 1,000,000-entry journal first)
  python bench/journal.py --quick    # 100,000 prefilled entries, fewer appends
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import shutil
import sqlite3
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec
from _machine import machine  # a bench/ sibling

from mediator.clock import SystemClock
from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.journal import GIL_SWITCH_INTERVAL, open_journal
from mediator.journal._key_filter import rebuild as rebuild_key_filter
from mediator.journal._rows import INSERT_ACCEPTED, accepted_row

_ALPHABET = string.ascii_letters + string.digits


class Keys:
    """Idempotency keys shaped like real ones: half increasing, half random."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._next = 1

    def __call__(self, n: int) -> list[str]:
        keys = []
        for i in range(n):
            if i % 2:
                keys.append(f"harvest:time_entry:{self._next}")
                self._next += 1
            else:
                keys.append("evt_" + "".join(self._rng.choices(_ALPHABET, k=24)))
        return keys


def _payload(n: int) -> msgspec.Raw:
    body = {
        "id": 2_000_000_000 + n,
        "spent_date": "2026-11-02",
        "hours": 1.5,
        "notes": "Workshop: billing reconciliation",
        "project": {"id": 14_308_069, "code": "P-1042"},
        "user": {"id": 1_782_959},
        "task": {"id": 8_083_365},
    }
    return msgspec.Raw(msgspec.json.encode(body))


def envelopes(keys: list[str]) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        Envelope(
            id=new_id(),
            key=f"project:P-{n % 5000}",
            kind="psa.time_entry.approved",
            source="harvest",
            idempotency_key=key,
            occurred_at=now,
            traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            payload=_payload(n),
        )
        for n, key in enumerate(keys)
    ]


# -- the prefilled journal ----------------------------------------------------------------------


async def _create(path: Path) -> None:
    async with open_journal(path, clock=SystemClock()):
        pass


def prefill(path: Path, count: int, keys: Keys) -> float:
    """Create a journal holding `count` done entries, fast (direct executemany); return seconds."""
    start = time.perf_counter()
    asyncio.run(_create(path))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # setup, not measured
    conn.execute("PRAGMA cache_size=-262144")
    chunk = 50_000
    for done in range(0, count, chunk):
        rows = [accepted_row(e, time.time()) for e in envelopes(keys(min(chunk, count - done)))]
        conn.execute("BEGIN")
        conn.executemany(INSERT_ACCEPTED, rows)
        conn.execute("UPDATE entries SET state = 6 WHERE state = 0")
        conn.execute("COMMIT")
    # as the journal's own merges would leave them: every key in the key table (see _keys)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO idem_keys (idem, seq) SELECT idem, seq FROM entries ORDER BY idem")
    conn.execute("UPDATE meta SET value = (SELECT max(seq) FROM entries)")
    rebuild_key_filter(conn)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


def _as_if_merged(conn: sqlite3.Connection) -> None:
    """Give rows inserted behind the journal's back their keys in the key table and its filter
    (untimed), so that the next open neither reads them back as recent keys nor builds the
    filter again."""
    conn.execute("BEGIN")
    conn.execute(
        "INSERT OR IGNORE INTO idem_keys (idem, seq) SELECT idem, seq FROM entries "
        "WHERE seq > (SELECT value FROM meta) ORDER BY idem"
    )
    conn.execute("UPDATE meta SET value = (SELECT max(seq) FROM entries)")
    rebuild_key_filter(conn)
    conn.execute("COMMIT")


def file_size(path: Path) -> tuple[int, int]:
    """Checkpoint, then return (bytes of the file, entries in it)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = conn.execute("SELECT count(*) FROM entries").fetchone()[0]
    conn.close()
    return path.stat().st_size, count


# -- (a, b) the journal -------------------------------------------------------------------------


async def journal_appends(
    path: Path,
    synchronous: str,
    producers: int,
    batch: list[Envelope],
    *,
    max_batch: int = 1000,
    memory_keys: int = 250_000,
) -> dict[str, float]:
    latencies: list[float] = []
    record = latencies.append
    clock = time.perf_counter
    async with open_journal(
        path,
        clock=SystemClock(),
        synchronous=synchronous,  # type: ignore[arg-type]  # a --synchronous choice, FULL or NORMAL
        max_batch=max_batch,
        memory_keys=memory_keys,
        switch_interval=GIL_SWITCH_INTERVAL,  # as `mediator run` holds it for its process
    ) as journal:
        append = journal.append

        async def produce(mine: list[Envelope]) -> None:
            for envelope in mine:
                t0 = clock()
                await append(envelope)
                record(clock() - t0)

        start = clock()
        await asyncio.gather(*(produce(batch[k::producers]) for k in range(producers)))
        elapsed = clock() - start
        stats = journal.statistics()
    latencies.sort()
    return {
        "appends_per_s": round(len(batch) / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "transactions": stats.transactions,
        "largest_batch": stats.largest_batch,
        "key_merges": stats.key_merges,
        "keys_looked_up_in_file": stats.keys_looked_up,
    }


# -- (c) the ceiling: plain sqlite3 -------------------------------------------------------------


def plain_sqlite(
    path: Path,
    synchronous: str,
    batch: list[Envelope],
    *,
    checkpoints: bool = True,
    unique_key_index: bool = False,
) -> float:
    rows = [accepted_row(e, time.time()) for e in batch]  # prepared outside the timing
    conn = sqlite3.connect(path, isolation_level=None)
    if unique_key_index:  # the layout before schema 3 (see mediator/journal/_keys.py)
        conn.execute("CREATE UNIQUE INDEX bench_unique_idem ON entries(idem)")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-65536")
    if not checkpoints:
        conn.execute("PRAGMA wal_autocheckpoint=0")
    start = time.perf_counter()
    for k in range(0, len(rows), 1000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT_ACCEPTED, rows[k : k + 1000])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    if unique_key_index:
        conn.execute("DROP INDEX bench_unique_idem")
    _as_if_merged(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # untimed
    conn.close()
    return len(rows) / elapsed


# -- (d) the peer: huey -------------------------------------------------------------------------


def huey_enqueue(directory: Path, synchronous: str, batch: list[Envelope]) -> float:
    from huey import SqliteHuey

    # huey's own switch is FULL or OFF; NORMAL is set on its connection, for a like comparison
    huey = SqliteHuey("bench", filename=str(directory / "huey.db"), immediate=False)
    huey.storage.conn.execute(f"PRAGMA synchronous={synchronous}")

    @huey.task()  # type: ignore[untyped-decorator]  # huey has no type hints
    def deliver(payload: bytes) -> None:  # pragma: no cover - never consumed here
        pass

    deliver(b"warm-up")
    payloads = [bytes(e.payload) for e in batch]
    start = time.perf_counter()
    for payload in payloads:
        deliver(payload)
    elapsed = time.perf_counter() - start
    huey.storage.close()
    return len(payloads) / elapsed


# -- (e) aiosqlite versus our writer thread ---------------------------------------------------


async def aiosqlite_batches(path: Path, batch: list[Envelope]) -> float:
    rows = [accepted_row(e, time.time()) for e in batch]
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await db.execute("PRAGMA synchronous=FULL")
        start = time.perf_counter()
        for k in range(0, len(rows), 1000):
            await db.execute("BEGIN IMMEDIATE")
            await db.executemany(INSERT_ACCEPTED, rows[k : k + 1000])
            await db.execute("COMMIT")
        elapsed = time.perf_counter() - start
    return len(rows) / elapsed


async def thread_batches(path: Path, batch: list[Envelope]) -> float:
    rows = [accepted_row(e, time.time()) for e in batch]
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as executor:
        conn = await loop.run_in_executor(
            executor, lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        )
        await loop.run_in_executor(executor, conn.execute, "PRAGMA synchronous=FULL")

        def transaction(chunk: list[tuple[object, ...]]) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT_ACCEPTED, chunk)
            conn.execute("COMMIT")

        start = time.perf_counter()
        for k in range(0, len(rows), 1000):
            await loop.run_in_executor(executor, transaction, rows[k : k + 1000])
        elapsed = time.perf_counter() - start
        await loop.run_in_executor(executor, conn.close)
    return len(rows) / elapsed


# -- running --------------------------------------------------------------------------------------


@contextlib.contextmanager
def quiet_harness() -> Iterator[None]:
    """Around each timed phase: first write back what earlier phases left dirty (the prefill
    and the untimed checkpoints write hundreds of MB, whose writeback stalled later fsyncs by up
    to half a second), and keep the harness's own objects (up to 500,000 prebuilt envelopes in
    lists) out of the cycle collector's passes, which a real producer would not hold."""
    os.sync()
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _runner() -> tuple[str, Callable[[Coroutine[Any, Any, Any]], Any]]:
    try:
        import uvloop
    except ImportError:
        return "asyncio", asyncio.run
    return "uvloop", uvloop.run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--dir", help="where to build the files (default: a temp dir)")
    args = parser.parse_args()
    quick = args.quick
    prefilled = 100_000 if quick else 1_000_000
    volume = {1: 300 if quick else 1_000, 100: 10_000 if quick else 50_000,
              1000: 30_000 if quick else 200_000}  # fmt: skip
    baseline_rows = 30_000 if quick else 200_000
    # twice the keys held in memory (the default 250,000 in a full run): two merges of keys into
    # the file happen while it runs
    sustained = 30_000 if quick else 500_000
    huey_tasks = 300 if quick else 1_000
    rounds = 1 if quick else 3
    loop_name, run = _runner()
    keys = Keys(seed=20261126)
    workdir = Path(tempfile.mkdtemp(prefix="bench-journal-", dir=args.dir))
    path = workdir / "journal.db"
    result: dict[str, Any] = {
        "bench": "journal",
        "machine": machine(),
        "quick": quick,
        "note": "figures vary run to run on a loaded machine, the ratios to same-run "
        "baselines less so",
        "loop": loop_name,
        "sqlite": sqlite3.sqlite_version,
        "payload_bytes": len(_payload(1)),
        "keys": "half increasing (harvest:time_entry:<n>), half random (evt_<24 chars>)",
        "baselines": {
            "plain_sqlite_executemany_1000_per_tx": "sqlite3 executemany of 1,000 prepared "
            "rows per BEGIN IMMEDIATE..COMMIT into the journal's own entries table of the same "
            "file (same columns, same indexes), WAL, same synchronous, 64 MiB cache, SQLite's "
            "default checkpointing (every 1,000 pages); no idempotency check at all",
            "plain_sqlite_with_unique_key_index": "the same with a unique index on the "
            "idempotency key added to that table (the layout before schema 3): what a plain "
            "unique constraint costs at this size, for context (FULL only)",
            "plain_sqlite_no_checkpoint_while_timed": "the same with wal_autocheckpoint=0; the "
            "WAL is checkpointed after the timing: the bound for inserting these rows at all",
            "huey_sqlite_enqueue": "huey SqliteHuey task enqueue, one transaction per task, "
            "same synchronous",
        },
        "harness": "before each timed phase, journal and baselines alike: os.sync() (earlier "
        "phases' writeback out of the way) and gc.freeze() (the prebuilt envelopes out of the "
        "cycle collector's passes); the journal holds the GIL switch interval at 100 µs while "
        "open (its default, see mediator/journal/_gil.py)",
        "rounds": "the journal at 1,000 producers, plain sqlite and huey are measured in "
        "rounds (three in a full run), interleaved; each figure is the median of its rounds "
        "(the journal's the round of median throughput, with its own latencies; the p99 "
        "target is checked against the median of the rounds' p99), every round listed",
    }
    try:
        result["prefill"] = {
            "entries": prefilled,
            "seconds": round(prefill(path, prefilled, keys), 1),
        }
        size, count = file_size(path)
        result["file_bytes_per_million_entries"] = round(size / count * 1_000_000)
        for sync in ("FULL", "NORMAL"):
            figures: dict[str, Any] = {}
            for producers, total in volume.items():
                if producers == 1000:
                    continue  # in the rounds below
                batch = envelopes(keys(total))
                with quiet_harness():
                    figures[f"journal_{producers}_producers"] = run(
                        journal_appends(path, sync, producers, batch)
                    )
            # The figures the targets compare, a few rounds each, interleaved, medians kept:
            # on a shared machine one short phase can fall in a slow spell of its own.
            journal_rounds: list[dict[str, float]] = []
            ceilings: list[float] = []
            hueys: list[float] = []
            for _ in range(rounds):
                batch = envelopes(keys(volume[1000]))
                with quiet_harness():
                    journal_rounds.append(run(journal_appends(path, sync, 1000, batch)))
                batch = envelopes(keys(baseline_rows))
                with quiet_harness():
                    ceilings.append(plain_sqlite(path, sync, batch))
                batch = envelopes(keys(huey_tasks))
                with quiet_harness():
                    hueys.append(huey_enqueue(workdir, sync, batch))
            journal_rounds.sort(key=lambda r: r["appends_per_s"])
            figures["journal_1000_producers"] = journal_rounds[len(journal_rounds) // 2]
            ceiling, huey = statistics.median(ceilings), statistics.median(hueys)
            figures["rounds"] = {
                "journal_1000_producers_appends_per_s": [
                    r["appends_per_s"] for r in journal_rounds
                ],
                "journal_1000_producers_p99_ms": [r["p99_ms"] for r in journal_rounds],
                "plain_sqlite_executemany_1000_per_tx": sorted(round(c) for c in ceilings),
                "huey_sqlite_enqueue": sorted(round(h) for h in hueys),
            }
            batch = envelopes(keys(sustained))
            with quiet_harness():
                figures["journal_1000_producers_sustained_with_key_merges"] = run(
                    journal_appends(path, sync, 1000, batch, memory_keys=sustained // 2)
                )
            if sync == "FULL":
                batch = envelopes(keys(baseline_rows))
                with quiet_harness():
                    figures["baseline_plain_sqlite_with_unique_key_index"] = round(
                        plain_sqlite(path, sync, batch, unique_key_index=True)
                    )
            batch = envelopes(keys(baseline_rows))
            with quiet_harness():
                bound = plain_sqlite(path, sync, batch, checkpoints=False)
            best = figures["journal_1000_producers"]
            figures["baseline_plain_sqlite_executemany_1000_per_tx"] = round(ceiling)
            figures["baseline_plain_sqlite_no_checkpoint_while_timed"] = round(bound)
            figures["baseline_huey_sqlite_enqueue"] = round(huey)
            figures["ratio_to_plain_sqlite"] = round(best["appends_per_s"] / ceiling, 2)
            figures["ratio_to_plain_sqlite_no_checkpoint"] = round(best["appends_per_s"] / bound, 2)
            figures["ratio_to_huey"] = round(best["appends_per_s"] / huey, 1)
            figures["targets"] = {
                "100k_appends_per_s_at_1000": best["appends_per_s"] >= 100_000,
                "half_of_plain_sqlite": best["appends_per_s"] >= 0.5 * ceiling,
                "20x_huey": best["appends_per_s"] >= 20 * huey,
                "p99_under_25_ms": statistics.median(r["p99_ms"] for r in journal_rounds) < 25,
            }
            result[sync] = figures
        batch = envelopes(keys(baseline_rows))
        with quiet_harness():
            via_aiosqlite = run(aiosqlite_batches(path, batch))
        batch = envelopes(keys(baseline_rows))
        with quiet_harness():
            via_thread = run(thread_batches(path, batch))
        result["writer_choice_full_1000_row_transactions"] = {
            "aiosqlite_rows_per_s": round(via_aiosqlite),
            "own_thread_rows_per_s": round(via_thread),
            "ratio_aiosqlite_to_thread": round(via_aiosqlite / via_thread, 2),
        }
        size, count = file_size(path)
        result["entries_at_end"] = count
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
