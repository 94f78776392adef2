"""The writes of the PostgreSQL journal, each an op run inside a group-commit transaction.

The same ops as SQLite's (`mediator.journal._ops`), with the same rule: an op does not raise
for a business reason (an unknown id is a no-op, a version conflict a None result), since an
exception rolls back every write gathered into its transaction. Two things are PostgreSQL's:

- Fencing: given a `Fence`, a state change applies only to entries whose partition's lease
  row is held by the fence's owner at the epoch it carries. The lease rows of the partitions
  touched are read FOR SHARE, so a takeover (or a renewal: any UPDATE of the row) waits for
  this transaction, and one committed meanwhile is seen. Refused ids
  do not abort the batch: the op returns them, and the caller raises `Fenced` after the commit.
- An op that makes an entry ACCEPTED again (unparking, a replay's or redrive's new entry) sets
  its `txid` to this transaction, so the partition's daemon picks it up (see `_schema`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
import msgspec

from mediator.cluster.partitions import Fence, partition_lease, partition_of
from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.journal._ops import _STILL_HELD, HELD_KEYS
from mediator.journal._rows import dead_letter_query, stored_time
from mediator.journal.postgres._rows import INSERT_REPLAY, PgRow, numbered, select_entries
from mediator.journal.postgres._writer import insert_envelopes
from mediator.journal.records import (
    Appended,
    DeadLetterFilter,
    Entry,
    EntryState,
    ReleaseReport,
    ReplayReport,
)

Connection: TypeAlias = "asyncpg.Connection[Any]"
#: (entry id, partition) of each state change the fence refused.
Refused = list[tuple[str, int]]

_TXID = "pg_current_xact_id()::text::bigint"
DONE = int(EntryState.DONE)
_OPEN_DEAD = f"state IN ({EntryState.DEAD:d}, {EntryState.QUARANTINED:d}) AND state < 6"

# $1 ids; $2 the fence's owner (NULL: no fence), $3/$4 the lease names and epochs it holds;
# the SET clause's own parameters from $5.
FENCED_UPDATE = """
WITH target AS (
    SELECT id, partition FROM entries WHERE id = ANY($1::bytea[])
), held AS (
    SELECT l.name FROM leases l
    JOIN unnest($3::text[], $4::int8[]) AS f(name, epoch) ON l.name = f.name AND l.epoch = f.epoch
    WHERE l.owner = $2::text AND l.name IN (SELECT 'partition/' || partition FROM target)
    FOR SHARE OF l
), changed AS (
    UPDATE entries e SET {set}
    FROM target t
    WHERE e.id = t.id AND e.state < {done}
      AND ($2::text IS NULL OR 'partition/' || t.partition IN (SELECT name FROM held))
    RETURNING e.id, e.key, e.replay_of IS NOT NULL AS replayed
)
SELECT t.id, t.partition, c.key, c.replayed,
    $2::text IS NULL OR 'partition/' || t.partition IN (SELECT name FROM held) AS allowed
