"""The writes of the SQLite journal, each a function run inside a group-commit transaction.

Every op takes the connection and the batch's time and must not raise for a business reason
(an unknown id is a no-op, a version conflict is a None result): an exception aborts the whole
transaction, and with it every append gathered into it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import msgspec

from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.journal._keys import KeyIndex
from mediator.journal._rows import (
    CHUNK,
    ENVELOPE_COLUMNS,
    INSERT_REPLAY,
    EnvelopeRow,
    dead_letter_query,
    envelope_of,
    insert_accepted,
    select_entries,
    stored_time,
)
from mediator.journal.records import (
    Appended,
    DeadLetterFilter,
    Entry,
    EntryState,
    FlowState,
    ReleaseReport,
    ReplayReport,
    Watermark,
    XrefRecord,
)

# "state < 6" repeats the partial index's condition so that SQLite may use that index.
_OPEN_DEAD = f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}) AND state < 6"


def insert_envelopes(
    conn: sqlite3.Connection,
    now: float,
    envelopes: list[Envelope],
    rows: list[EnvelopeRow],
    keys: KeyIndex,
) -> list[Appended] | None:
    """Insert new envelopes (`rows`: their `envelope_row`s); a known idempotency key (in the
    file or earlier in the batch) yields the entry that was there first, marked duplicate.

    Returns None when every envelope was stored as new (the common case): each appender then
    makes its own receipt, on the loop's thread rather than the writer's."""
    idems = [env.idempotency_key for env in envelopes]
    known = keys.find(conn, idems)
    fresh = rows
    if known or len(set(idems)) < len(idems):
        first = _first_of_each(idems)
        fresh = [
            rows[index]
            for index, idem in enumerate(idems)
            if first[idem] == index and idem not in known
        ]
    inserted = insert_accepted(conn, fresh, now)
    keys.add(inserted)
    if len(inserted) == len(envelopes):
        return None
    # An envelope appended again (same id, same key: a caller retrying) comes back a duplicate,
    # as does one whose id is already journaled under another key (it stored nothing).
    first = _first_of_each(idems)
    mine = dict(inserted)
    stored = _stored_by_seq(conn, [*known.values(), *mine.values()])
    results = []
    for index, env in enumerate(envelopes):
        seq = known.get(env.idempotency_key, mine.get(env.idempotency_key))
        if seq is not None:
            there = stored[seq]
        else:  # not inserted: its id is taken
            row = conn.execute(
                f"SELECT {ENVELOPE_COLUMNS} FROM entries WHERE id = ?", (bytes.fromhex(env.id),)
            ).fetchone()
            there = envelope_of(row) if row is not None else env
        own = (
            env.idempotency_key in mine
            and first[env.idempotency_key] == index
            and there.id == env.id
        )
        results.append(Appended(envelope=there, duplicate=not own))
    return results


def _first_of_each(idems: list[str]) -> dict[str, int]:
    # key → index of its first envelope (built backwards, so the first one is written last)
    return dict(zip(reversed(idems), range(len(idems) - 1, -1, -1), strict=True))


def append_dead(
    conn: sqlite3.Connection,
    now: float,
    envelope: Envelope,
    row: EnvelopeRow,
    keys: KeyIndex,
    reason: str,
    error_class: str,
    system: str | None,
    error: str,
) -> Appended:
    """Insert `envelope` (`row`: its envelope_row) and make it a dead letter, unless its key is
    known: then return the entry there, a duplicate, as it is."""
    appended = insert_envelopes(conn, now, [envelope], [row], keys)
    if appended is not None:
        return appended[0]
    set_dead(conn, now, envelope.id, reason, error_class, system, error)
    return Appended(envelope=envelope, duplicate=False)


def _stored_by_seq(conn: sqlite3.Connection, seqs: list[int]) -> dict[int, Envelope]:
    stored: dict[int, Envelope] = {}
    for start in range(0, len(seqs), CHUNK):
        chunk = seqs[start : start + CHUNK]
        cur = conn.execute(
            f"SELECT {ENVELOPE_COLUMNS}, seq FROM entries "
            f"WHERE seq IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        stored.update((row[10], envelope_of(row)) for row in cur)
    return stored


def set_state(conn: sqlite3.Connection, now: float, ids: Sequence[str], state: EntryState) -> None:
    """Move open entries to `state`; entering IN_FLIGHT counts an attempt."""
    bump = 1 if state is EntryState.IN_FLIGHT else 0
    raw = [bytes.fromhex(i) for i in ids]
    for start in range(0, len(raw), CHUNK):  # one statement per chunk: see _rows.insert_accepted
        chunk = raw[start : start + CHUNK]
        conn.execute(
            "UPDATE entries SET state = ?, updated_at = ?, attempts = attempts + ?, due_at = NULL "
            f"WHERE id IN ({','.join('?' * len(chunk))}) AND state < {EntryState.DONE:d}",
            [int(state), now, bump, *chunk],
        )


def set_retry(
    conn: sqlite3.Connection, now: float, entry_id: str, at: float, error: str, error_class: str
) -> None:
    """Schedule an open entry's next attempt at `at`."""
    conn.execute(
        "UPDATE entries SET state = ?, updated_at = ?, due_at = ?, error = ?, error_class = ? "
        f"WHERE id = ? AND state < {EntryState.DONE:d}",
        (int(EntryState.RETRY), now, at, error, error_class, bytes.fromhex(entry_id)),
    )


