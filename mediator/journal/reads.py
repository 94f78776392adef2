"""The journal's read side: a read-only connection of its own, for the admin API and dashboard.

`open_journal_reader(path)` opens the file with ``mode=ro`` through aiosqlite (a thread of
its own), so an operator's questions never queue behind the writer's batches nor hold its
thread: SQLite's WAL lets this reader see the last committed state while the writer goes
on. Every query here is indexed: dead letters and open entries through the partial index of
open states, lineage through ids and the index of replays, xrefs and flow state by their
primary keys, the audit log by its sequence; an entity's history is its open entries
(indexed) and a scan of the latest entries bounded by sequence (see `history`). Lists are
paged by a cursor (the last row's sequence number), so a page costs the same however deep
the operator has gone.

The reads are written once, in the SQL both backends speak, over a `RowSource`: SQLite's
here, PostgreSQL's (a pool of read-only connections, placeholders numbered) in
`mediator.journal.postgres.reads`, whose tables mirror SQLite's. Where the two differ (the
look-up of originals: SQLite's key table, PostgreSQL's unique index) the source says which.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Collection, Sequence
from pathlib import Path
from typing import Protocol

import aiosqlite
import msgspec

from mediator.errors import JournalError
from mediator.journal import _ops
from mediator.journal._rows import ENTRY_COLUMNS, dead_letter_query, entry_of
from mediator.journal.operator import (
    APPROVAL_COLUMNS,
    Approval,
    ApprovalState,
    AuditRecord,
    approval_of,
    audit_of,
)
from mediator.journal.records import (
    DeadLetterFilter,
    Entry,
    EntryState,
    FlowState,
    ReplayReport,
    XrefRecord,
)

__all__ = [
    "DeadLetterCause",
    "History",
    "JournalReader",
    "OpenCounts",
    "Page",
    "RowSource",
    "open_journal_reader",
]

_CHUNK = 500  # parameters per IN (...): well below SQLite's limit
_MAX_GENERATIONS = 64  # replays of replays followed down (max_replays keeps it to a few)


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """One page of entries in journal order; `next_cursor` asks for the next (None: the last)."""

    entries: list[Entry]
    next_cursor: int | None


class History(msgspec.Struct, frozen=True, kw_only=True):
    """An entity's entries in journal order; `complete` is False when older closed entries
    may exist beyond what was searched or returned."""

    entries: list[Entry]
    complete: bool


class OpenCounts(msgspec.Struct, frozen=True, kw_only=True):
    """The open entries of one kind by state, the retries due, and the oldest open entry's
    acceptance time."""

    kind: str
    by_state: dict[str, int]
    due_retries: int
    oldest_accepted_at: float | None


class DeadLetterCause(msgspec.Struct, frozen=True, kw_only=True):
    """The open dead letters of one kind, failing system and error class: how many, when the
    oldest died, and the reason of one of them."""

    kind: str
    system: str | None
    error_class: str | None
    count: int
    oldest_at: float
    reason: str | None


class RowSource(Protocol):
    """Where a `JournalReader`'s SQL runs: one backend's read-only connection(s).

    The SQL is SQLite's dialect with ``?`` placeholders, over the tables both backends share
    (mediator/journal/postgres/_schema.py mirrors them); a source translates what it must.
    """

    @property
    def name(self) -> str:
        """What errors name: the file, or the dsn without its password."""
        ...

    @property
    def unique_idem(self) -> bool:
        """Whether `entries.idem` has a unique index of originals (PostgreSQL), rather than
        SQLite's two-level key table (_keys)."""
        ...

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        """The rows of one query; raise `JournalError` naming the source if it fails."""
        ...

    async def preview_replay(
        self, where: DeadLetterFilter, now: float, max_replays: int
    ) -> ReplayReport:
        """The backend's own replay, as a dry run that writes nothing."""
        ...


