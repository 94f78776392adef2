"""The operator's writes on the PostgreSQL journal: replay, redrive, release, unpark, audit.

Each is a coroutine run inside one transaction (`PostgresJournal.run_op`, or a read-only one
for a dry run), with the same semantics as SQLite's (mediator/journal/_ops.py), which they
mirror step for step. Two differences: the dead letters acted on are locked (``FOR UPDATE``),
so two daemons' operators replaying at once send each dead letter once; and every entry made
ACCEPTED (a replay, a redrive, an unparked entry) gets the transaction's id as `txid`, so the
daemon holding its partition picks it up (see postgres/_schema).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from mediator.cluster.partitions import partition_of
from mediator.codecs.canonical.envelope import new_id
from mediator.journal._rows import ENTRY_COLUMNS, dead_letter_query, entry_of, stored_time
from mediator.journal.operator import AuditRecord
from mediator.journal.postgres._sql import numbered
from mediator.journal.records import (
    DeadLetterFilter,
    Entry,
    EntryState,
    ReleaseReport,
    ReplayReport,
)

if TYPE_CHECKING:  # asyncpg is the `postgres` extra: imported only once a dsn is configured
    from asyncpg import Record

_OPEN_DEAD = f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}) AND state < 6"
_TXID = "pg_current_xact_id()::text::bigint"


class Connection(Protocol):
    """The part of an asyncpg connection (or a pool's proxy of one) these ops use."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def fetch(self, query: str, *args: object) -> list[Record]: ...


async def rows(
    conn: Connection, sql: str, params: Sequence[object] = ()
) -> list[tuple[object, ...]]:
    """The rows of `sql` (``?`` placeholders)."""
    return [tuple(r) for r in await conn.fetch(numbered(sql), *params)]


async def execute(conn: Connection, sql: str, params: Sequence[object] = ()) -> int:
    """Run `sql` (``?`` placeholders); return the number of rows it changed."""
    status = await conn.execute(numbered(sql), *params)
    return int(status.rsplit(" ", 1)[-1]) if status[-1:].isdigit() else 0


async def select_entries(conn: Connection, where: str, params: Sequence[object]) -> list[Entry]:
    """The entries matching a WHERE clause (which may end in ORDER BY, LIMIT, FOR UPDATE)."""
    found = await rows(conn, f"SELECT {ENTRY_COLUMNS} FROM entries WHERE {where}", params)
    return [entry_of(r) for r in found]


_INSERT_REPLAY = (
    "INSERT INTO entries (id, idem, key, partition, kind, source, occurred_at, schema_version, "
    "traceparent, attempt, payload, accepted_at, state, updated_at, replay_of, replay_count) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, ?, ?)"
)


async def _insert_replay(conn: Connection, now: float, fresh: Entry) -> None:
    env = fresh.envelope
    assert fresh.replay_of is not None
    await execute(
        conn,
        _INSERT_REPLAY,
        (bytes.fromhex(env.id), env.idempotency_key, env.key, partition_of(env.key), env.kind,
         env.source, str(stored_time(env.occurred_at)), env.schema_version, env.traceparent,
         bytes(env.payload), now, now, bytes.fromhex(fresh.replay_of), fresh.replay_count),
    )  # fmt: skip


async def replay(
    conn: Connection, now: float, where: DeadLetterFilter, dry_run: bool, max_replays: int
) -> ReplayReport:
    """Replay the matching dead letters as new entries (or say what would happen)."""
    clause, params = dead_letter_query(where, now)
    # locked when acting: a dead letter another transaction replays meanwhile is skipped
    lock = "" if dry_run else " FOR UPDATE"
    sent: list[Entry] = []
    quarantined: list[Entry] = []
    for dead in await select_entries(conn, f"{clause} ORDER BY id{lock}", params):
        if dead.state is EntryState.QUARANTINED:
            continue  # only a release closes a quarantined entry
        if dead.replay_count >= max_replays:
            quarantined.append(_moved(dead, EntryState.QUARANTINED, now))
            if not dry_run:
                await _set_state(conn, now, dead.id, EntryState.QUARANTINED)
            continue
        env = msgspec.structs.replace(dead.envelope, id="" if dry_run else new_id(), attempt=0)
        fresh = Entry(
            envelope=env,
            state=EntryState.ACCEPTED,
            accepted_at=now,
            updated_at=now,
            replay_of=dead.id,
            replay_count=dead.replay_count + 1,
        )
        sent.append(fresh)
        if not dry_run:
            await _insert_replay(conn, now, fresh)
            await _set_state(conn, now, dead.id, EntryState.REPLAYED)
    return ReplayReport(dry_run=dry_run, sent=tuple(sent), quarantined=tuple(quarantined))


async def redrive(conn: Connection, now: float, entry_id: str) -> Entry | None:
    """Deliver a delivered entry again as a new entry with its original idempotency key;
    None if `entry_id` is no DONE entry (see _ops.redrive)."""
    found = await select_entries(
        conn, f"id = ? AND state = {EntryState.DONE:d}", (bytes.fromhex(entry_id),)
    )
    if not found:
        return None
    done = found[0]
    fresh = Entry(
        envelope=msgspec.structs.replace(done.envelope, id=new_id(), attempt=0),
        state=EntryState.ACCEPTED,
        accepted_at=now,
        updated_at=now,
        replay_of=done.id,
        replay_count=done.replay_count + 1,
    )
    await _insert_replay(conn, now, fresh)
    return fresh


async def release(
    conn: Connection, now: float, entry_id: str, reason: str, by: str, *, discard: bool = False
) -> ReleaseReport | None:
    """Close an open dead letter without sending it (as DISCARDED if `discard`), and unpark
    its entity's entries if nothing else holds them; None if there is no such dead letter."""
    found = await select_entries(
        conn, f"id = ? AND {_OPEN_DEAD} FOR UPDATE", (bytes.fromhex(entry_id),)
    )
    if not found:
        return None
    state = EntryState.DISCARDED if discard else EntryState.RELEASED
    await execute(
        conn,
        "UPDATE entries SET state = ?, updated_at = ?, released_by = ?, release_reason = ? "
        "WHERE id = ?",
        (int(state), now, by, reason, bytes.fromhex(entry_id)),
    )
    released = msgspec.structs.replace(
        found[0], state=state, updated_at=now, released_by=by, release_reason=reason
    )
    return ReleaseReport(released=released, unparked=await _unpark(conn, now, released.key))


_STILL_HELD = (
    "SELECT 1 FROM entries WHERE key = ? AND state < 6 AND ("
    f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}) OR (replay_of IS NOT NULL "
    f"AND state IN ({EntryState.ACCEPTED:d}, {EntryState.IN_FLIGHT:d}, {EntryState.RETRY:d})))"
    " LIMIT 1"
)