def set_dead(
    conn: sqlite3.Connection,
    now: float,
    entry_id: str,
    reason: str,
    error_class: str,
    system: str | None,
    error: str,
) -> None:
    """Make an open entry a dead letter; `error` replaces that of an earlier, retried attempt."""
    conn.execute(
        "UPDATE entries SET state = ?, updated_at = ?, due_at = NULL, reason = ?, "
        "error = ?, error_class = ?, system = ? "
        f"WHERE id = ? AND state < {EntryState.DONE:d}",
        (int(EntryState.DEAD), now, reason, error, error_class, system,
         bytes.fromhex(entry_id)),
    )  # fmt: skip


def replay(
    conn: sqlite3.Connection, now: float, where: DeadLetterFilter, dry_run: bool, max_replays: int
) -> ReplayReport:
    """Replay the matching dead letters as new entries (or say what would happen)."""
    clause, params = dead_letter_query(where, now)
    sent: list[Entry] = []
    quarantined: list[Entry] = []
    for dead in select_entries(conn, clause + " ORDER BY id", params):
        if dead.state is EntryState.QUARANTINED:
            continue  # only a release closes a quarantined entry
        if dead.replay_count >= max_replays:
            quarantined.append(_moved(dead, EntryState.QUARANTINED, now))
            if not dry_run:
                conn.execute(
                    "UPDATE entries SET state = ?, updated_at = ? WHERE id = ?",
                    (int(EntryState.QUARANTINED), now, bytes.fromhex(dead.id)),
                )
            continue
        env = dead.envelope
        fresh = Entry(
            envelope=Envelope(
                id="" if dry_run else new_id(),
                key=env.key,
                kind=env.kind,
                source=env.source,
                idempotency_key=env.idempotency_key,
                occurred_at=env.occurred_at,
                schema_version=env.schema_version,
                traceparent=env.traceparent,
                payload=env.payload,
            ),
            state=EntryState.ACCEPTED,
            accepted_at=now,
            updated_at=now,
            replay_of=dead.id,
            replay_count=dead.replay_count + 1,
        )
        sent.append(fresh)
        if not dry_run:
            e = fresh.envelope
            conn.execute(
                INSERT_REPLAY,
                (bytes.fromhex(e.id), e.idempotency_key, e.key, e.kind, e.source,
                 stored_time(e.occurred_at), e.schema_version, e.traceparent, 0, bytes(e.payload),
                 now, now, bytes.fromhex(dead.id), fresh.replay_count),
            )  # fmt: skip
            conn.execute(
                "UPDATE entries SET state = ?, updated_at = ? WHERE id = ?",
                (int(EntryState.REPLAYED), now, bytes.fromhex(dead.id)),
            )
    return ReplayReport(dry_run=dry_run, sent=tuple(sent), quarantined=tuple(quarantined))