FROM target t LEFT JOIN changed c ON c.id = t.id
"""


def fence_params(fence: Fence | None) -> tuple[str | None, list[str], list[int]]:
    if fence is None:
        return None, [], []
    held = [(p, e) for p, e in enumerate(fence.epochs()) if e >= 0]
    return fence.owner, [partition_lease(p) for p, _ in held], [e for _, e in held]


def held_partitions(fence: Fence) -> list[int]:
    """The partitions `fence` holds now."""
    return [p for p, epoch in enumerate(fence.epochs()) if epoch >= 0]


async def update_open(
    conn: Connection, ids: Sequence[str], fence: Fence | None, set_clause: str, *params: object
) -> tuple[Refused, list[str]]:
    # Apply `set_clause` to the open entries among `ids` that the fence allows; return the
    # refused (id, partition) pairs and the keys of changed replays. A change to an entry of a
    # partition the fence does not hold is refused even when the entry is closed already (its
    # new owner delivered it): a daemon waking from a pause learns that it lost the partition.
    statement = FENCED_UPDATE.format(done=DONE, set=set_clause)
    rows = await conn.fetch(
        statement, [bytes.fromhex(i) for i in ids], *fence_params(fence), *params
    )
    refused: Refused = []
    replayed: list[str] = []
    for raw_id, partition, key, was_replay, allowed in rows:
        if key is None:
            if not allowed:
                refused.append((bytes(raw_id).hex(), int(partition)))
        elif was_replay:
            replayed.append(str(key))
    return refused, replayed


async def set_dead(
    conn: Connection,
    now: float,
    entry_id: str,
    reason: str,
    error_class: str,
    system: str | None,
    error: str,
    fence: Fence | None,
) -> Refused:
    """Make an open entry a dead letter; `error` replaces that of an earlier, retried attempt."""
    refused, _ = await update_open(
        conn, [entry_id], fence,
        "state = $5, updated_at = $6, due_at = NULL, reason = $7, error = $8, "
        "error_class = $9, system = $10",
        int(EntryState.DEAD), now, reason, error, error_class, system,
    )  # fmt: skip
    return refused


async def append_dead(
    conn: Connection,
    now: float,
    envelope: Envelope,
    row: PgRow,
    reason: str,
    error_class: str,
    system: str | None,
    error: str,
) -> Appended:
    """Insert `envelope` and make it a dead letter, unless its key (or id) is known: then
    return the entry there, a duplicate, as it is."""
    appended = await insert_envelopes(conn, now, [envelope], [row])
    if appended is not None:
        return appended[0]
    await set_dead(conn, now, envelope.id, reason, error_class, system, error, None)
    return Appended(envelope=envelope, duplicate=False)


async def _insert_again(
    conn: Connection, now: float, env: Envelope, replay_of: str, replay_count: int
) -> None:
    await conn.execute(
        INSERT_REPLAY,
        bytes.fromhex(env.id), env.idempotency_key, env.key, partition_of(env.key), env.kind,
        env.source, str(stored_time(env.occurred_at)), env.schema_version, env.traceparent or None,
        bytes(env.payload), now, bytes.fromhex(replay_of), replay_count,
    )  # fmt: skip


async def replay(
    conn: Connection, now: float, where: DeadLetterFilter, dry_run: bool, max_replays: int
) -> ReplayReport:
    """Replay the matching dead letters as new entries (or say what would happen)."""
    clause, params = dead_letter_query(where, now)
    # locked when acting: a dead letter another daemon's operator replays meanwhile is
    # skipped (READ COMMITTED re-checks the clause on the row it waited for)
    lock = "" if dry_run else " FOR UPDATE"
    sent: list[Entry] = []
    quarantined: list[Entry] = []
    for dead in await select_entries(conn, numbered(clause) + f" ORDER BY id{lock}", *params):
        if dead.state is EntryState.QUARANTINED:
            continue  # only a release closes a quarantined entry
        if dead.replay_count >= max_replays:
            quarantined.append(_moved(dead, EntryState.QUARANTINED, now))
            if not dry_run:
                await _set_closed(conn, now, dead.id, EntryState.QUARANTINED)
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
            await _insert_again(conn, now, env, dead.id, fresh.replay_count)
            await _set_closed(conn, now, dead.id, EntryState.REPLAYED)
    return ReplayReport(dry_run=dry_run, sent=tuple(sent), quarantined=tuple(quarantined))


async def _set_closed(conn: Connection, now: float, entry_id: str, state: EntryState) -> None:
    await conn.execute(
        "UPDATE entries SET state = $1, updated_at = $2 WHERE id = $3",
        int(state), now, bytes.fromhex(entry_id),
    )  # fmt: skip


async def redrive(conn: Connection, now: float, entry_id: str) -> Entry | None:
    """Deliver a delivered entry again as a new entry with its original idempotency key (a
    repair: its effect went missing in the target); None if `entry_id` is no DONE entry. The
    new entry links to the original by `replay_of`, as a replay does (see `_ops.redrive`)."""
    found = await select_entries(
        conn, f"id = $1 AND state = {EntryState.DONE:d}", bytes.fromhex(entry_id)
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
    await _insert_again(conn, now, env, done.id, fresh.replay_count)
    return fresh


async def release(
    conn: Connection, now: float, entry_id: str, reason: str, by: str
) -> ReleaseReport | None:
    """Close an open dead letter without sending it; None if there is no such dead letter."""
    found = await select_entries(  # locked: released once, however many daemons try
        conn, f"id = $1 AND {_OPEN_DEAD} FOR UPDATE", bytes.fromhex(entry_id)
    )
    if not found:
        return None
    await conn.execute(
        "UPDATE entries SET state = $1, updated_at = $2, released_by = $3, release_reason = $4 "
        "WHERE id = $5",
        int(EntryState.RELEASED), now, by, reason, bytes.fromhex(entry_id),
    )  # fmt: skip
    released = msgspec.structs.replace(
        found[0], state=EntryState.RELEASED, updated_at=now, released_by=by, release_reason=reason
    )
    return ReleaseReport(released=released, unparked=await unpark(conn, now, [released.key]))


async def unpark(conn: Connection, now: float, keys: list[str]) -> tuple[Entry, ...]:
    # A key is free once it has no open dead letter and no open replay: its parked entries then
    # follow the corrections, in their original order, accepted by this transaction.
    ready: list[Entry] = []
    for key in dict.fromkeys(keys):
        if await conn.fetchval(numbered(_STILL_HELD), key) is not None:
            continue
        parked = await select_entries(
            conn, f"key = $1 AND state = {EntryState.PARKED:d} AND state < 6 ORDER BY id", key
        )
        ready.extend(_moved(p, EntryState.ACCEPTED, now) for p in parked)
        await conn.execute(
            f"UPDATE entries SET state = $1, updated_at = $2, txid = {_TXID} "
            "WHERE key = $3 AND state = $4 AND state < 6",
            int(EntryState.ACCEPTED), now, key, int(EntryState.PARKED),
        )  # fmt: skip
    return tuple(ready)


def _moved(entry: Entry, state: EntryState, now: float) -> Entry:
    return msgspec.structs.replace(entry, state=state, updated_at=now)


async def held_keys(conn: Connection, partitions: list[int] | None) -> set[str]:
    """The keys with an open dead letter, an open replay or parked entries (of `partitions`
    only, unless None)."""
    if partitions is None:
        return {r[0] for r in await conn.fetch(HELD_KEYS)}
    rows = await conn.fetch(HELD_KEYS + " AND partition = ANY($1::int2[])", partitions)
    return {r[0] for r in rows}


async def compact_chunk(
    conn: Connection,
    now: float,
    after: int,
    limit: int,
    closed_before: float,
    forget_before: float,
) -> tuple[int | None, int, int]:
    """Compact up to `limit` entries past seq `after`; return the last seq seen and the counts.

    Walking the seqs in chunks keeps each transaction short, so appends keep flowing. Deleting
    an original forgets its idempotency key (the unique index is the key table here).
    """
    hi = await conn.fetchval(
        "SELECT max(seq) FROM (SELECT seq FROM entries WHERE seq > $1 ORDER BY seq LIMIT $2) c",
        after, limit,
    )  # fmt: skip
    if hi is None:
        return None, 0, 0
    status = await conn.execute(
        "UPDATE entries SET state = $1, payload = NULL, traceparent = NULL, error = NULL "
        "WHERE seq > $2 AND seq <= $3 AND state = ANY($4::int2[]) AND updated_at < $5",
        int(EntryState.COMPACTED), after, hi,
        [int(EntryState.DONE), int(EntryState.RELEASED), int(EntryState.REPLAYED),
         int(EntryState.DISCARDED)],
        closed_before,
    )  # fmt: skip
    gone = await conn.execute(
        "DELETE FROM entries WHERE seq > $1 AND seq <= $2 AND state = $3 AND accepted_at < $4",
        after, hi, int(EntryState.COMPACTED), forget_before,
    )  # fmt: skip
    return int(hi), _count(status), _count(gone)


def _count(status: str) -> int:
    # a command tag: "UPDATE 12", "DELETE 3", "INSERT 0 1"
    return int(status.rsplit(" ", 1)[-1])
