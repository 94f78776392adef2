"""Checkpoints: under appends that never pause, the WAL is still copied back and started over.

The journal's `Checkpointer` is swapped for one with small thresholds (an internal, on
purpose): the real ones take megabytes of WAL to reach.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest

from mediator.journal import Appended, SqliteJournal, open_journal
from mediator.journal import sqlite as sqlite_backend
from mediator.journal._checkpoint import Checkpointer
from mediator.testing import FakeClock
from tests.journal.support import envelope

PAGE = 4096


def _wal_restarts(path: Path) -> int:
    # Bytes 12-15 of the WAL header count the times the WAL was started over (SQLite file format
    # §4.1, "checkpoint sequence number").
    header = Path(f"{path}-wal").read_bytes()[:16]
    return int.from_bytes(header[12:16], "big")


async def _produce(journal: SqliteJournal, producer: int, count: int) -> list[Appended]:
    return [await journal.append(envelope(f"p{producer}-{n}", n=n)) for n in range(count)]


async def test_wal_starts_over_while_appends_never_pause(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A WAL limit of 16 pages, reached every few commits, instead of 256 MiB.
    small = partial(Checkpointer, writes=16, commits=4, wal_limit=16 * PAGE)
    monkeypatch.setattr(sqlite_backend, "Checkpointer", small)
    async with open_journal(path, clock=clock, max_batch=8) as journal:
        receipts = await asyncio.gather(*(_produce(journal, p, 40) for p in range(20)))
        restarts = _wal_restarts(path)
    assert restarts > 0
    sent = {a.envelope.id for mine in receipts for a in mine}
    assert len(sent) == 800
    async with open_journal(path, clock=clock) as journal:
        assert {e.id for e in await journal.recover()} == sent