def redrive(conn: sqlite3.Connection, now: float, entry_id: str) -> Entry | None:
    """Deliver a delivered entry again as a new entry with its original idempotency key (a
    repair: its effect went missing in the target); None if `entry_id` is no DONE entry.

    The new entry links to the original by `replay_of`, as a replay does, so it is delivered
    ahead of the entity's parked entries and its lineage shows the repair.
    """
    found = select_entries(
        conn, f"id = ? AND state = {EntryState.DONE:d}", (bytes.fromhex(entry_id),)
    )
    if not found:
        return None
    done = found[0]
    env = msgspec.structs.replace(done.envelope, id=new_id(), attempt=0)
    fresh = Entry(
        envelope=env,
        state=EntryState.ACCEPTED,
        accepted_at=now,
        updated_at=now,
        replay_of=done.id,
        replay_count=done.replay_count + 1,
    )
    conn.execute(
        INSERT_REPLAY,
        (bytes.fromhex(env.id), env.idempotency_key, env.key, env.kind, env.source,
         stored_time(env.occurred_at), env.schema_version, env.traceparent, 0, bytes(env.payload),
         now, now, bytes.fromhex(done.id), fresh.replay_count),
    )  # fmt: skip
    return fresh


def release(
    conn: sqlite3.Connection, now: float, entry_id: str, reason: str, by: str
) -> ReleaseReport | None:
    """Close an open dead letter without sending it; None if there is no such dead letter."""
    found = select_entries(conn, f"id = ? AND {_OPEN_DEAD}", (bytes.fromhex(entry_id),))
    if not found:
        return None
    conn.execute(
        "UPDATE entries SET state = ?, updated_at = ?, released_by = ?, release_reason = ? "
        "WHERE id = ?",
        (int(EntryState.RELEASED), now, by, reason, bytes.fromhex(entry_id)),
    )
    released = msgspec.structs.replace(
        found[0], state=EntryState.RELEASED, updated_at=now, released_by=by, release_reason=reason
    )
    return ReleaseReport(released=released, unparked=_unpark(conn, now, [released.key]))


def set_done(conn: sqlite3.Connection, now: float, ids: Sequence[str]) -> tuple[Entry, ...]:
    """Close entries as delivered; return the entries unparked because a replay among them was
    the last thing their entity waited for."""
    set_state(conn, now, ids, EntryState.DONE)
    keys: list[str] = []
    raw = [bytes.fromhex(i) for i in ids]
    for start in range(0, len(raw), CHUNK):
        chunk = raw[start : start + CHUNK]
        keys.extend(r[0] for r in conn.execute(
            f"SELECT DISTINCT key FROM entries WHERE id IN ({','.join('?' * len(chunk))}) "
            "AND replay_of IS NOT NULL", chunk))  # fmt: skip
    return _unpark(conn, now, keys) if keys else ()


def _unpark(conn: sqlite3.Connection, now: float, keys: list[str]) -> tuple[Entry, ...]:
    # A key is free once it has no open dead letter and no open replay: its parked entries then
    # follow the corrections, in their original order.
    ready: list[Entry] = []
    for key in dict.fromkeys(keys):
        if conn.execute(_STILL_HELD, (key,)).fetchone() is not None:
            continue
        parked = select_entries(
            conn, f"key = ? AND state = {EntryState.PARKED:d} AND state < 6 ORDER BY id", (key,)
        )
        ready.extend(_moved(p, EntryState.ACCEPTED, now) for p in parked)
        conn.execute(
            "UPDATE entries SET state = ?, updated_at = ? "
            "WHERE key = ? AND state = ? AND state < 6",
            (int(EntryState.ACCEPTED), now, key, int(EntryState.PARKED)),
        )
    return tuple(ready)


_STILL_HELD = (
    "SELECT 1 FROM entries WHERE key = ? AND state < 6 AND ("
    f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}) OR (replay_of IS NOT NULL "
    f"AND state IN ({EntryState.ACCEPTED:d}, {EntryState.IN_FLIGHT:d}, {EntryState.RETRY:d})))"
    " LIMIT 1"
)

