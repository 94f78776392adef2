"""The SQLite journal's schema, its versions, and opening a file safely (runs in the writer thread).

A journal file is marked with `application_id` (so a foreign SQLite file is recognised) and
`user_version` (the schema version). Older versions are migrated forward in one transaction;
a newer version is refused, since this code cannot know what it means.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from mediator.errors import JournalError
from mediator.journal._faults import translate

APPLICATION_ID = 0x4D454449  # "MEDI"
WAL_LIMIT = 256 << 20  # bytes of WAL before the writer stops to start it over (_checkpoint)

# v1 and v2 kept entries in a WITHOUT ROWID table keyed by their UUIDv7 id with a unique index
# on the idempotency key; v3 (below) is the layout in use. The partial index covers only open
# states, so it stays small however long the history grows.
# occurred_at has no declared type (so no affinity): UTC times are integer microseconds, others
# ISO text, each kept exactly as written (see _rows.stored_time).
#
# What an append cost in v2, and layouts measured against it (1,000,000 entries, 1,000-row
# transactions of bench/journal's rows through plain sqlite3, FULL, single runs unless said):
# - the random half of the idempotency keys (evt_...) is most of the write: 3.1 MB of WAL per
#   commit against 0.6 MB with every key increasing, and 80k against 146k rows/s with
#   synchronous OFF. Each random key lands on its own leaf of the unique index, and every leaf
#   dirtied is a whole page in the WAL and again in the checkpoint.
# - an 8-byte blake2b hash of the key as the unique INTEGER key (the text kept in the row to
#   verify): 5.1 MB per commit, 45k against 54k rows/s; the hash makes the increasing half
#   random too. Rejected.
# - page_size 2048 or 1024: 2.0 / 2.2 MB per commit but two to three times the checkpoint work
#   per commit; 42k / 35k against 54k rows/s. Rejected.
# - a rowid table with a unique index on id: 46-49k against 41-50k rows/s, three interleaved
#   runs each: within noise, not worth a migration. cache_size 256 MiB or mmap 2 GiB: no
#   difference. Smaller rows: the table's pages are ~100 of the ~770 written per commit, so
#   packing traceparent and the like would save about 2%. Not done.
_V1 = [
    """CREATE TABLE entries (
        id BLOB PRIMARY KEY,
        idem TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        occurred_at NOT NULL,
        schema_version INTEGER NOT NULL,
        traceparent TEXT,
        attempt INTEGER NOT NULL,
        payload BLOB,
        accepted_at REAL NOT NULL,
        state INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at REAL,
        error TEXT,
        error_class TEXT,
        reason TEXT
    ) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX entries_idem ON entries(idem)",
    "CREATE INDEX entries_open ON entries(state, due_at) WHERE state < 6",
    """CREATE TABLE watermarks (
        name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL
    )""",
    """CREATE TABLE xref (
        entity_type TEXT NOT NULL, canonical_id TEXT NOT NULL,
        system TEXT NOT NULL, system_id TEXT NOT NULL, recorded_at REAL NOT NULL,
        PRIMARY KEY (entity_type, canonical_id, system)
    ) WITHOUT ROWID""",
    "CREATE UNIQUE INDEX xref_reverse ON xref(system, entity_type, system_id)",
]

# v2: replay lineage and release records on entries (replays share their original's
# idempotency key, so uniqueness now covers originals only), the failing system, flow state.
_V2 = [
    "ALTER TABLE entries ADD COLUMN system TEXT",
    "ALTER TABLE entries ADD COLUMN replay_of BLOB",
    "ALTER TABLE entries ADD COLUMN replay_count INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE entries ADD COLUMN released_by TEXT",
    "ALTER TABLE entries ADD COLUMN release_reason TEXT",
    "DROP INDEX entries_idem",
    "CREATE UNIQUE INDEX entries_idem ON entries(idem) WHERE replay_of IS NULL",
    """CREATE TABLE flows (
        flow TEXT NOT NULL, entity TEXT NOT NULL, state BLOB NOT NULL,
        version INTEGER NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (flow, entity)
    ) WITHOUT ROWID""",
]

