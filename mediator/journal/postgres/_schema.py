"""The PostgreSQL journal's schema, its versions, and creating or migrating it.

The tables mirror the SQLite journal's (same names, same columns, same state numbers), so
that a read written for one reads the other with only its placeholders changed; what differs
is said where it differs. Everything lives in one PostgreSQL schema (namespace), `mediator`
by default, so a database can hold several journals (one per firm, or one per test).

The schema's version is in `meta` (``schema_version``); older versions are migrated forward
in one transaction under an advisory lock (two daemons starting at once migrate once), and a
newer version is refused.
"""

from __future__ import annotations

from mediator.cluster.partitions import PARTITIONS  # noqa: F401 - the schema's, named here too

# v1. Differences from SQLite's v5:
# - `occurred_at` is text: integer microseconds since the epoch for UTC times (digits), ISO
#   text for any other offset, as SQLite keeps them in a column without affinity.
# - `partition` (the entity key's partition, see mediator.cluster.partitions) is stored with
#   each entry, so that a daemon finds the open entries of the partitions it holds by index.
# - idempotency keys are a unique partial index on `idem` (originals only): PostgreSQL's
#   B-tree pages are written to the WAL once per checkpoint, not once per commit, so the
#   two-level key table SQLite needs (_keys) buys nothing here, and a unique index is what
#   makes a key appended by two daemons at once one entry.
# - `txid`: the transaction that last made the entry accepted (its append, or a release or
#   replay that unparked it: such ops set it again). Daemons pick up the accepted entries of
#   their partitions in (txid, seq) order, reading only transactions older than the oldest
#   still running (`pg_snapshot_xmin`): a seq is drawn before its transaction commits, so
#   reading by seq alone would skip a row whose transaction commits after a later one's.
# - `leases` (partitions and singletons, see mediator.cluster.leases), `members` (the daemons
#   alive, for rebalancing) and `buckets` (vendor rate limits shared by the cluster).
_V1 = [
    """CREATE TABLE entries (
        seq BIGSERIAL PRIMARY KEY,
        id BYTEA NOT NULL,
        idem TEXT NOT NULL,
        key TEXT NOT NULL,
        partition SMALLINT NOT NULL,
        kind TEXT NOT NULL,
        source TEXT NOT NULL,
        occurred_at TEXT NOT NULL,
        schema_version INTEGER NOT NULL,
        traceparent TEXT,
        attempt INTEGER NOT NULL,
        payload BYTEA,
        accepted_at DOUBLE PRECISION NOT NULL,
        state SMALLINT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        due_at DOUBLE PRECISION,
        error TEXT,
        error_class TEXT,
        reason TEXT,
        system TEXT,
        replay_of BYTEA,
        replay_count INTEGER NOT NULL DEFAULT 0,
        released_by TEXT,
        release_reason TEXT,
        txid BIGINT NOT NULL DEFAULT pg_current_xact_id()::text::bigint
    )""",
    "CREATE UNIQUE INDEX entries_id ON entries(id)",
    "CREATE UNIQUE INDEX entries_idem ON entries(idem) WHERE replay_of IS NULL",
    "CREATE INDEX entries_open ON entries(state, due_at) WHERE state < 6",
    "CREATE INDEX entries_open_partition ON entries(partition, seq) WHERE state < 6",
    "CREATE INDEX entries_intake ON entries(txid, seq) WHERE state = 0",
    "CREATE INDEX entries_replays ON entries(replay_of) WHERE replay_of IS NOT NULL",
    """CREATE TABLE watermarks (
        name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE xref (
        entity_type TEXT NOT NULL, canonical_id TEXT NOT NULL,
        system TEXT NOT NULL, system_id TEXT NOT NULL, recorded_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (entity_type, canonical_id, system)
    )""",
    "CREATE UNIQUE INDEX xref_reverse ON xref(system, entity_type, system_id)",
    """CREATE TABLE flows (
        flow TEXT NOT NULL, entity TEXT NOT NULL, state BYTEA NOT NULL,
        version INTEGER NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (flow, entity)
    )""",
    """CREATE TABLE audit (
        seq BIGSERIAL PRIMARY KEY, at DOUBLE PRECISION NOT NULL, who TEXT NOT NULL,
        role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT,
        detail TEXT
    )""",
    """CREATE TABLE approvals (
        id TEXT PRIMARY KEY, flow TEXT NOT NULL, entity TEXT NOT NULL, what TEXT NOT NULL,
        amount BIGINT, currency TEXT, requested_at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL, decided_by TEXT, decided_at DOUBLE PRECISION, reason TEXT
    )""",
    "CREATE INDEX approvals_state ON approvals(state, requested_at)",
    "CREATE INDEX approvals_entity ON approvals(entity)",
    """CREATE TABLE leases (
        name TEXT PRIMARY KEY, owner TEXT, epoch BIGINT NOT NULL DEFAULT 0,
        expires_at DOUBLE PRECISION NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE members (
        daemon TEXT PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL
    )""",
    """CREATE TABLE buckets (
        name TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
]

MIGRATIONS: list[list[str]] = [_V1]
SCHEMA_VERSION = len(MIGRATIONS)
