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
from mediator.journal._rows import (
    ENTRY_COLUMNS,
    ENVELOPE_COLUMNS,
    check_text,
    entry_of,
    envelope_of,
    stored_time,
)
from mediator.journal.records import Entry

__all__ = [
    "ENTRY_COLUMNS",
    "ENVELOPE_COLUMNS",
    "INSERT_ACCEPTED",
    "INSERT_NEW",
    "INSERT_REPLAY",
    "PgRow",
    "arrays",
    "envelope_of",
    "numbered",
    "pg_row",
    "select_entries",
]

# id (32 hex digits), idem, key, partition, kind, source, occurred_at, schema_version,
# traceparent, attempt, payload: the order of INSERT_ACCEPTED's arrays.
PgRow = tuple[str, str, str, int, str, str, str, int, str | None, int, bytes]

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
#
# Every array but the payloads' is sent as one text literal that the server parses (see
# `arrays`): asyncpg's binary encoding of a 1,000-element array costs 0.2-0.4 ms of the loop's
# CPU per column (it checks each element against the Iterable, Sized and Mapping ABCs), 3.8 ms
# for the eleven, against 0.1 ms to join the literals; the ids go as hex, decoded there.
_INSERT_IN_KEY_ORDER = (
    f"INSERT INTO entries (seq, {_ROW_COLUMNS}, accepted_at, state, updated_at) "
    f"SELECT seq, {_ROW_COLUMNS}, $12, 0, $12 FROM ("
    "SELECT nextval('entries_seq_seq') AS seq, decode(hex_id, 'hex') AS id, idem, key, "
    "partition, kind, source, occurred_at, schema_version, traceparent, attempt, payload "
    "FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::int2[], "
    "$5::text::text[], $6::text::text[], $7::text::text[], $8::text::int4[], "
    "$9::text::text[], $10::text::int4[], $11::bytea[]) WITH ORDINALITY AS u(hex_id, idem, key, "
    "partition, kind, source, occurred_at, schema_version, traceparent, attempt, payload, n) "
    "ORDER BY n) AS drawn ORDER BY idem, id"
)
INSERT_ACCEPTED = _INSERT_IN_KEY_ORDER + " ON CONFLICT DO NOTHING RETURNING idem, id"

#: INSERT_ACCEPTED without ON CONFLICT: a known id or key fails it (unique_violation, after
#: waiting for a concurrent transaction that inserted the same key, as ON CONFLICT does). The
#: writer's first try when nothing suggests a duplicate: ON CONFLICT's speculative insertion
#: costs 4 of 16 ms of the server's time for 1,000 rows (EXPLAIN ANALYZE, medians of 35).
INSERT_NEW = _INSERT_IN_KEY_ORDER

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
    # (built field by field rather than from the SQLite row: 2.6 -> 1.9 us an envelope, and
    # this runs for every append)
    entry_id, idem, key, kind, source = (
        envelope.id, envelope.idempotency_key, envelope.key, envelope.kind, envelope.source,
    )  # fmt: skip
    trace = envelope.traceparent or None
    try:  # (ASCII, nearly always: a flag read each; anything else is checked the slow way)
        plain = (
            idem.isascii() and key.isascii() and kind.isascii() and source.isascii()
            and (trace is None or trace.isascii())
        )  # fmt: skip
    except AttributeError:
        plain = False
    if not plain:
        check_text(envelope)
    if "\x00" in f"{idem}{key}{kind}{source}{trace}":
        for field in _FIELDS:
            if "\x00" in (getattr(envelope, field) or ""):
                raise ValueError(f"envelope {field} holds a NUL character")
    try:
        hex_id = len(entry_id) == 32 and len(bytes.fromhex(entry_id)) == 16  # (skips spaces)
    except (TypeError, ValueError):
        hex_id = False
    if not hex_id:
        raise ValueError(f"envelope id must be 32 hex digits (a UUIDv7), not {entry_id!r}")
    return (
        entry_id.lower(), idem, key, partition_of(key), kind, source,
        str(stored_time(envelope.occurred_at)), envelope.schema_version, trace, envelope.attempt,
        bytes(envelope.payload),
    )  # fmt: skip


def arrays(rows: Sequence[PgRow]) -> list[Any]:
    """Return INSERT_ACCEPTED's eleven arrays: each column of `rows` as an array literal, but
    the payloads as a list (binary: a literal would double them as hex)."""
    if not rows:
        return [*(["{}"] * 10), []]
    ids, idems, keys, parts, kinds, sources, times, versions, traces, attempts, payloads = zip(
        *rows, strict=True
    )
    return [
        _text_array(ids), _text_array(idems), _text_array(keys), _int_array(parts),
        _text_array(kinds), _text_array(sources), _text_array(times), _int_array(versions),
        _text_array(traces), _int_array(attempts), list(payloads),
    ]  # fmt: skip


def _text_array(values: Sequence[str | None]) -> str:
    # PostgreSQL's array literal: every element quoted (so commas, braces, blanks and the word
    # NULL are plain text in it), a quote or backslash escaped by a backslash, None as NULL.
    if None not in values:
        body = '","'.join(values)  # type: ignore[arg-type]  # (no None: checked)
        # the common case, one join and no escaping: no quote but the separators', no backslash
        if body.count('"') == 2 * len(values) - 2 and "\\" not in body:
            return '{"' + body + '"}'
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _int_array(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


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
