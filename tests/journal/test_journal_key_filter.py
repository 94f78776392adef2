"""The filter in front of the key table: it never loses a key, and it spares most look-ups.

These reach into `_key_filter`, `_keys` and `_rows` on purpose: the filter is an internal
whose sizing, stepwise build and saved form cannot be observed through the journal's API,
only its effect (no key lost), which the journal's own tests check.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import string
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediator.journal import _key_filter, _keys, open_journal
from mediator.journal._key_filter import KeyFilter
from mediator.journal._rows import INSERT_ACCEPTED, accepted_row
from mediator.testing import FakeClock
from tests.journal.support import all_duplicates, append_all, envelope

DAY = 86_400.0


def _realistic_keys(count: int, *, seed: int, prefix: str = "") -> list[str]:
    """Half increasing source ids (like Harvest's), half random event ids (like Stripe's)."""
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    return [
        f"{prefix}harvest:time_entry:{1_000_000 + i}"
        if i % 2
        else f"{prefix}evt_{''.join(rng.choices(alphabet, k=24))}"
        for i in range(count)
    ]


@contextlib.contextmanager
def _file(path: Path) -> Iterator[sqlite3.Connection]:
    """The journal's file on a connection of its own (autocommit), closed after the block."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def _saved_filter(path: Path) -> tuple[int, int] | None:
    """(capacity, merged_through) of the filter saved in the file, if any."""
    with _file(path) as conn:
        row = conn.execute("SELECT length(bits), merged_through FROM key_filter").fetchone()
    return None if row is None else (row[0] * 8 // _key_filter.BITS_PER_KEY, row[1])


def test_a_filter_holds_every_key_added_and_few_others() -> None:
    key_filter = KeyFilter(50_000)
    added = _realistic_keys(key_filter.capacity, seed=1)  # full: as many keys as its capacity
    key_filter.add(added)
    assert key_filter.may_hold(added) == added
    others = _realistic_keys(50_000, seed=2, prefix="other:")
    false_positives = len(key_filter.may_hold(others)) / len(others)
    assert false_positives < 0.045  # 1 - e^(-1/32), about 3.1%, when full


def test_saved_bits_must_match_the_capacity() -> None:
    with pytest.raises(ValueError, match="bits"):
        KeyFilter(1000, bits=bytes(7))


async def test_new_keys_are_rarely_looked_up_in_the_file(path: Path, clock: FakeClock) -> None:
    async with open_journal(path, clock=clock, memory_keys=100) as journal:
        ids = await append_all(journal, _realistic_keys(1000, seed=3))
        assert journal.statistics().key_merges >= 5  # most keys are in the file's key table
        before = journal.statistics().keys_looked_up
        await append_all(journal, _realistic_keys(1000, seed=4, prefix="new:"))
        # without the filter, each of the 1,000 new keys would be looked up in the file
        assert journal.statistics().keys_looked_up - before < 20
        assert await all_duplicates(journal, ids)


async def test_a_file_without_a_saved_filter_builds_one_while_it_runs(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_key_filter, "BUILD_STEP", 25)
    async with open_journal(path, clock=clock, memory_keys=50) as journal:
        ids = await append_all(journal, _realistic_keys(300, seed=5))
    with _file(path) as conn:
        conn.execute("DELETE FROM key_filter")  # as a file from schema 3 has none

    async with open_journal(path, clock=clock, memory_keys=1000) as journal:
        # the scan of ~300 keys takes a step per transaction; meanwhile every key is looked up
        assert await all_duplicates(journal, ids)
        assert journal.statistics().keys_looked_up >= 250
        for n in range(12):
            await journal.append(envelope(f"new:{n}"))
        before = journal.statistics().keys_looked_up
        await append_all(journal, _realistic_keys(100, seed=6, prefix="newer:"))
        assert journal.statistics().keys_looked_up - before < 5  # the filter is in use
        assert await all_duplicates(journal, ids)
    assert _saved_filter(path) is not None

    async with open_journal(path, clock=clock, memory_keys=1000) as journal:
        await append_all(journal, _realistic_keys(100, seed=7, prefix="newest:"))
        assert journal.statistics().keys_looked_up < 5  # the saved filter, in use at once


async def test_a_full_filter_is_rebuilt_larger_and_no_key_is_missed_meanwhile(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_key_filter, "MIN_CAPACITY", 16)
    monkeypatch.setattr(_key_filter, "BUILD_STEP", 10)
    monkeypatch.setattr(_keys, "MERGE_CHUNK", 7)
    ids: dict[str, str] = {}
    async with open_journal(path, clock=clock, memory_keys=20) as journal:
        for round_ in range(15):
            ids |= await append_all(journal, _realistic_keys(40, seed=round_, prefix=f"{round_}:"))
            assert await all_duplicates(journal, ids)  # every key so far, at every point
    saved = _saved_filter(path)
    assert saved is not None
    assert saved[0] >= len(ids)
    async with open_journal(path, clock=clock, memory_keys=20) as journal:
        assert await all_duplicates(journal, ids)


async def test_a_filter_emptied_by_forgetting_is_rebuilt_smaller(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_key_filter, "MIN_CAPACITY", 16)
    async with open_journal(path, clock=clock, memory_keys=20) as journal:
        ids = await append_all(journal, _realistic_keys(400, seed=8))
        await journal.mark_done(list(ids.values()))
        await clock.advance(40 * DAY)
        await journal.append(envelope("evt_last"))
        grown = _saved_filter(path)
        assert grown is not None
        assert grown[0] >= 400
        report = await journal.compact(done_older_than=7 * DAY, keep_keys_for=30 * DAY)
        assert report.forgotten == 400
        await append_all(journal, _realistic_keys(30, seed=9, prefix="after:"))  # builds it
    shrunk = _saved_filter(path)
    assert shrunk is not None
    assert shrunk[0] < grown[0] // 4


async def test_keys_written_behind_the_journals_back_are_not_missed(
    path: Path, clock: FakeClock
) -> None:
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        ids = await append_all(journal, _realistic_keys(50, seed=10))
    assert _saved_filter(path) is not None
    # another program appends an entry and its key as a merge would (bench/journal does)
    sneaky = envelope("evt_written_elsewhere")
    with _file(path) as conn:
        conn.execute("BEGIN")
        conn.execute(INSERT_ACCEPTED, accepted_row(sneaky, time.time()))
        conn.execute(
            "INSERT INTO idem_keys (idem, seq) SELECT idem, seq FROM entries "
            "WHERE seq > (SELECT value FROM meta)"
        )
        conn.execute("UPDATE meta SET value = (SELECT max(seq) FROM entries)")
        conn.execute("COMMIT")

    async with open_journal(path, clock=clock) as journal:  # the saved filter is not used
        again = await journal.append(envelope("evt_written_elsewhere"))
        assert again.duplicate
        assert again.envelope.id == sneaky.id
        assert await all_duplicates(journal, ids)


async def test_rebuild_saves_a_filter_of_every_key_in_the_file(
    path: Path, clock: FakeClock
) -> None:
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        ids = await append_all(journal, _realistic_keys(50, seed=11))
    with _file(path) as conn:
        conn.execute("DELETE FROM key_filter")
        _key_filter.rebuild(conn)
    assert _saved_filter(path) is not None
    async with open_journal(path, clock=clock) as journal:
        assert await all_duplicates(journal, ids)
        await append_all(journal, _realistic_keys(50, seed=12, prefix="new:"))
        # the old keys, which the filter holds, were looked up; the new ones were ruled out
        assert journal.statistics().keys_looked_up <= len(ids) + 5


def _merged_through(path: Path) -> int:
    with _file(path) as conn:
        (value,) = conn.execute(
            "SELECT value FROM meta WHERE name = 'keys_merged_through'"
        ).fetchone()
    return int(value)


async def test_a_build_ending_with_a_merge_is_saved_with_the_merges_mark(
    path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        ids = await append_all(journal, [f"evt_{i:02d}" for i in range(30)])
    with _file(path) as conn:
        conn.execute("DELETE FROM key_filter")
    monkeypatch.setattr(_key_filter, "BUILD_STEP", 16)
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        # opening scanned 16 of the 20 keys in the file; this transaction scans the rest and
        # merges the 10 keys held in memory
        await journal.append(envelope("evt_next"))
        assert journal.statistics().key_merges == 1
    saved = _saved_filter(path)
    assert saved is not None
    assert saved[1] == _merged_through(path)  # so the next open uses it
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        await append_all(journal, _realistic_keys(20, seed=13, prefix="new:"))
        assert journal.statistics().keys_looked_up < 3
        assert await all_duplicates(journal, ids)


def test_a_filter_as_large_as_a_filter_gets_is_not_rebuilt_when_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_key_filter, "_MAX_BITS", 1 << 10)  # 32 keys
    conn = sqlite3.connect(tmp_path / "f.db", isolation_level=None)
    conn.execute("CREATE TABLE idem_keys (idem TEXT PRIMARY KEY, seq INTEGER) WITHOUT ROWID")
    conn.execute("CREATE TABLE key_filter (id, hash, keys, merged_through, bits)")
    filters = _key_filter.KeyFilters()
    filters.open(conn, merged_through=0)
    assert filters.ready
    keys = _realistic_keys(100, seed=14)
    filters.add(keys)  # three times its capacity: a larger one cannot be had
    assert filters.may_hold(keys) == keys
    conn.close()  # a build would have had to scan the table, now closed
    filters.step(conn, merged_through=0)


async def test_a_key_table_that_cannot_be_scanned_leaves_every_key_looked_up(
    path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        ids = await append_all(journal, _realistic_keys(30, seed=15))
    with _file(path) as conn:
        (in_file,) = conn.execute("SELECT count(*) FROM idem_keys").fetchone()
        conn.execute("INSERT INTO idem_keys VALUES (CAST(x'ff61' AS TEXT), 0)")  # not UTF-8
        conn.execute("UPDATE key_filter SET bits = x'00'")  # nor a filter this code saved
    async with open_journal(path, clock=clock) as journal:
        assert "key filter not built" in caplog.text
        assert await all_duplicates(journal, ids)
        assert not (await journal.append(envelope("evt_new"))).duplicate
        # every key not held in memory was looked up in the file: no filter rules one out
        assert journal.statistics().keys_looked_up == in_file + 1


async def test_a_filter_made_with_another_hash_is_not_used(path: Path, clock: FakeClock) -> None:
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        ids = await append_all(journal, _realistic_keys(40, seed=16))
    with _file(path) as conn:
        conn.execute("UPDATE key_filter SET hash = 'crc32', bits = zeroblob(length(bits))")
    async with open_journal(path, clock=clock) as journal:
        assert await all_duplicates(journal, ids)  # an empty filter would have missed them all
    with _file(path) as conn:
        assert conn.execute("SELECT hash FROM key_filter").fetchone() == (_key_filter.HASH,)