@contextlib.asynccontextmanager
async def open_journal_reader(path: str | Path) -> AsyncIterator[JournalReader]:
    """Open the journal at `path` read-only for the block; raise `JournalError` if unusable.

    The file must exist (the writer creates and migrates it); nothing here can write to it.
    """
    try:
        conn = await aiosqlite.connect(_read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise JournalError(str(path), f"cannot open for reading: {exc}") from exc
    try:
        await conn.execute("PRAGMA query_only=1")
        yield JournalReader(_SqliteRows(conn, str(path)))
    finally:
        await conn.close()


def _preview(path: str, where: DeadLetterFilter, now: float, max_replays: int) -> ReplayReport:
    try:
        conn = sqlite3.connect(_read_only_uri(path), uri=True)
    except sqlite3.Error as exc:
        raise JournalError(path, f"cannot open for reading: {exc}") from exc
    try:
        conn.execute("PRAGMA query_only=1")
        return _ops.replay(conn, now, where, True, max_replays)
    except sqlite3.Error as exc:
        raise JournalError(path, f"read failed: {exc}") from exc
    finally:
        conn.close()


def _read_only_uri(path: str | Path) -> str:
    # a URI, so that SQLite is told mode=ro (the path's odd characters percent-encoded)
    return f"{Path(os.path.abspath(path)).as_uri()}?mode=ro"


class _SqliteRows:
    """The SQLite journal's rows, through a read-only aiosqlite connection."""

    unique_idem = False

    def __init__(self, conn: aiosqlite.Connection, path: str) -> None:
        self._conn = conn
        self.name = path

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        try:
            async with self._conn.execute(sql, params) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        except sqlite3.Error as exc:
            raise JournalError(self.name, f"read failed: {exc}") from exc

    async def preview_replay(
        self, where: DeadLetterFilter, now: float, max_replays: int
    ) -> ReplayReport:
        # the journal's own replay code on a read-only connection of its own, in a worker
        # thread: never the writer's
        return await asyncio.to_thread(_preview, self.name, where, now, max_replays)


class JournalReader:
    """Indexed reads of the journal through a read-only `RowSource` (SQLite's or
    PostgreSQL's); each raises `JournalError` naming the journal."""

    def __init__(self, source: RowSource) -> None:
        self._source = source
        self._rows = source.rows

    async def _entries(self, where: str, params: Sequence[object]) -> list[tuple[int, Entry]]:
        rows = await self._rows(f"SELECT seq, {ENTRY_COLUMNS} FROM entries WHERE {where}", params)
        return [(int(str(row[0])), entry_of(row[1:])) for row in rows]

    async def dead_letters(
        self,
        where: DeadLetterFilter,
        *,
        now: float,
        kinds: Collection[str] | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> Page:
        """Open dead letters (dead and quarantined) matching `where` and, if given, of one of
        `kinds`, in journal order from the cursor `after`; ages are measured from `now`."""
        if kinds is not None and not kinds:
            return Page(entries=[], next_cursor=None)  # (PostgreSQL refuses an empty IN ())
        clause, params = dead_letter_query(where, now)
        if kinds is not None:
            clause += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        if after is not None:
            clause += " AND seq > ?"
            params.append(after)
        found = await self._entries(f"{clause} ORDER BY seq LIMIT ?", [*params, limit + 1])
        more = len(found) > limit
        found = found[:limit]
        return Page(entries=[e for _, e in found], next_cursor=found[-1][0] if more else None)

    async def entry(self, entry_id: str) -> Entry | None:
        """One entry in any state, or None."""
        found = await self._entries("id = ?", (bytes.fromhex(entry_id),))
        return found[0][1] if found else None

    async def lineage(self, entry: Entry) -> list[Entry]:
        """The entry's original and every replay of it, in journal order, the entry itself
        included: up the `replay_of` links by id, then down through the index of replays."""
        root = entry
        seen = {entry.id}
        while root.replay_of is not None and root.replay_of not in seen:
            up = await self.entry(root.replay_of)
            if up is None:
                break
            seen.add(up.id)
            root = up
        found = await self._entries("id = ?", (bytes.fromhex(root.id),))
        frontier = [root.id]
        for _ in range(_MAX_GENERATIONS):
            if not frontier:
                break
            marks = ",".join("?" * len(frontier))
            replays = await self._entries(
                f"replay_of IN ({marks}) AND replay_of IS NOT NULL",
                [bytes.fromhex(i) for i in frontier],
            )
            found.extend(replays)
            frontier = [e.id for _, e in replays]
        return [e for _, e in sorted({e.id: (s, e) for s, e in found}.values())]

    async def history(self, key: str, *, limit: int = 500, scan: int = 50_000) -> History:
        """Entity `key`'s open entries, however old (through the index of open states), and
        its entries among the last `scan` journaled (a scan bounded by sequence): the latest
        `limit` of them, in journal order.

        The journal has no index by entity key: one cost appends half their speed (see
        _schema, v5); an operator asks about what is stuck (open) or recent.
        """
        rows = await self._rows("SELECT max(seq) FROM entries")
        last = int(str(rows[0][0] or 0))
        floor = max(0, last - scan)
        found = await self._entries("state < 6 AND key = ?", (key,))
        found += await self._entries("seq > ? AND key = ?", (floor, key))
        merged = sorted(dict(found).items())
        return History(
            entries=[e for _, e in merged[-limit:]],
            complete=floor == 0 and len(merged) <= limit,
        )

    async def xrefs(self, entity_type: str, canonical_id: str) -> list[XrefRecord]:
        """The entity's ids in every system."""
        return await self._xrefs(
            "entity_type = ? AND canonical_id = ? ORDER BY system", (entity_type, canonical_id)
        )

    async def _xrefs(self, where: str, params: Sequence[object]) -> list[XrefRecord]:
        rows = await self._rows(
            "SELECT entity_type, canonical_id, system, system_id, recorded_at FROM xref "
            f"WHERE {where}",
            params,
        )
        names = ("entity_type", "canonical_id", "system", "system_id", "recorded_at")
        return [msgspec.convert(dict(zip(names, r, strict=True)), XrefRecord) for r in rows]

    async def xrefs_of_type(self, entity_type: str) -> list[XrefRecord]:
        """Every xref of `entity_type` (each entity's id in each system), by primary key."""
        return await self._xrefs("entity_type = ? ORDER BY canonical_id, system", (entity_type,))

    async def replays_of(self, ids: Collection[str]) -> dict[str, list[Entry]]:
        """The replays (and re-drives) of each of these entries, one generation down, through
        the index of replays."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, list[Entry]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = [bytes.fromhex(i) for i in wanted[start : start + _CHUNK]]
            marks = ",".join("?" * len(chunk))
            rows = await self._entries(
                f"replay_of IN ({marks}) AND replay_of IS NOT NULL ORDER BY seq", chunk
            )
            for _, entry in rows:
                assert entry.replay_of is not None
                found.setdefault(entry.replay_of, []).append(entry)
        return found

    async def open_by_keys(self, keys: Collection[str]) -> dict[str, list[Entry]]:
        """The open entries (not done: queued, in delivery, retrying, parked, dead) of these
        entity keys, oldest first, through the index of open states."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Entry]] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._entries(f"state < 6 AND key IN ({marks}) ORDER BY seq", chunk)
            for _, entry in rows:
                found.setdefault(entry.key, []).append(entry)
        return found

    async def watermark(self, name: str) -> str | None:
        """The value of a named cursor (a poller's), or None if it was never set."""
        rows = await self._rows("SELECT value FROM watermarks WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    async def originals(self, idempotency_keys: Collection[str]) -> dict[str, Entry]:
        """The original entry (never a replay) of each of these idempotency keys that the
        journal holds: merged keys through their index, the latest ones (not merged yet) by a
        scan bounded by sequence above the last merge. Compacted keys are not found."""
        wanted = list(dict.fromkeys(idempotency_keys))
        if self._source.unique_idem:
            return await self._originals_by_index(wanted)
        merged = await self._rows("SELECT value FROM meta WHERE name = 'keys_merged_through'")
        through = int(str(merged[0][0])) if merged else 0
        found: dict[str, Entry] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._entries(
                f"seq IN (SELECT seq FROM idem_keys WHERE idem IN ({marks}))", chunk
            )
            if len(wanted) <= _CHUNK:
                rows += await self._entries(
                    f"seq > ? AND replay_of IS NULL AND idem IN ({marks})", [through, *chunk]
                )
            found.update((e.envelope.idempotency_key, e) for _, e in rows)
        if len(wanted) > _CHUNK:
            # Many keys: the entries above the last merge are scanned once, not once a chunk.
            # Up to `memory_keys` (250,000) of them are unmerged, and a month-end's are all
            # recent: a scan a chunk made 100,000 keys cost 200 scans (bench/reconcile.py).
            asked = set(wanted)
            recent = await self._rows(
                "SELECT seq, idem FROM entries WHERE seq > ? AND replay_of IS NULL", (through,)
            )
            seqs = [seq for seq, idem in recent if idem in asked]
            for start in range(0, len(seqs), _CHUNK):
                chunk_seqs = seqs[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk_seqs))
                rows = await self._entries(f"seq IN ({marks})", chunk_seqs)
                found.update((e.envelope.idempotency_key, e) for _, e in rows)
        return found

    async def _originals_by_index(self, wanted: list[str]) -> dict[str, Entry]:
        # PostgreSQL: every original's key is in the unique partial index on `idem`
        found: dict[str, Entry] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._entries(f"idem IN ({marks}) AND replay_of IS NULL", chunk)
            found.update((e.envelope.idempotency_key, e) for _, e in rows)
        return found

    async def flow_states(
        self, flows: Collection[str], entities: Collection[str]
    ) -> list[FlowState]:
        """The saved state of each of `flows` for any of `entities` (the names a flow may
        have saved it under)."""
        if not flows or not entities:
            return []
        rows = await self._rows(
            "SELECT flow, entity, state, version, updated_at FROM flows "
            f"WHERE flow IN ({','.join('?' * len(flows))}) "
            f"AND entity IN ({','.join('?' * len(entities))}) ORDER BY flow, entity",
            [*flows, *entities],
        )
        return [
            FlowState(
                flow=str(r[0]),
                entity=str(r[1]),
                state=bytes(r[2]) if isinstance(r[2], bytes) else str(r[2]).encode(),
                version=int(str(r[3])),
                updated_at=float(str(r[4])),
            )
            for r in rows
        ]

    async def preview_replay(
        self, where: DeadLetterFilter, *, now: float, max_replays: int = 3
    ) -> ReplayReport:
        """What `Journal.replay` would do (a dry run), computed by the journal's own replay
        code, on a read-only connection: never the writer's."""
        return await self._source.preview_replay(where, now, max_replays)

    async def open_counts(self, now: float) -> list[OpenCounts]:
        """The open entries by kind and state (through the partial index of open states)."""
        rows = await self._rows(
            "SELECT kind, state, count(*), min(accepted_at), "
            f"sum(CASE WHEN state = {EntryState.RETRY:d} AND due_at <= ? THEN 1 ELSE 0 END) "
            "FROM entries WHERE state < 6 GROUP BY kind, state",
            (now,),
        )
        counts: dict[str, OpenCounts] = {}
        for kind, state, count, oldest, due in rows:
            prior = counts.get(str(kind))
            by_state = dict(prior.by_state) if prior else {}
            by_state[EntryState(int(str(state))).name.lower()] = int(str(count))
            oldest_at = float(str(oldest))
            if prior and prior.oldest_accepted_at is not None:
                oldest_at = min(oldest_at, prior.oldest_accepted_at)
            counts[str(kind)] = OpenCounts(
                kind=str(kind),
                by_state=by_state,
                due_retries=(prior.due_retries if prior else 0) + int(str(due or 0)),
                oldest_accepted_at=oldest_at,
            )
        return list(counts.values())

    async def dead_letter_causes(self) -> list[DeadLetterCause]:
        """The open dead letters counted by kind, system and error class (through the partial
        index of open states: closed entries are never read), the largest groups first."""
        clause, params = dead_letter_query(DeadLetterFilter(), 0.0)
        rows = await self._rows(
            "SELECT kind, system, error_class, count(*), min(updated_at), max(reason) "
            f"FROM entries WHERE {clause} GROUP BY kind, system, error_class "
            "ORDER BY count(*) DESC, kind, system, error_class",
            params,
        )
        return [
            DeadLetterCause(
                kind=str(kind),
                system=None if system is None else str(system),
                error_class=None if error is None else str(error),
                count=int(str(count)),
                oldest_at=float(str(oldest)),
                reason=None if reason is None else str(reason),
            )
            for kind, system, error, count, oldest, reason in rows
        ]

    async def last_errors(self) -> dict[str, tuple[str, float]]:
        """The latest error of an open entry by the system that failed, with its time."""
        # in two steps: PostgreSQL has no row "of the max" in a GROUP BY (SQLite's bare
        # columns); there are a few systems, each then one read of the open entries
        failing = "state < 6 AND system IS NOT NULL AND error IS NOT NULL"
        latest = await self._rows(
            f"SELECT system, max(updated_at) FROM entries WHERE {failing} GROUP BY system"
        )
        errors: dict[str, tuple[str, float]] = {}
        for system, at in latest:
            rows = await self._rows(
                f"SELECT error FROM entries WHERE {failing} AND system = ? AND updated_at = ? "
                "ORDER BY seq DESC LIMIT 1",
                (system, at),
            )
            if rows:  # (gone if closed between the two reads)
                errors[str(system)] = (str(rows[0][0]), float(str(at)))
        return errors

    async def audit(self, *, after: int | None = None, limit: int = 50) -> list[AuditRecord]:
        """The audit log in order from the cursor `after` (a record's `seq`)."""
        rows = await self._rows(
            "SELECT seq, at, who, role, action, target, reason, detail FROM audit "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (after or 0, limit),
        )
        return [audit_of(r) for r in rows]

    async def approvals(
        self,
        *,
        state: ApprovalState | None = None,
        entity: str | None = None,
        decided_since: float | None = None,
        limit: int = 100,
    ) -> list[Approval]:
        """Approval requests, oldest first, by state, entity and decision time if given."""
        clauses, params = ["1 = 1"], list[object]()
        if decided_since is not None:
            clauses.append("decided_at >= ?")
            params.append(decided_since)
        if state is not None:
            clauses.append("state = ?")
            params.append(state)
        if entity is not None:
            clauses.append("entity = ?")
            params.append(entity)
        rows = await self._rows(
            f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE {' AND '.join(clauses)} "
            "ORDER BY requested_at LIMIT ?",
            [*params, limit],
        )
        return [approval_of(r) for r in rows]

    async def approval(self, approval_id: str) -> Approval | None:
        """One approval request, or None."""
        rows = await self._rows(
            f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)
        )
        return approval_of(rows[0]) if rows else None
