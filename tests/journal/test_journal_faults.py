"""Faults of the file and the disk leave the journal as a `JournalError` naming the file and
what to do: a damaged page, a full disk, a file this process cannot write."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

import pytest

from mediator.errors import JournalError
from mediator.journal import DeadLetterFilter, open_journal
from mediator.journal._schema import SCHEMA_VERSION as SCHEMA  # the version files migrate to
from mediator.testing import FakeClock
from tests.journal.support import all_duplicates, append_all, envelope
from tests.journal.test_journal_file import V1_DDL

CHILD = Path(__file__).with_name("fault_child.py")
PAGE = 4096
SEED = 1313


class _Options(TypedDict, total=False):
    memory_keys: int


async def _filled(
    path: Path, clock: FakeClock, *, entries: int = 600, **options: Unpack[_Options]
) -> None:
    async with open_journal(path, clock=clock, **options) as journal:
        await append_all(journal, [f"evt_{n}" for n in range(entries)])


def _leaf_pages(path: Path, table: str) -> list[int]:
    with sqlite3.connect(path) as conn:  # (SQLite's dbstat table: built into CPython's)
        rows = conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        ).fetchall()
    conn.close()
    return [page for (page,) in rows]


def _garbage_over(path: Path, page: int) -> None:
    print(f"garbage over page {page} of {path.name}, seed {SEED}")
    with path.open("r+b") as file:
        file.seek((page - 1) * PAGE)  # (pages count from 1)
        file.write(random.Random(SEED).randbytes(PAGE))


async def test_a_garbage_page_in_the_middle_is_refused_at_open(
    path: Path, clock: FakeClock
) -> None:
    await _filled(path, clock)
    leaves = _leaf_pages(path, "entries")
    _garbage_over(path, leaves[len(leaves) // 2])
    with pytest.raises(JournalError) as caught:  # not sqlite3.DatabaseError from the key loading
        async with open_journal(path, clock=clock):
            pass
    assert caught.value.path == str(path)
    assert "cannot open: the file is damaged" in caught.value.reason
    assert "restore it from a backup" in caught.value.reason
    assert ".recover" in caught.value.reason


async def test_a_garbage_page_found_by_a_read_fails_that_read(path: Path, clock: FakeClock) -> None:
    # With small memory_keys every key is merged into the key table, so opening reads no
    # entry: the damage is met by the first read that needs the page.
    await _filled(path, clock, memory_keys=10)
    leaves = _leaf_pages(path, "entries")
    _garbage_over(path, leaves[len(leaves) // 2])
    async with open_journal(path, clock=clock) as journal:
        with pytest.raises(JournalError) as caught:  # was sqlite3.DatabaseError
            await journal.recover()
        assert caught.value.path == str(path)
        assert "read failed: the file is damaged" in caught.value.reason
        assert await journal.list_dead(DeadLetterFilter()) == []  # other reads still work


def _child(path: Path, *options: str) -> Any:
    """The child's report: its JSON line, whose fields the caller asserts."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, str(CHILD), str(path), *options],
        capture_output=True,
        env=env,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_a_full_disk_during_open_is_a_journal_error(path: Path, clock: FakeClock) -> None:
    await _filled(path, clock, entries=50)
    with sqlite3.connect(path) as conn:  # no saved key filter: opening builds and saves one
        conn.execute("DELETE FROM key_filter")
    conn.close()
    # The saved filter is 256 KiB: past the limit, its write fails like one on a full disk.
    opened = _child(path, "--file-size-limit", str(64 * 1024))
    assert opened["error"] == "JournalError", opened  # was sqlite3.OperationalError
    assert opened["path"] == path.name
    reason = str(opened["reason"])
    assert reason.startswith("cannot open: a read or write of the file failed"), reason
    assert "bytes free on its filesystem" in reason
    assert "check the disk (a full disk" in reason
    async with open_journal(path, clock=clock) as journal:  # and nothing was damaged
        assert len(await journal.recover()) == 50