HELD_KEYS = (
    "SELECT DISTINCT key FROM entries WHERE state < 6 AND ("
    f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}, {EntryState.PARKED:d}) OR "
    f"(replay_of IS NOT NULL AND state IN ({EntryState.ACCEPTED:d}, {EntryState.IN_FLIGHT:d}, "
    f"{EntryState.RETRY:d})))"
)


def _moved(entry: Entry, state: EntryState, now: float) -> Entry:
    return msgspec.structs.replace(entry, state=state, updated_at=now)


def set_watermark(conn: sqlite3.Connection, now: float, mark: Watermark) -> None:
    """Advance a named cursor."""
    conn.execute(
        "INSERT INTO watermarks (name, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (mark.name, mark.value, now),
    )


def record_xref(conn: sqlite3.Connection, now: float, record: XrefRecord) -> XrefRecord:
    """Record a mapping, replacing this entity's older id in that system and any other entity
    that held this system id."""
    conn.execute(
        "DELETE FROM xref WHERE system = ? AND entity_type = ? AND system_id = ?",
        (record.system, record.entity_type, record.system_id),
    )
    conn.execute(
        "INSERT OR REPLACE INTO xref (entity_type, canonical_id, system, system_id, recorded_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (record.entity_type, record.canonical_id, record.system, record.system_id, now),
    )
    return msgspec.structs.replace(record, recorded_at=now)


def save_flow(
    conn: sqlite3.Connection, now: float, flow: str, entity: str, state: bytes, expected: int
) -> FlowState | None:
    """Write the flow state if its stored version is `expected` (0: absent); None otherwise."""
    if expected == 0:
        cur = conn.execute(
            "INSERT OR IGNORE INTO flows (flow, entity, state, version, updated_at) "
            "VALUES (?, ?, ?, 1, ?)",
            (flow, entity, state, now),
        )
    else:
        cur = conn.execute(
            "UPDATE flows SET state = ?, version = version + 1, updated_at = ? "
            "WHERE flow = ? AND entity = ? AND version = ?",
            (state, now, flow, entity, expected),
        )
    if cur.rowcount != 1:
        return None
    return FlowState(flow=flow, entity=entity, state=state, version=expected + 1, updated_at=now)


def compact_chunk(
    conn: sqlite3.Connection,
    now: float,
    after: bytes,
    limit: int,
    closed_before: float,
    forget_before: float,
    keys: KeyIndex,
) -> tuple[bytes | None, int, int]:
    """Compact up to `limit` entries past id `after`; return the last id seen and the counts.

    Walking the ids in chunks keeps each transaction short, so appends keep flowing. The entry
    appended last is never forgotten: seqs must keep growing (see _keys).
    """  # fmt: skip
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM entries WHERE id > ? ORDER BY id LIMIT ?", (after, limit))]  # fmt: skip
    if not ids:
        return None, 0, 0
    lo, hi = ids[0], ids[-1]
    compacted = conn.execute(
        "UPDATE entries SET state = ?, payload = NULL, traceparent = NULL, error = NULL "
        "WHERE id BETWEEN ? AND ? AND state IN (?, ?, ?, ?) AND updated_at < ?",
        (int(EntryState.COMPACTED), lo, hi, int(EntryState.DONE), int(EntryState.RELEASED),
         int(EntryState.REPLAYED), int(EntryState.DISCARDED), closed_before),
    ).rowcount  # fmt: skip
    forget = (
        "FROM entries WHERE id BETWEEN ? AND ? AND state = ? AND accepted_at < ? "
        "AND seq < (SELECT max(seq) FROM entries)"
    )
    params = (lo, hi, int(EntryState.COMPACTED), forget_before)
    keys.forget(conn, conn.execute(
        f"SELECT idem, seq {forget} AND replay_of IS NULL", params).fetchall())  # fmt: skip
    forgotten = conn.execute(f"DELETE {forget}", params).rowcount
    return hi, compacted, forgotten


def entry_or_none(conn: sqlite3.Connection, entry_id: str) -> Entry | None:
    """Return one entry by id."""
    found = select_entries(conn, "id = ?", (bytes.fromhex(entry_id),))
    return found[0] if found else None
