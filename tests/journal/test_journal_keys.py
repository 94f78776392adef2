"""Idempotency keys across their two levels: in memory, merged into the file, and reopened.

Most tests go through `open_journal`; the `KeyIndex` ones are unit tests of that internal on
purpose: a merge's chunking and its interplay with forgetting cannot be reached through the
journal's API at sizes a test can afford.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from mediator.journal import DeadLetterFilter, Journal, _keys, _schema, open_journal
from mediator.journal._keys import KeyIndex
from mediator.testing import FakeClock
from tests.journal.support import all_duplicates, append_all, envelope

DAY = 86_400.0


async def test_keys_deduplicate_across_merges_and_reopen(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_keys, "MERGE_CHUNK", 7)
    keys = [f"evt_{i:04d}" if i % 2 else f"harvest:time_entry:{i}" for i in range(600)]
    async with open_journal(path, clock=clock, memory_keys=50) as journal:
        ids = await append_all(journal, keys)
        stats = journal.statistics()
        assert stats.key_merges >= 5  # most keys now live in the file, not in memory
        assert stats.keys_in_memory < 200
        assert await all_duplicates(journal, ids)
    async with open_journal(path, clock=clock, memory_keys=1000) as journal:
        assert await all_duplicates(journal, ids)
        assert not (await journal.append(envelope("evt_new"))).duplicate


async def test_a_merge_cut_short_by_closing_resumes_after_reopen(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_keys, "MERGE_CHUNK", 10)
    keys = [f"evt_{i:03d}" for i in range(100)]
    async with open_journal(path, clock=clock, memory_keys=100) as journal:
        ids = await append_all(journal, keys)  # the last batch fills memory: no merge yet
        await journal.mark_in_flight([ids["evt_000"]])  # freezes, merges the first 10
        await journal.mark_in_flight([ids["evt_001"]])  # and the next 10
        assert journal.statistics().key_merges == 0
    async with open_journal(path, clock=clock, memory_keys=100) as journal:
        assert journal.statistics().keys_in_memory == 100  # read back, merged ones included
        assert await all_duplicates(journal, ids)
        for _ in range(10):  # the merge starts over and completes
            await journal.mark_in_flight([ids["evt_002"]])
        assert journal.statistics().key_merges == 1
        assert journal.statistics().keys_in_memory == 0
        assert await all_duplicates(journal, ids)


async def test_forgetting_keys_reaches_both_levels(path: Path, clock: FakeClock) -> None:
    async with open_journal(path, clock=clock, memory_keys=2) as journal:
        old = [(await journal.append(envelope(f"evt_old_{i}"))).envelope for i in range(5)]
        await journal.mark_done([e.id for e in old])
        await clock.advance(40 * DAY)
        last = await journal.append(envelope("evt_last"))
        assert journal.statistics().key_merges >= 1
        report = await journal.compact(done_older_than=7 * DAY, keep_keys_for=30 * DAY)
        assert report.forgotten == 5
        again = await journal.append_many([envelope(e.idempotency_key) for e in old])
        assert not any(a.duplicate for a in again)  # forgotten, so new again
        assert (await journal.append(envelope("evt_last"))).envelope.id == last.envelope.id


async def test_the_entry_appended_last_is_never_forgotten(path: Path, clock: FakeClock) -> None:
    # seqs must keep growing across reopens: the newest entry holds the highest one
    async with open_journal(path, clock=clock) as journal:
        only = (await journal.append(envelope("evt_only"))).envelope
        await journal.mark_done([only.id])
        await clock.advance(40 * DAY)
        report = await journal.compact(done_older_than=7 * DAY, keep_keys_for=30 * DAY)
        assert (report.compacted, report.forgotten) == (1, 0)
        assert (await journal.append(envelope("evt_only"))).duplicate


async def test_replays_share_their_original_key_without_taking_it(journal: Journal) -> None:
    dead = (await journal.append(envelope("evt_dead"))).envelope
    await journal.mark_dead(dead.id, reason="rate missing", error_class="DecodeError")
    report = await journal.replay(DeadLetterFilter(), dry_run=False)
    again = await journal.append(envelope("evt_dead"))
    assert again.duplicate
    assert again.envelope.id == dead.id  # the original answers for its key, not the replay
    assert report.sent[0].envelope.idempotency_key == "evt_dead"


def test_a_rolled_back_transaction_leaves_no_key_behind(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "k.db", isolation_level=None)
    conn.execute("CREATE TABLE idem_keys (idem TEXT PRIMARY KEY, seq INTEGER) WITHOUT ROWID")
    index = KeyIndex(memory_keys=10)
    conn.execute("BEGIN")
    index.add([("evt_a", 1)])
    assert index.find(conn, ["evt_a", "evt_b"]) == {"evt_a": 1}  # seen inside its transaction
    conn.execute("ROLLBACK")
    index.rollback()
    assert index.find(conn, ["evt_a"]) == {}
    index.add([("evt_b", 2)])
    index.commit()
    assert index.find(conn, ["evt_a", "evt_b"]) == {"evt_b": 2}
    assert index.in_memory == 1
    with pytest.raises(ValueError, match="memory_keys"):
        KeyIndex(memory_keys=0)


def test_a_merge_sorts_in_runs_then_moves_keys_in_key_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_keys, "SORT_RUN", 4)
    monkeypatch.setattr(_keys, "MERGE_CHUNK", 3)
    conn = _schema.connect(tmp_path / "k.db", synchronous="NORMAL")
    index = KeyIndex(memory_keys=20)
    index.load(conn)
    keys = [f"evt_{n:02d}" for n in random.Random(7).sample(range(100), 20)]
    index.add([(key, seq) for seq, key in enumerate(keys, 1)])
    index.commit()
    moved_after: list[int] = []
    while index.merges == 0:
        conn.execute("BEGIN IMMEDIATE")
        index.merge_step(conn, appending=1)
        if len(moved_after) == 6:  # one transaction rolls back: its chunk moves again
            conn.execute("ROLLBACK")
            index.rollback()
        else:
            conn.execute("COMMIT")
            index.commit()
        moved = [row[0] for row in conn.execute("SELECT idem FROM idem_keys ORDER BY idem")]
        assert moved == sorted(keys)[: len(moved)]  # always a prefix, in key order
        moved_after.append(len(moved))
    # five runs of four: the first four transactions only sort; then three keys at a time
    assert moved_after == [0, 0, 0, 0, 3, 6, 6, 9, 12, 15, 18, 20]
    assert index.in_memory == 0
    assert index.find(conn, keys) == {key: seq for seq, key in enumerate(keys, 1)}
    conn.close()


def test_a_merge_whose_keys_are_all_forgotten_still_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_keys, "SORT_RUN", 4)
    monkeypatch.setattr(_keys, "MERGE_CHUNK", 3)
    conn = _schema.connect(tmp_path / "k.db", synchronous="NORMAL")
    index = KeyIndex(memory_keys=8)

    def step(forget: list[tuple[str, int]] | None = None) -> None:
        conn.execute("BEGIN IMMEDIATE")
        index.merge_step(conn, appending=1)
        if forget:
            index.forget(conn, forget)
        conn.execute("COMMIT")
        index.commit()

    first = [(f"evt_a{n}", n) for n in range(8)]
    index.add(first)
    index.commit()
    step()  # freezes; sorts a run
    step(forget=first)  # sorts the other; compaction deletes every entry of the merge
    for _ in range(10):
        if index.merges:
            break
        step()
    assert index.merges == 1
    second = [(f"evt_b{n}", 100 + n) for n in range(8)]
    index.add(second)
    index.commit()
    for _ in range(10):
        if index.merges == 2:
            break
        step()
    assert index.merges == 2
    assert index.find(conn, [key for key, _ in first + second]) == dict(second)
    conn.close()