async def _unpark(conn: Connection, now: float, key: str) -> tuple[Entry, ...]:
    # A key is free once it has no open dead letter and no open replay: its parked entries
    # then follow the corrections, in their original order, accepted in this transaction.
    if await rows(conn, _STILL_HELD, (key,)):
        return ()
    parked = await select_entries(
        conn, f"key = ? AND state = {EntryState.PARKED:d} AND state < 6 ORDER BY id", (key,)
    )
    await execute(
        conn,
        f"UPDATE entries SET state = ?, updated_at = ?, txid = {_TXID} "
        f"WHERE key = ? AND state = {EntryState.PARKED:d} AND state < 6",
        (int(EntryState.ACCEPTED), now, key),
    )
    return tuple(_moved(p, EntryState.ACCEPTED, now) for p in parked)


async def _set_state(conn: Connection, now: float, entry_id: str, state: EntryState) -> None:
    await execute(
        conn,
        "UPDATE entries SET state = ?, updated_at = ? WHERE id = ?",
        (int(state), now, bytes.fromhex(entry_id)),
    )


def _moved(entry: Entry, state: EntryState, now: float) -> Entry:
    return msgspec.structs.replace(entry, state=state, updated_at=now)


async def insert_audit(conn: Connection, now: float, audit: AuditRecord) -> None:
    """Write one audit record at `now`."""
    await execute(
        conn,
        "INSERT INTO audit (at, who, role, action, target, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now, audit.who, audit.role, audit.action, audit.target, audit.reason, audit.detail),
    )
