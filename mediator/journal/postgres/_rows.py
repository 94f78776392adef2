"""Converting between envelopes/entries and the PostgreSQL journal's rows.

The columns and their meaning are SQLite's (see `mediator.journal._rows`, whose readers are
reused: asyncpg returns bytea as bytes and numbers as numbers, as sqlite3 does); what differs
is the row an appender builds (with its partition, and `occurred_at` as text) and the
placeholders (`$n`, not `?`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import asyncpg

from mediator.cluster.partitions import partition_of
from mediator.codecs.canonical.envelope import Envelope
from mediator.journal._rows import ENTRY_COLUMNS, ENVELOPE_COLUMNS, entry_of, envelope_of
from mediator.journal._rows import envelope_row as _envelope_row
from mediator.journal.records import Entry

__all__ = [
    "ENTRY_COLUMNS",
    "ENVELOPE_COLUMNS",
    "INSERT_ACCEPTED",
    "INSERT_REPLAY",
    "PgRow",
    "columns",
    "envelope_of",
    "numbered",
    "pg_row",
    "select_entries",
]

# id, idem, key, partition, kind, source, occurred_at, schema_version, traceparent, attempt,
# payload: the order of INSERT_ACCEPTED's arrays.
PgRow = tuple[bytes, str, str, int, str, str, str, int, str | None, int, bytes]

_ROW_COLUMNS = (
    "id, idem, key, partition, kind, source, occurred_at, schema_version, traceparent, attempt, "
    "payload"
)

# All of a batch's appends in one statement, one array per column: one round trip and one plan
# whatever the batch's size (42-44k rows/s in 1,000-row transactions against 36k for psycopg 3's
# pipeline, measured when the driver was chosen). ON CONFLICT DO NOTHING skips a known id or
# idempotency key (the unique index on originals' `idem`), waiting for a concurrent transaction
# that inserted the same key to end: two daemons appending one key make one entry. Rows go in
# in key order, so that two daemons appending overlapping keys wait for each other in the same
# order (in arrival order they deadlocked: tests/journal/test_journal_postgres.py), while their
# seqs are drawn in arrival order first, so that an entity's entries keep theirs.
INSERT_ACCEPTED = (
    f"INSERT INTO entries (seq, {_ROW_COLUMNS}, accepted_at, state, updated_at) "
    f"SELECT seq, {_ROW_COLUMNS}, $12, 0, $12 FROM ("
    f"SELECT nextval('entries_seq_seq') AS seq, {_ROW_COLUMNS} FROM unnest($1::bytea[], "
    "$2::text[], $3::text[], $4::int2[], $5::text[], $6::text[], $7::text[], $8::int4[], "
    f"$9::text[], $10::int4[], $11::bytea[]) WITH ORDINALITY AS u({_ROW_COLUMNS}, n) "
    "ORDER BY n) AS drawn ORDER BY idem, id "
    "ON CONFLICT DO NOTHING RETURNING idem, id"
)

INSERT_REPLAY = (
    f"INSERT INTO entries ({_ROW_COLUMNS}, accepted_at, state, updated_at, replay_of, "
    "replay_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, 0, $11, $12, $13)"
)

_FIELDS = ("idempotency_key", "key", "kind", "source", "traceparent")


def pg_row(envelope: Envelope) -> PgRow:
    """Return the row `envelope` is inserted as, with its partition (built by the appender, on
    the loop, rather than in the writer's transaction).

    Raises `ValueError` naming the field if the envelope cannot be stored (an id that is not
    32 hex digits, text UTF-8 cannot hold, or a NUL character, which PostgreSQL's text cannot
    hold), so that it fails its own caller and not every append gathered with it.
    """
    row = _envelope_row(envelope)
    idem, key, kind, source, trace = row[1], row[2], row[3], row[4], row[7]
    if "\x00" in f"{idem}{key}{kind}{source}{trace}":
        for field in _FIELDS:
            if "\x00" in (getattr(envelope, field) or ""):
                raise ValueError(f"envelope {field} holds a NUL character")
    return (
        bytes(row[0]),  # type: ignore[call-overload]  # a bytearray: envelope_row's id
        str(idem),
        str(key),
        partition_of(str(key)),
        str(kind),
        str(source),
        str(row[5]),
        int(row[6]),  # type: ignore[call-overload]  # an int: the schema version
        str(trace) or None,
        int(row[8]),  # type: ignore[call-overload]  # an int: the attempt
        bytes(row[9]),  # type: ignore[call-overload]  # a bytearray: the payload
    )


def columns(rows: Sequence[PgRow]) -> list[list[Any]]:
    """Transpose rows into INSERT_ACCEPTED's arrays."""
    if not rows:
        return [[] for _ in range(11)]
    return [list(column) for column in zip(*rows, strict=True)]


_MARK = re.compile(r"\?")


def numbered(clause: str, start: int = 1) -> str:
    """Rewrite SQLite's `?` placeholders as `$start`, `$start+1`, ... (the shared clause
    builders, e.g. `dead_letter_query`, write `?`)."""
    counter = itertools.count(start)
    return _MARK.sub(lambda _: f"${next(counter)}", clause)


async def select_entries(
    conn: asyncpg.Connection[Any] | asyncpg.pool.PoolConnectionProxy[Any],
    where: str,
    *params: object,
) -> list[Entry]:
    """Return the entries matching a WHERE clause (with `$n` placeholders; it may end in ORDER
    BY / LIMIT)."""
    rows = await conn.fetch(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}", *params)
    return [entry_of(tuple(row)) for row in rows]
