"""Opening files: what is not a journal, corrupt or newer is refused; older schemas migrate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mediator.errors import JournalError
from mediator.journal import DeadLetterFilter, EntryState, open_journal
from mediator.testing import FakeClock
from tests.journal.support import envelope

# The schema as version 1 shipped it, verbatim: the fixture an upgraded installation starts from.
V1_DDL = """
CREATE TABLE entries (
    id BLOB PRIMARY KEY, idem TEXT NOT NULL, key TEXT NOT NULL, kind TEXT NOT NULL,
    source TEXT NOT NULL, occurred_at NOT NULL, schema_version INTEGER NOT NULL,
    traceparent TEXT, attempt INTEGER NOT NULL, payload BLOB, accepted_at REAL NOT NULL,
    state INTEGER NOT NULL, updated_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    due_at REAL, error TEXT, error_class TEXT, reason TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX entries_idem ON entries(idem);
CREATE INDEX entries_open ON entries(state, due_at) WHERE state < 6;
CREATE TABLE watermarks (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE xref (
    entity_type TEXT NOT NULL, canonical_id TEXT NOT NULL, system TEXT NOT NULL,
    system_id TEXT NOT NULL, recorded_at REAL NOT NULL,
    PRIMARY KEY (entity_type, canonical_id, system)
) WITHOUT ROWID;
CREATE UNIQUE INDEX xref_reverse ON xref(system, entity_type, system_id);
PRAGMA application_id = 1296385097;
PRAGMA user_version = 1;
"""


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _overwrite(path: Path, *, start: int, end: int) -> None:
    data = bytearray(path.read_bytes())
    data[start:end] = b"\xff" * (end - start)
    path.write_bytes(bytes(data))


async def test_corrupt_file_is_refused(path: Path, clock: FakeClock) -> None:
    _write(path, b"\x00garbage, not a database\x00" * 200)
    with pytest.raises(JournalError) as caught:
        async with open_journal(path, clock=clock):
            pass
    assert caught.value.path == str(path)
    assert "not a usable SQLite database" in caught.value.reason


async def test_damaged_journal_is_refused(path: Path, clock: FakeClock) -> None:
    async with open_journal(path, clock=clock) as journal:
        await journal.append(envelope("evt_1"))
    _overwrite(path, start=100, end=4096)  # the rest of the first page: the schema
    with pytest.raises(JournalError) as caught:
        async with open_journal(path, clock=clock):
            pass
    assert str(path) in str(caught.value)


async def test_foreign_sqlite_file_is_refused(path: Path, clock: FakeClock) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE task (id INTEGER PRIMARY KEY, data BLOB)")
    with pytest.raises(JournalError) as caught:
        async with open_journal(path, clock=clock):
            pass
    assert "not a mediator journal" in caught.value.reason
    with sqlite3.connect(path) as conn:  # and it was left untouched
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema")]
    assert names == ["task"]


async def test_newer_journal_is_refused(path: Path, clock: FakeClock) -> None:
    async with open_journal(path, clock=clock):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(JournalError) as caught:
        async with open_journal(path, clock=clock):
            pass
    assert "newer" in caught.value.reason
    assert "99" in caught.value.reason


async def test_version_one_file_is_migrated(path: Path, clock: FakeClock) -> None:
    old = envelope("harvest:time_entry:7")
    conn = sqlite3.connect(path)
    conn.executescript(V1_DDL)
    conn.execute(
        "INSERT INTO entries (id, idem, key, kind, source, occurred_at, schema_version, "
        "traceparent, attempt, payload, accepted_at, state, updated_at, attempts, reason, "
        "error_class) VALUES (?, ?, ?, ?, ?, ?, 1, NULL, 0, ?, 100.0, 4, 100.0, 5, ?, ?)",
        (bytes.fromhex(old.id), old.idempotency_key, old.key, old.kind, old.source,
         old.occurred_at.isoformat(), bytes(old.payload), "rate missing", "DecodeError"),
    )  # fmt: skip
    conn.commit()
    conn.close()

    async with open_journal(path, clock=clock) as journal:
        dead = await journal.list_dead(DeadLetterFilter())
        assert [d.envelope for d in dead] == [old]
        assert dead[0].state is EntryState.DEAD
        assert dead[0].replay_count == 0
        assert (await journal.append(envelope(old.idempotency_key))).duplicate
        assert await journal.save_flow("billing", "project:P-1", b"{}", expected_version=0)
        report = await journal.replay(DeadLetterFilter(), dry_run=False)
        assert report.sent[0].replay_of == old.id

    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 5
        # v4's key filter, built on open from the migrated keys and saved
        assert conn.execute("SELECT keys FROM key_filter").fetchone() == (1,)
