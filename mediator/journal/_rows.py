"""Converting between envelopes/entries and SQLite rows (runs in the writer thread)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain

import msgspec

from mediator.codecs.canonical.envelope import Envelope
from mediator.journal._faults import DamagedRecord
from mediator.journal.records import DeadLetterFilter, Entry, EntryState

ENVELOPE_COLUMNS = (
    "id, idem, key, kind, source, occurred_at, schema_version, traceparent, attempt, payload"
)
ENTRY_COLUMNS = (
    f"{ENVELOPE_COLUMNS}, accepted_at, state, updated_at, attempts, due_at, error, error_class, "
    "system, reason, replay_of, replay_count, released_by, release_reason"
)

_INSERT = (
    "INSERT OR IGNORE INTO entries (id, idem, key, kind, source, occurred_at, schema_version, "
    "traceparent, attempt, payload, accepted_at, state, updated_at) VALUES "
)
INSERT_ACCEPTED = _INSERT + "(?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?, 0, ?)"

# Multi-row statements of a few fixed sizes (so they stay in the statement cache). One statement
# of 256 rows is one trip into SQLite without the GIL, where executemany takes 256 trips and must
# win the GIL back from the event loop after each (bench/journal: `writer_choice` and the
# executemany ceiling). Parameter 1 is the batch's time, shared by every row; each row's own
# columns follow it.
_SHAPES = (256, 64, 16, 4, 1)
_WIDTH = 10  # the columns of an EnvelopeRow


def _values(row: int) -> str:
    first = 2 + row * _WIDTH
    own = [f"?{n}" for n in range(first, first + _WIDTH)]
    own[7] = f"NULLIF({own[7]}, '')"  # traceparent: see envelope_row
    return f"({', '.join(own)}, ?1, 0, ?1)"


_INSERT_MANY = {n: _INSERT + ", ".join(_values(row) for row in range(n)) for n in _SHAPES}

INSERT_REPLAY = (
    "INSERT INTO entries (id, idem, key, kind, source, occurred_at, schema_version, "
    "traceparent, attempt, payload, accepted_at, state, updated_at, replay_of, replay_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)"
)

Row = tuple[object, ...]
EnvelopeRow = tuple[object, ...]  # ENVELOPE_COLUMNS of one envelope, as stored

# SQLite's default limit on host parameters is 32,766; stay far below it per IN (...) list.
CHUNK = 500


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def stored_time(moment: datetime) -> int | str:
    """Return `moment` as stored: UTC times as integer microseconds since the epoch (a third of
    the cost of `isoformat`, measured in bench/journal), any other as ISO text; both exact."""
    if moment.tzinfo is UTC:
        return (moment - _EPOCH) // _MICROSECOND
    return moment.isoformat()


def loaded_time(value: object) -> datetime:
    """Invert `stored_time`; digits in text are microseconds too (PostgreSQL keeps the column
    as text: see postgres/_schema)."""
    if isinstance(value, int):
        return _EPOCH + timedelta(microseconds=value)
    text = str(value)
    if text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return _EPOCH + timedelta(microseconds=int(text))
    return datetime.fromisoformat(text)


def envelope_row(envelope: Envelope) -> EnvelopeRow:
    """Return the stored form of `envelope`'s own columns (ENVELOPE_COLUMNS, in order).

    Built by the appender, on the event loop's thread, rather than in the writer's transaction
    (4.5 -> 3.6 ms of writer CPU per 500-row transaction, bench/journal; both threads share the
    GIL: see _writer). Raises `ValueError` if the envelope's id is not 32 hex digits, so that a
    malformed envelope fails its own caller and not every write gathered into its transaction;
    so does one whose text fields are not text that UTF-8 can hold (a lone surrogate, say).

    Every value is of a type that `sqlite3` binds directly (str, int, float, bytearray): any
    other (bytes, None, the payload's msgspec.Raw) first goes through its adapter look-up,
    which fails at the cost of an exception each, under the writer's GIL. A 256-row insert
    bound 4.3 µs per row so and 2.3 µs this way. Hence blobs as bytearrays, and a missing
    traceparent as "" (stored as NULL by the insert's NULLIF: an empty traceparent, which
    carries no trace, is journaled as none).
    """
    # (stored_time and the id check inlined: this runs for every append)
    entry_id, moment = envelope.id, envelope.occurred_at
    idem, key, kind, source = (
        envelope.idempotency_key, envelope.key, envelope.kind, envelope.source,
    )  # fmt: skip
    traceparent = envelope.traceparent or ""
    try:  # (ASCII, nearly always: a flag read each; anything else is checked the slow way)
        plain = (
            idem.isascii() and key.isascii() and kind.isascii() and source.isascii()
            and traceparent.isascii()
        )  # fmt: skip
    except AttributeError:
        plain = False
    if not plain:
        _check_text(envelope)
    try:
        raw_id = bytearray.fromhex(entry_id)
    except (TypeError, ValueError):
        raw_id = bytearray()
    if len(raw_id) != 16 or len(entry_id) != 32:  # (fromhex skips spaces)
        raise ValueError(f"envelope id must be 32 hex digits (a UUIDv7), not {entry_id!r}")
    return (
        raw_id, idem, key, kind, source,
        (moment - _EPOCH) // _MICROSECOND if moment.tzinfo is UTC else moment.isoformat(),
        envelope.schema_version, traceparent, envelope.attempt,
        bytearray(envelope.payload),
    )  # fmt: skip


def _check_text(envelope: Envelope) -> None:
    # Raise ValueError naming the first field that SQLite (and the key filter) cannot take.
    for field in ("idempotency_key", "key", "kind", "source", "traceparent"):
        value = getattr(envelope, field)
        if value is None and field == "traceparent":
            continue
        if type(value) is not str:
            raise ValueError(f"envelope {field} must be text, not {type(value).__name__}")
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(f"envelope {field} is not valid text: {exc.reason}") from None


def accepted_row(envelope: Envelope, now: float) -> Row:
    """Return the INSERT_ACCEPTED parameters of `envelope`."""
    return (*envelope_row(envelope), now, now)


def insert_accepted(
    conn: sqlite3.Connection, rows: list[EnvelopeRow], now: float
) -> list[tuple[str, int]]:
    """Insert rows as accepted (ignoring known ids); return (key, seq) of those inserted.

    The seqs are worked out rather than fetched with RETURNING: this runs on the writer's
    thread, and every row fetched is a step into SQLite that gives the GIL up and must win it
    back from a busy event loop. A rowid table gives each row inserted the largest seq so far
    plus one, so a statement's rows hold the `rowcount` seqs up to its `lastrowid`; when some
    were ignored, those seqs are read back to tell which.
    """
    inserted: list[tuple[str, int]] = []
    start, total = 0, len(rows)
    for size in _SHAPES:
        statement = _INSERT_MANY[size]
        while total - start >= size:
            part = rows[start : start + size]
            cur = conn.execute(statement, [now, *chain.from_iterable(part)])
            count, last = cur.rowcount, cur.lastrowid or 0
            if count == size:
                idems = [row[1] for row in part]
                inserted.extend(zip(idems, range(last - size + 1, last + 1), strict=True))  # type: ignore[arg-type]  # a row's second column is its idem key, a str
            elif count:
                inserted.extend(conn.execute(
                    "SELECT idem, seq FROM entries WHERE seq BETWEEN ? AND ?",
                    (last - count + 1, last)))  # fmt: skip
            start += size
    return inserted


def envelope_of(row: Sequence[object]) -> Envelope:
    """Rebuild the envelope from a row starting with ENVELOPE_COLUMNS; raise `DamagedRecord`
    if a value cannot be read back."""
    try:
        return _envelope_of(row)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DamagedRecord(_which(row), str(exc)) from exc


def _which(row: Sequence[object]) -> str:
    raw_id = row[0]
    return f"entry {raw_id.hex()}" if isinstance(raw_id, bytes) else f"an entry with id {raw_id!r}"


def _envelope_of(row: Sequence[object]) -> Envelope:
    raw_id, idem, key, kind, source, occurred, version, trace, attempt, payload = row[:10]
    return Envelope(
        id=raw_id.hex() if isinstance(raw_id, bytes) else "",
        key=str(key),
        kind=str(kind),
        source=str(source),
        idempotency_key=str(idem),
        occurred_at=loaded_time(occurred),
        schema_version=_int(version),
        traceparent=None if trace is None else str(trace),
        attempt=_int(attempt),
        payload=msgspec.Raw(payload if isinstance(payload, bytes) else b"null"),
    )


def entry_of(row: Sequence[object]) -> Entry:
    """Rebuild an entry from a row of ENTRY_COLUMNS; raise `DamagedRecord` if a value cannot
    be read back."""
    try:
        return _entry_of(row)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DamagedRecord(_which(row), str(exc)) from exc


def _entry_of(row: Sequence[object]) -> Entry:
    (accepted_at, state, updated_at, attempts, due_at, error, error_class, system, reason,
     replay_of, replay_count, released_by, release_reason) = row[10:]  # fmt: skip
    return Entry(
        envelope=_envelope_of(row),
        state=EntryState(_int(state)),
        accepted_at=_float(accepted_at),
        updated_at=_float(updated_at),
        attempts=_int(attempts),
        due_at=None if due_at is None else _float(due_at),
        error=_text(error),
        error_class=_text(error_class),
        system=_text(system),
        reason=_text(reason),
        replay_of=replay_of.hex() if isinstance(replay_of, bytes) else None,
        replay_count=_int(replay_count),
        released_by=_text(released_by),
        release_reason=_text(release_reason),
    )


def select_entries(conn: sqlite3.Connection, where: str, params: Sequence[object]) -> list[Entry]:
    """Return the entries matching a WHERE clause (which may end in ORDER BY / LIMIT)."""
    cur = conn.execute(f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}", params)
    return [entry_of(row) for row in cur]


def select_by_ids(conn: sqlite3.Connection, ids: Iterable[bytes]) -> list[Entry]:
    """Return the entries with these raw ids, in id order."""
    found: list[Entry] = []
    id_list = list(ids)
    for start in range(0, len(id_list), CHUNK):
        chunk = id_list[start : start + CHUNK]
        marks = ",".join("?" * len(chunk))
        found.extend(select_entries(conn, f"id IN ({marks}) ORDER BY id", chunk))
    return found


def dead_letter_query(where: DeadLetterFilter, now: float) -> tuple[str, list[object]]:
    """Return a WHERE clause and its parameters selecting the open dead letters of `where`."""
    # "state < 6" repeats the partial index's condition so that SQLite may use that index.
    clauses = [f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}) AND state < 6"]
    params: list[object] = []
    if where.ids:
        clauses.append(f"id IN ({','.join('?' * len(where.ids))})")
        params.extend(bytes.fromhex(i) for i in where.ids)
    for column, value in (
        ("key", where.entity),
        ("kind", where.kind),
        ("system", where.system),
        ("error_class", where.error_class),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.older_than is not None:
        clauses.append("updated_at <= ?")
        params.append(now - where.older_than)
    if where.newer_than is not None:
        clauses.append("updated_at >= ?")
        params.append(now - where.newer_than)
    return " AND ".join(clauses), params


def _int(value: object) -> int:
    return value if isinstance(value, int) else int(str(value))


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else float(str(value))


def _text(value: object) -> str | None:
    return None if value is None else str(value)