@pytest.fixture
def shared_path() -> Iterator[Path]:
    """A journal's path in a directory that `nobody` can reach: SQLite opens a file by its
    absolute path, and pytest's temporary directories are private to their owner."""
    with tempfile.TemporaryDirectory(prefix="mediator-journal-") as name:
        Path(name).chmod(0o777)
        yield Path(name) / "journal.db"


async def test_a_full_disk_during_a_migration_is_a_journal_error(
    path: Path, clock: FakeClock
) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    with conn:  # 200 KiB of entries to copy into the new layout
        for n in range(200):
            old = envelope(f"evt_{n}")
            conn.execute(
                "INSERT INTO entries (id, idem, key, kind, source, occurred_at, schema_version, "
                "attempt, payload, accepted_at, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, 0, ?, 100.0, 0, 100.0)",
                (bytes.fromhex(old.id), old.idempotency_key, old.key, old.kind, old.source,
                 old.occurred_at.isoformat(), b"x" * 1024),
            )  # fmt: skip
    conn.close()
    opened = _child(path, "--file-size-limit", str(64 * 1024))
    assert opened["error"] == "JournalError", opened
    reason = str(opened["reason"])
    assert reason.startswith(f"migration from schema 1 to {SCHEMA} failed: a read or write"), reason
    with sqlite3.connect(path) as conn:  # left as it was
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)
    conn.close()
    async with open_journal(path, clock=clock) as journal:  # migrated once there is room
        assert len(await journal.recover()) == 200
        assert (await journal.append(envelope("evt_1"))).duplicate


async def test_a_full_disk_fails_the_write_and_the_journal_goes_on_once_freed(
    path: Path, clock: FakeClock
) -> None:
    await _filled(path, clock, entries=5)
    filled = _child(path, "--file-size-limit", str(2 << 20), "--fill")
    assert filled["error"] == "JournalError", filled  # the append's own failure
    reason = str(filled["reason"])
    assert reason.startswith("write failed: a read or write of the file failed"), reason
    assert filled["appended"] > 0
    assert filled["after"] is True  # the writer went on: the next append, with room, worked
    async with open_journal(path, clock=clock) as journal:  # and every acknowledged one is kept
        assert len(await journal.recover()) == 5 + filled["appended"] + 1


def _refuse_writes(path: Path) -> list[str]:
    # A directory anyone may enter and write, holding a file only its owner may read.
    path.chmod(0o444)
    return ["--as-nobody"] if os.geteuid() == 0 else []  # root is denied nothing by modes


async def test_a_read_only_journal_is_refused_at_open(shared_path: Path, clock: FakeClock) -> None:
    path = shared_path
    await _filled(path, clock, entries=20)
    opened = _child(path, *_refuse_writes(path))
    assert opened["error"] == "JournalError", opened  # it opened and recovered before
    assert opened["path"] == path.name
    reason = str(opened["reason"])
    assert reason.startswith("cannot open: the file cannot be written by this process"), reason
    assert "writable by the user mediator runs as" in reason
    path.chmod(0o644)
    async with open_journal(path, clock=clock) as journal:  # and it was left as it was
        assert len(await journal.recover()) == 20


async def test_a_journal_in_a_read_only_directory_is_refused_at_open(
    shared_path: Path, clock: FakeClock
) -> None:
    path = shared_path
    await _filled(path, clock, entries=20)
    options = _refuse_writes(path)
    path.chmod(0o666)
    path.parent.chmod(0o555)  # the file may be written, but no -wal file created beside it
    try:
        opened = _child(path, *options)
    finally:
        path.parent.chmod(0o777)
    assert opened["error"] == "JournalError", opened
    assert opened["path"] == path.name
    reason = str(opened["reason"])
    assert reason.startswith("cannot open: the file cannot be written by this process"), reason
    assert "its directory writable" in reason