# v3: idempotency keys leave the entries table (see _keys: a unique index of random keys in
# the append path cost one dirtied page per key, three quarters of an append's write). Entries
# become a rowid table whose `seq` is the order of appending, so the keys appended since the
# last merge into `idem_keys` are exactly those with seq above `keys_merged_through`.
_ENTRY_COLUMNS_V3 = """
    seq INTEGER PRIMARY KEY,
    id BLOB NOT NULL,
    idem TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    occurred_at NOT NULL,
    schema_version INTEGER NOT NULL,
    traceparent TEXT,
    attempt INTEGER NOT NULL,
    payload BLOB,
    accepted_at REAL NOT NULL,
    state INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at REAL,
    error TEXT,
    error_class TEXT,
    reason TEXT,
    system TEXT,
    replay_of BLOB,
    replay_count INTEGER NOT NULL DEFAULT 0,
    released_by TEXT,
    release_reason TEXT
"""
_COPIED = (
    "id, idem, key, kind, source, occurred_at, schema_version, traceparent, attempt, payload, "
    "accepted_at, state, updated_at, attempts, due_at, error, error_class, reason, system, "
    "replay_of, replay_count, released_by, release_reason"
)
_V3 = [
    f"CREATE TABLE entries_v3 ({_ENTRY_COLUMNS_V3})",
    f"INSERT INTO entries_v3 ({_COPIED}) SELECT {_COPIED} FROM entries ORDER BY id",
    "DROP TABLE entries",
    "ALTER TABLE entries_v3 RENAME TO entries",
    "CREATE UNIQUE INDEX entries_id ON entries(id)",
    "CREATE INDEX entries_open ON entries(state, due_at) WHERE state < 6",
    "CREATE TABLE idem_keys (idem TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO idem_keys (idem, seq) SELECT idem, seq FROM entries WHERE replay_of IS NULL "
    "ORDER BY idem",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO meta (name, value) "
    "SELECT 'keys_merged_through', coalesce(max(seq), 0) FROM entries",
]

# v4: a filter of the keys in idem_keys, saved with the end of each merge (see _key_filter). A
# file from v3 has none saved: the journal builds it as it runs.
_V4 = [
    """CREATE TABLE key_filter (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        hash TEXT NOT NULL,
        keys INTEGER NOT NULL,
        merged_through INTEGER NOT NULL,
        bits BLOB NOT NULL
    )""",
]

# v5: the operator's side (see operator.py, reads.py): the audit log of operator actions, the
# approvals store, and an index of replays by their original (only replays are in it, so
# appends never touch it). An index of entries by entity key was measured and rejected: with
# 1,000 producers over 500 keys it halved appends (37k against 72k/s, three interleaved runs
# of 100,000 appends): each transaction dirtied a leaf per key. reads.py finds an entity's
# open entries through entries_open and its recent history by a bounded scan instead.
_V5 = [
    "CREATE INDEX entries_replays ON entries(replay_of) WHERE replay_of IS NOT NULL",
    """CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, at REAL NOT NULL, who TEXT NOT NULL, role TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT, detail TEXT
    )""",
    """CREATE TABLE approvals (
        id TEXT PRIMARY KEY, flow TEXT NOT NULL, entity TEXT NOT NULL, what TEXT NOT NULL,
        amount INTEGER, currency TEXT, requested_at REAL NOT NULL, state TEXT NOT NULL,
        decided_by TEXT, decided_at REAL, reason TEXT
    ) WITHOUT ROWID""",
    "CREATE INDEX approvals_state ON approvals(state, requested_at)",
    "CREATE INDEX approvals_entity ON approvals(entity)",
]

MIGRATIONS: list[list[str]] = [_V1, _V2, _V3, _V4, _V5]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, *, synchronous: str) -> sqlite3.Connection:
    """Open (creating or migrating) the journal at `path`.

    Raises `JournalError` if it is not a journal this code can use, and `sqlite3.Error` if
    SQLite fails (the caller translates those with the rest of opening: see `_faults`)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        _prepare(conn, path, synchronous)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, synchronous: str) -> None:
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    has_tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0] > 0
    if app_id != APPLICATION_ID and (app_id != 0 or has_tables):
        raise JournalError(str(path), f"not a mediator journal (SQLite application_id {app_id:#x})")
    if version > SCHEMA_VERSION:
        raise JournalError(
            str(path),
            f"written by a newer mediator (schema {version}; this one reads up to "
            f"{SCHEMA_VERSION})",
        )
    # A file this process cannot write opens read-only without a word from SQLite, recovers,
    # and fails only at the first append: refuse it now (SQLITE_READONLY). A change to a page
    # is what SQLite checks (BEGIN IMMEDIATE alone passes in WAL mode); rolled back, it
    # writes nothing.
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version={version:d}")
    finally:
        if conn.in_transaction:  # (SQLite may have rolled back already, on an I/O error)
            conn.execute("ROLLBACK")
    if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
        raise JournalError(
            str(path),
            "cannot switch to WAL mode (SQLite needs shared memory beside the file: not on a "
            "network filesystem); move the journal to a local disk",
        )
    conn.execute(f"PRAGMA synchronous={synchronous}")
    # 64 MiB of page cache: the key table (idem_keys) of a few million keys stays in memory.
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    # Reads of index pages through the map rather than a read() each: duplicate look-ups and
    # B-tree descents touch random pages of the key table.
    conn.execute("PRAGMA mmap_size=268435456")
    # Checkpoints run on a connection of their own (see _checkpoint); a reset WAL is cut back.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
    if version < SCHEMA_VERSION:
        _migrate(conn, path, version)


def _migrate(conn: sqlite3.Connection, path: Path, version: int) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statements in MIGRATIONS[version:]:
            for sql in statements:
                conn.execute(sql)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        with contextlib.suppress(sqlite3.Error):  # (its own failure would hide the cause)
            conn.execute("ROLLBACK")
        raise translate(
            path, f"migration from schema {version} to {SCHEMA_VERSION} failed", exc
        ) from exc
