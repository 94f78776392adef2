"""Crash safety with real processes: SIGKILL at random moments loses nothing acknowledged."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mediator.journal import open_journal
from mediator.testing import FakeClock
from tests.journal.crash_child import envelope_for

CHILD = Path(__file__).with_name("crash_child.py")
ROUNDS = 20


def _run_and_kill(path: Path, round_: int, rng: random.Random) -> list[str]:
    """Start a child appending to `path`; SIGKILL it after a random number of acks."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    with subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(round_)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    ) as child:
        assert child.stdout is not None
        acks: list[str] = []
        try:
            assert child.stdout.readline() == "ready\n"
            for _ in range(rng.randrange(1, 60)):
                acks.append(child.stdout.readline())
            os.kill(child.pid, signal.SIGKILL)
            # lines already written before the kill are acknowledged too
            acks.extend(child.stdout.read().splitlines(keepends=True))
        finally:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    return [a for a in acks if a.endswith("\n")]  # a torn last line was never an ack


def _check(path: Path, round_: int, acks: list[str]) -> None:
    conn = sqlite3.connect(path)
    try:
        stored = dict(conn.execute(
            "SELECT idem, lower(hex(id)) FROM entries WHERE idem LIKE ?", (f"r{round_}-%",)
        ).fetchall())  # fmt: skip
        marks = dict(conn.execute("SELECT name, value FROM watermarks").fetchall())
    finally:
        conn.close()
    last_ack: dict[str, int] = {}
    for line in acks:
        producer, acked_batch, *pairs = line.split()
        for pair in pairs:
            idem, entry_id = pair.split("=")
            assert stored.get(idem) == entry_id, f"acknowledged {idem} lost or changed"
        last_ack[f"r{round_}-p{producer}"] = int(acked_batch)
    # nothing half-written: a batch is entirely there or not at all, and each watermark names
    # the last batch that is there
    batches: dict[tuple[str, int], set[str]] = {}
    for idem in stored:
        _, producer, batch_name, item = idem.split("-")
        batches.setdefault((producer, int(batch_name[1:])), set()).add(item)
    for (producer, batch), items in batches.items():
        assert batch <= int(marks[f"r{round_}-{producer}"])
        # (from batch 1 on, item 0 repeats the key of the previous batch's item 1)
        assert items == ({"0", "1", "2", "3", "4"} if batch == 0 else {"1", "2", "3", "4"})
    for name, acked in last_ack.items():
        assert int(marks[name]) >= acked


def _pair(text: str) -> tuple[str, str]:
    """``key=value`` as its two halves."""
    key, value = text.split("=")
    return key, value


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_acknowledged(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    path = tmp_path / "journal.db"
    every_ack: dict[str, str] = {}
    for round_ in range(ROUNDS):
        acks = _run_and_kill(path, round_, rng)
        _check(path, round_, acks)
        every_ack.update(_pair(pair) for line in acks for pair in line.split()[2:])
        recovered, again = asyncio.run(_recover(path, list(every_ack)))
        assert set(every_ack.values()) <= recovered  # offered for dispatch after the crash
        # and every key acknowledged in any round so far still deduplicates, to the same entry
        assert again == every_ack


async def _recover(path: Path, keys: list[str]) -> tuple[set[str], dict[str, str]]:
    async with open_journal(path, clock=FakeClock()) as journal:
        recovered = {e.id for e in await journal.recover()}
        again = await journal.append_many([envelope_for(k) for k in keys])
    assert all(a.duplicate for a in again)
    return recovered, {a.envelope.idempotency_key: a.envelope.id for a in again}