async def test_a_missing_directory_is_named(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "nowhere" / "journal.db"
    with pytest.raises(JournalError) as caught:
        async with open_journal(path, clock=clock):
            pass
    assert caught.value.path == str(path)
    assert "cannot open: the file cannot be opened" in caught.value.reason
    assert "check that its directory exists" in caught.value.reason


def _damage_entry(path: Path, idem: str, column: str) -> str:
    # A value SQLite stores whole but the journal cannot read back: a flipped bit that left the
    # page's structure intact, or a row written behind the journal's back.
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE entries SET {column} = 'garbage' WHERE idem = ?", (idem,))
        (raw_id,) = conn.execute("SELECT id FROM entries WHERE idem = ?", (idem,)).fetchone()
    conn.close()
    return bytes(raw_id).hex()


async def test_a_damaged_entry_fails_the_read_that_meets_it_and_the_journal_goes_on(
    path: Path, clock: FakeClock
) -> None:
    await _filled(path, clock, entries=5)
    damaged = _damage_entry(path, "evt_2", "accepted_at")
    async with open_journal(path, clock=clock) as journal:
        with pytest.raises(JournalError) as caught:  # was ValueError
            await journal.recover()
        assert caught.value.path == str(path)
        assert f"read failed: the file is damaged (entry {damaged} cannot be read" in str(
            caught.value
        )
        assert "repair or delete that row" in caught.value.reason
        assert not (await journal.append(envelope("evt_new"))).duplicate


async def test_a_damaged_entry_met_by_a_write_fails_that_write_only(
    path: Path, clock: FakeClock
) -> None:
    await _filled(path, clock, entries=5)
    damaged = _damage_entry(path, "evt_2", "occurred_at")
    async with open_journal(path, clock=clock) as journal:
        with pytest.raises(JournalError) as caught:  # the duplicate's receipt reads the entry
            await journal.append(envelope("evt_2"))
        assert f"write failed: the file is damaged (entry {damaged}" in caught.value.reason
        # the writer went on (a ValueError from the row stopped the whole journal before)
        assert not (await journal.append(envelope("evt_new"))).duplicate
        assert (await journal.append(envelope("evt_3"))).duplicate


async def test_a_journal_without_its_merge_mark_is_refused_at_open(
    path: Path, clock: FakeClock
) -> None:
    await _filled(path, clock, entries=5)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM meta WHERE name = 'keys_merged_through'")
    conn.close()
    with pytest.raises(JournalError) as caught:  # was TypeError from the key loading
        async with open_journal(path, clock=clock):
            pass
    assert caught.value.path == str(path)
    assert "cannot open: the file is damaged (the meta table's keys_merged_through" in str(
        caught.value.reason
    )


async def test_a_saved_filter_with_a_count_that_is_not_a_number_is_rebuilt(
    path: Path, clock: FakeClock
) -> None:
    await _filled(path, clock, entries=40, memory_keys=10)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE key_filter SET keys = 'garbage'")
    conn.close()
    # (merges add keys to the filter in use: its count was added to, a TypeError that stopped
    # the writer)
    async with open_journal(path, clock=clock, memory_keys=10) as journal:
        assert all([(await journal.append(envelope(f"evt_{n}"))).duplicate for n in range(40)])
        fresh = await append_all(journal, [f"evt_new_{n}" for n in range(40)])
        assert len(fresh) == 40
        assert await all_duplicates(journal, fresh)


async def test_a_garbage_page_in_the_key_table_is_refused_at_open(
    path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await _filled(path, clock, entries=1000, memory_keys=100)  # keys merged into idem_keys
    with sqlite3.connect(path) as conn:  # no saved filter: opening scans idem_keys for one
        conn.execute("DELETE FROM key_filter")
    conn.close()
    leaves = _leaf_pages(path, "idem_keys")
    assert len(leaves) > 2
    _garbage_over(path, leaves[len(leaves) // 2])
    with pytest.raises(JournalError) as caught:  # was sqlite3.DatabaseError from the filter
        async with open_journal(path, clock=clock):
            pass
    assert "cannot open: the file is damaged" in caught.value.reason
    assert "key filter not built" not in caplog.text  # a fault, not a key it cannot read
