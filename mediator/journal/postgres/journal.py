"""The PostgreSQL backend of the journal: group commit on one connection, reads on a pool.

`open_postgres_journal` connects, creates or migrates the schema, and owns the writer task;
leaving it commits what is pending and closes the connections. The semantics are the SQLite
journal's (`mediator.journal.sqlite`); what PostgreSQL adds is several daemons on one journal:
each entry carries its entity key's partition, a `Fence` makes every state change conditional
on the daemon still holding the partition's lease, and `accepted_after` / `open_in` are what a
daemon's dispatcher reads to pick up the entries of the partitions it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import Any, TypeAlias, TypeVar, cast

import asyncpg

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.cluster.partitions import Fence
from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import Fenced
from mediator.journal._rows import ENTRY_COLUMNS, dead_letter_query, entry_of
from mediator.journal.postgres import _connect, _ops
from mediator.journal.postgres._grouped import (
    Park,
    RecordXref,
    SaveFlow,
    SetDead,
    SetDone,
    SetRetry,
    SetState,
    SetWatermark,
)
from mediator.journal.postgres._rows import numbered, pg_row, select_entries
from mediator.journal.postgres._stages import Op
from mediator.journal.postgres._writer import PgWriter, prepare_appends
from mediator.journal.records import (
    Appended,
    CompactionReport,
    DeadLetterFilter,
    Entry,
    EntryState,
    FlowState,
    JournalStatistics,
    ReleaseReport,
    ReplayReport,
    Watermark,
    XrefRecord,
)

__all__ = ["PostgresJournal", "open_postgres_journal"]

T = TypeVar("T")
_log = logging.getLogger("mediator.journal")
_Reader: TypeAlias = "asyncpg.pool.PoolConnectionProxy[Any]"

_OPEN = f"state IN ({EntryState.ACCEPTED:d}, {EntryState.IN_FLIGHT:d}, {EntryState.RETRY:d})"
_CLOSE_TIMEOUT = 10.0


@contextlib.asynccontextmanager
async def open_postgres_journal(
    dsn: str,
    *,
    clock: Clock,
    schema: str = "mediator",
    max_batch: int = 334,
    fence: Fence | None = None,
    readers: int = 2,
    lanes: int = 2,
) -> AsyncIterator[PostgresJournal]:
    """Open the journal in `schema` of the database at `dsn` for the duration of the block.

    Creates the schema's tables (or migrates them) in one transaction under an advisory lock.
    Raises `JournalError` naming the server (without its password) and the schema if it cannot
    connect, if the schema was written by a newer version, or if a read or write fails later.
    Writes are group-committed on `lanes` connections (each transaction takes what was written
    while a connection was busy, at most `max_batch` writes; `lanes` batches of appends may
    commit at once, a batch with other writes runs alone: see `_writer`); reads use a pool of
    `readers` connections, so they never wait behind writes. The defaults keep three batches
    going at 1,000 producers, one gathering while two commit (docs/journal.md). Given a
    `fence`, state changes apply only to entries of partitions it holds (else they raise
    `Fenced`), and `recover`, `due` and `held_keys` cover only those partitions.
    """
    _connect.check_schema_name(schema)
    if readers < 1:
        raise ValueError(f"readers must be at least 1, not {readers!r}")
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1, not {lanes!r}")
    place = _connect.where(dsn, schema)
    conns = [await _connect.connect(dsn, schema)]
    try:
        await _connect.migrate(conns[0], place, schema)
        while len(conns) < lanes:
            conns.append(await _connect.connect(dsn, schema))
        for conn in conns:
            try:
                await prepare_appends(conn)
            except _connect.DRIVER_ERRORS as exc:
                raise _connect.translate(place, "cannot prepare the appends", exc) from exc
        pool = await _connect.create_pool(dsn, schema, size=readers)
    except BaseException:
        for conn in conns:
            await _connect.close_quietly(conn.close)
        raise
    writer = PgWriter(
        conns, partial(_connect.connect, dsn, schema), where=place, clock=clock, max_batch=max_batch
    )
    try:
        async with TaskGroup() as tg:
            tg.create_task(writer.run(), name=f"journal-writer {place}")
            try:
                yield PostgresJournal(writer, pool, clock=clock, fence=fence)
            finally:
                writer.close()
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await _connect.close_quietly(pool.close)
        await writer.aclose()


def _check_ids(ids: Iterable[str], *, what: str = "entry id") -> None:
    # Checked on the caller's side, so that a malformed id fails its own caller, not every
    # write gathered into the same transaction.
    for value in ids:
        try:
            if len(value) == 32 and len(bytes.fromhex(value)) == 16:  # (fromhex skips spaces)
                continue
        except (TypeError, ValueError):
            pass
        raise ValueError(f"{what} must be 32 hex digits (a UUIDv7), not {value!r}")


class PostgresJournal:
    """A `Journal` in a PostgreSQL schema (see `open_postgres_journal`); every write waits
    until committed (and so durable: `synchronous_commit` is left on)."""

    def __init__(
        self,
        writer: PgWriter,
        pool: asyncpg.Pool[Any],
        *,
        clock: Clock,
        fence: Fence | None = None,
    ) -> None:
        self._writer = writer
        self._pool = pool
        self._clock = clock
        self._fence = fence

    @property
    def where(self) -> str:
        """The journal as messages name it: the server (without password) and the schema."""
        return self._writer.where

    async def run_op(self, op: Callable[[asyncpg.Connection[Any], float], Awaitable[T]]) -> T:
        """Run `op(conn, now)` inside the next group-commit transaction; return its result once
        committed. The op must not raise for a business reason (it would roll back every write
        gathered with it); a failed transaction raises `JournalError` here."""
        return cast(T, await self._writer.op(op))

    async def _read(self, fn: Callable[[_Reader], Awaitable[T]]) -> T:
        try:
            async with self._pool.acquire(timeout=_connect.COMMAND_TIMEOUT) as conn:
                return await fn(conn)
        except _connect.STATEMENT_ERRORS as exc:
            raise _connect.translate(self.where, "read failed", exc) from exc

    def _fenced(self, refused: list[tuple[str, int]]) -> None:
        if refused and self._fence is not None:
            raise Fenced(
                self.where,
                owner=self._fence.owner,
                ids=[i for i, _ in refused],
                partitions=[p for _, p in refused],
            )

    def _held(self) -> list[int] | None:
        return None if self._fence is None else _ops.held_partitions(self._fence)

    # -- appending ---------------------------------------------------------------------------

    async def append(self, envelope: Envelope) -> Appended:
        """Journal one envelope, gathered with concurrent appends into one transaction.

        Raises `ValueError` (writing nothing) if the envelope cannot be stored (see `pg_row`).
        """
        future, index = self._writer.enqueue_one(envelope, pg_row(envelope))
        appended = (await future)[0]
        return Appended(envelope=envelope, duplicate=False) if appended is None else appended[index]

    async def append_many(
        self, envelopes: Sequence[Envelope], *, watermark: Watermark | None = None
    ) -> list[Appended]:
        """Journal a batch in one transaction, advancing `watermark` in that same transaction."""
        rows = [pg_row(envelope) for envelope in envelopes]
        ops: list[Op] = [] if watermark is None else [SetWatermark(watermark)]
        if not envelopes and not ops:
            return []
        appended, _ = await self._writer.append(list(envelopes), rows, ops)
        return appended

    async def append_dead(
        self,
        envelope: Envelope,
        *,
        reason: str,
        error_class: str,
        system: str | None = None,
        error: str | None = None,
    ) -> Appended:
        """Journal an envelope as a dead letter at once, appended and marked dead in one
        transaction (see `Journal.append_dead`)."""
        op = partial(_ops.append_dead, envelope=envelope, row=pg_row(envelope), reason=reason,
                     error_class=error_class, system=system, error=error or reason)  # fmt: skip
        return cast(Appended, await self._writer.op(op))

    # -- delivery states ---------------------------------------------------------------------

    async def mark_in_flight(self, ids: Sequence[str]) -> None:
        """Record that delivery of these entries begins (counts an attempt each); raises
        `Fenced` (after committing the others) for those of partitions the fence lost."""
        await self._set_state(ids, EntryState.IN_FLIGHT)

    async def mark_done(self, ids: Sequence[str]) -> list[Entry]:
        """Record these entries as delivered; return the entries this unparks, oldest first.
        Raises `Fenced` (after committing the others) for entries of partitions the fence lost;
        what the others unparked is then picked up through `accepted_after`."""
        _check_ids(ids)
        if not ids:
            return []
        unparked, refused = cast(
            tuple[tuple[Entry, ...], list[tuple[str, int]]],
            await self._writer.op(SetDone(ids, self._fence)),
        )
        self._fenced(refused)
        return list(unparked)

    async def park(self, ids: Sequence[str]) -> None:
        """Hold these entries behind their entity's dead letter."""
        await self._set_state(ids, EntryState.PARKED)

    async def _set_state(self, ids: Sequence[str], state: EntryState) -> None:
        _check_ids(ids)
        if ids:
            op = (
                Park(ids, self._fence)
                if state is EntryState.PARKED
                else SetState(ids, state, self._fence)
            )
            self._fenced(await self._writer.op(op))

    async def mark_retry(self, entry_id: str, *, at: float, error: str, error_class: str) -> None:
        """Record a failed attempt to be retried at epoch time `at`."""
        _check_ids([entry_id])
        op = SetRetry(entry_id, at, error, error_class, self._fence)
        self._fenced(await self._writer.op(op))

    async def mark_dead(
        self,
        entry_id: str,
        *,
        reason: str,
        error_class: str,
        system: str | None = None,
        error: str | None = None,
    ) -> None:
        """Make the entry a dead letter with a readable `reason`; `error` is the failure's own
        text (the reason when None)."""
        _check_ids([entry_id])
        op = SetDead(entry_id, reason, error_class, system, error or reason, self._fence)
        self._fenced(await self._writer.op(op))

    async def get(self, entry_id: str) -> Entry | None:
        """Return one entry (any state), or None."""
        _check_ids([entry_id])
        found = await self._read(lambda c: select_entries(c, "id = $1", bytes.fromhex(entry_id)))
        return found[0] if found else None

    async def recover(self) -> list[Entry]:
        """Return every entry still to dispatch (accepted, in-flight, retry), oldest first (of
        the partitions the fence holds now, given one)."""
        held = self._held()
        if held is None:
            return await self._read(lambda c: select_entries(c, f"{_OPEN} ORDER BY id"))
        return await self.open_in(held)

    async def due(self, now: float) -> list[Entry]:
        """Return the retries due by `now`, soonest first."""
        where = f"state = {EntryState.RETRY:d} AND state < 6 AND due_at <= $1"
        held = self._held()
        if held is None:
            return await self._read(lambda c: select_entries(c, f"{where} ORDER BY due_at", now))
        return await self._read(
            lambda c: select_entries(
                c, f"{where} AND partition = ANY($2::int2[]) ORDER BY due_at", now, held
            )
        )

    async def held_keys(self) -> set[str]:
        """Return the entity keys with an open dead letter, an open replay or parked entries."""
        held = self._held()
        return await self._read(lambda c: _ops.held_keys(cast(Any, c), held))

    async def open_entries(self, keys: Sequence[str], kinds: Sequence[str]) -> list[Entry]:
        """Return the open entries of these keys and kinds, oldest first."""
        if not keys or not kinds:
            return []
        where = "state < 6 AND key = ANY($1::text[]) AND kind = ANY($2::text[]) ORDER BY id"
        return await self._read(lambda c: select_entries(c, where, list(keys), list(kinds)))

    # -- what a daemon of a cluster reads --------------------------------------------------------

    async def accepted_after(
        self, cursor: tuple[int, int], partitions: Sequence[int], *, limit: int = 1000
    ) -> tuple[list[Entry], tuple[int, int]]:
        """Return the ACCEPTED entries of `partitions` past `cursor` (a (txid, seq) pair; start
        at (0, 0)) in (txid, seq) order, and the cursor past them.

        Only transactions older than the oldest still running are read: a seq is drawn before
        its transaction commits, so a slower transaction's rows would otherwise be passed
        over. An entry made ACCEPTED again (unparked, a replay) carries its new transaction's
        txid, so it comes again past the cursor.
        """
        query = (
            f"SELECT {ENTRY_COLUMNS}, txid, seq FROM entries "
            f"WHERE state = {EntryState.ACCEPTED:d} AND partition = ANY($3::int2[]) "
            "AND (txid, seq) > ($1, $2) "
            "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint "
            "ORDER BY txid, seq LIMIT $4"
        )

        async def fetch(conn: _Reader) -> tuple[list[Entry], tuple[int, int]]:
            rows = await conn.fetch(query, cursor[0], cursor[1], list(partitions), limit)
            if not rows:
                return [], cursor
            entries = [entry_of(tuple(row)[:-2]) for row in rows]
            return entries, (int(rows[-1]["txid"]), int(rows[-1]["seq"]))

        return await self._read(fetch)

    async def open_in(self, partitions: Sequence[int]) -> list[Entry]:
        """Return the ACCEPTED, IN_FLIGHT and RETRY entries of `partitions` in seq order: what
        a daemon taking them over recovers."""
        where = f"{_OPEN} AND state < 6 AND partition = ANY($1::int2[]) ORDER BY seq"
        return await self._read(lambda c: select_entries(c, where, list(partitions)))

    # -- dead letters ------------------------------------------------------------------------

    async def list_dead(self, where: DeadLetterFilter, *, limit: int = 100) -> list[Entry]:
        """List dead and quarantined entries matching `where`, oldest death first."""
        _check_ids(where.ids or ())
        clause, params = dead_letter_query(where, self._clock.time())
        query = numbered(clause) + f" ORDER BY updated_at LIMIT ${len(params) + 1}"
        return await self._read(lambda c: select_entries(c, query, *params, limit))

    async def replay(
        self, where: DeadLetterFilter, *, dry_run: bool = True, max_replays: int = 3
    ) -> ReplayReport:
        """Send matching dead letters again as new entries with their original idempotency keys
        (a dry run, the default, changes nothing); see `SqliteJournal.replay`."""
        _check_ids(where.ids or ())
        op = partial(_ops.replay, where=where, dry_run=dry_run, max_replays=max_replays)
        if dry_run:
            now = self._clock.time()
            return await self._read(lambda c: op(cast(Any, c), now))
        return cast(ReplayReport, await self._writer.op(op))

    async def release(self, entry_id: str, *, reason: str, by: str) -> ReleaseReport:
        """Close a dead letter without sending it; raise `LookupError` if it is not one."""
        _check_ids([entry_id])
        report = await self._writer.op(
            partial(_ops.release, entry_id=entry_id, reason=reason, by=by)
        )
        if report is None:
            raise LookupError(f"no open dead letter with id {entry_id}")
        return cast(ReleaseReport, report)

    # -- xref, watermarks, flows ---------------------------------------------------------------

    async def record_xref(
        self, entity_type: str, canonical_id: str, system: str, system_id: str
    ) -> XrefRecord:
        """Record that the entity is `system_id` in `system`, replacing an older mapping."""
        record = XrefRecord(entity_type=entity_type, canonical_id=canonical_id, system=system,
                            system_id=system_id, recorded_at=0.0)  # fmt: skip
        return cast(XrefRecord, await self._writer.op(RecordXref(record)))

    async def xref_to(self, entity_type: str, canonical_id: str, system: str) -> XrefRecord | None:
        """Look up the entity's id in `system`."""
        found = await self._xref("entity_type = $1 AND canonical_id = $2 AND system = $3",
                                 entity_type, canonical_id, system)  # fmt: skip
        return found[0] if found else None

    async def xref_all(self, entity_type: str, canonical_id: str) -> list[XrefRecord]:
        """Look up the entity's ids in every system, by system name."""
        return await self._xref(
            "entity_type = $1 AND canonical_id = $2 ORDER BY system", entity_type, canonical_id
        )

    async def xref_from(self, system: str, entity_type: str, system_id: str) -> XrefRecord | None:
        """Look up which canonical entity `system_id` in `system` is."""
        found = await self._xref("system = $1 AND entity_type = $2 AND system_id = $3",
                                 system, entity_type, system_id)  # fmt: skip
        return found[0] if found else None

    async def _xref(self, where: str, *params: str) -> list[XrefRecord]:
        async def query(conn: _Reader) -> list[XrefRecord]:
            rows = await conn.fetch(
                "SELECT entity_type, canonical_id, system, system_id, recorded_at FROM xref "
                f"WHERE {where}",
                *params,
            )
            return [
                XrefRecord(entity_type=t, canonical_id=c, system=s, system_id=i, recorded_at=r)
                for t, c, s, i, r in rows
            ]

        return await self._read(query)

    async def set_watermark(self, watermark: Watermark) -> None:
        """Advance a named cursor on its own."""
        await self._writer.op(SetWatermark(watermark))

    async def get_watermark(self, name: str) -> Watermark | None:
        """Return a named cursor, or None if it was never set."""

        async def query(conn: _Reader) -> Watermark | None:
            value = await conn.fetchval("SELECT value FROM watermarks WHERE name = $1", name)
            return None if value is None else Watermark(name=name, value=value)

        return await self._read(query)

    async def load_flow(self, flow: str, entity: str) -> FlowState | None:
        """Return the saved state of `flow` for `entity`, or None."""

        async def query(conn: _Reader) -> FlowState | None:
            row = await conn.fetchrow(
                "SELECT state, version, updated_at FROM flows WHERE flow = $1 AND entity = $2",
                flow, entity,
            )  # fmt: skip
            if row is None:
                return None
            return FlowState(flow=flow, entity=entity, state=bytes(row[0]), version=row[1],
                             updated_at=row[2])  # fmt: skip

        return await self._read(query)

    async def save_flow(
        self, flow: str, entity: str, state: bytes, *, expected_version: int
    ) -> FlowState | None:
        """Save if the stored version is `expected_version` (0: none yet); None on a conflict."""
        op = SaveFlow(flow, entity, bytes(state), expected_version)
        return cast(FlowState | None, await self._writer.op(op))

    # -- housekeeping ------------------------------------------------------------------------

    async def compact(self, *, done_older_than: float, keep_keys_for: float) -> CompactionReport:
        """Drop payloads of entries closed over `done_older_than` s ago; forget their keys once
        accepted over `keep_keys_for` s ago. Works in short transactions between appends."""
        if keep_keys_for < done_older_than:
            raise ValueError("keep_keys_for must be at least done_older_than")
        now = self._clock.time()
        after, compacted, forgotten = 0, 0, 0
        while True:
            op = partial(_ops.compact_chunk, after=after, limit=20_000,
                         closed_before=now - done_older_than,
                         forget_before=now - keep_keys_for)  # fmt: skip
            last, done, gone = cast(tuple[int | None, int, int], await self._writer.op(op))
            if last is None:
                return CompactionReport(compacted=compacted, forgotten=forgotten)
            after, compacted, forgotten = last, compacted + done, forgotten + gone

    def statistics(self) -> JournalStatistics:
        """Return counters of the group-commit writer."""
        return self._writer.statistics()
