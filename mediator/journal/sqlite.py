"""The SQLite backend of the journal: WAL, group commit, one writer thread.

`open_journal` opens (creating or migrating) the file and owns the writer task; leaving it
commits what is pending and closes the file. All statements run on one connection in one
thread, so reads see every committed write and never contend with another writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Literal, cast

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.codecs.canonical.envelope import Envelope
from mediator.journal import _faults, _gil, _ops, _schema
from mediator.journal._checkpoint import Checkpointer
from mediator.journal._keys import KeyIndex
from mediator.journal._rows import dead_letter_query, envelope_row, select_entries
from mediator.journal._writer import GroupCommitWriter, Op
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

__all__ = ["GIL_SWITCH_INTERVAL", "SqliteJournal", "open_journal"]

GIL_SWITCH_INTERVAL = _gil.DEFAULT
"""The switch interval (100 µs) an application gives `open_journal` for the journal's writer:
bench/journal measured 52k appends/s at 1,000 producers against 34k at CPython's 5 ms."""

_log = logging.getLogger("mediator.journal")

_RECOVER = (
    f"state IN ({EntryState.ACCEPTED:d}, {EntryState.IN_FLIGHT:d}, {EntryState.RETRY:d}) "
    "AND state < 6 ORDER BY id"
)


@contextlib.asynccontextmanager
async def open_journal(
    path: str | Path,
    *,
    clock: Clock,
    synchronous: Literal["FULL", "NORMAL"] = "FULL",
    max_batch: int = 1000,
    memory_keys: int = 250_000,
    switch_interval: float | None = None,
) -> AsyncIterator[SqliteJournal]:
    """Open the journal at `path` for the duration of the block.

    Raises `JournalError` (naming the file, the reason and what to do) if the file is not a
    mediator journal, is damaged, was written by a newer version, cannot be written by this
    process, or the disk fails while it opens; a read or write that SQLite fails later raises
    one too (see `_faults`). `synchronous="NORMAL"` trades the last transactions before a
    power loss (not a process crash) for fewer fsyncs. Writes are group-committed: each
    transaction takes what was written while the one before it committed, at most
    `max_batch` writes. Up to `memory_keys` idempotency keys of recent
    appends are held in memory before they are merged into the file's key table (see `_keys`;
    about 130 bytes each, twice that many during a merge); opening reads them back.
    Given `switch_interval` (e.g. `GIL_SWITCH_INTERVAL`, 100 µs), the interpreter's GIL
    switch interval is held at most at that while the journal is open, so that the writer
    thread gets the GIL back from a busy event loop quickly (see `_gil`). It is process-wide,
    so it is the application's choice (`mediator run` makes it), not a default: None leaves it.
    An exception raised in the block, or one failure inside, leaves the block as itself;
    an `ExceptionGroup` only when several things failed at once (see `mediator._task_group`).
    """
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    if switch_interval is not None and switch_interval <= 0:
        raise ValueError(f"switch_interval must be positive, not {switch_interval!r}")
    with _gil.lowered_switch_interval(switch_interval):
        async with _opened(Path(path), clock, synchronous, max_batch, memory_keys) as journal:
            yield journal


@contextlib.asynccontextmanager
async def _opened(
    file: Path, clock: Clock, synchronous: str, max_batch: int, memory_keys: int
) -> AsyncIterator[SqliteJournal]:
    keys = KeyIndex(memory_keys=memory_keys)
    # opening and closing run here; everything between, on the writer's own thread
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-open")
    loop = asyncio.get_running_loop()
    try:
        conn = await loop.run_in_executor(executor, partial(_open, file, synchronous, keys))
    except BaseException:
        executor.shutdown(wait=False)
        raise
    checkpointer = Checkpointer(file)
    writer = GroupCommitWriter(
        conn,
        checkpointer,
        keys,
        path=str(file),
        clock=clock,
        max_batch=max_batch,
        defer_fsync=synchronous == "FULL",
    )
    try:
        async with TaskGroup() as tg:
            tg.create_task(writer.run(), name=f"journal-writer {file}")
            try:
                yield SqliteJournal(writer, clock=clock)
            finally:
                writer.close()
    finally:
        await checkpointer.aclose()  # first: the writer's connection closes last, checkpointing
        await loop.run_in_executor(executor, _close, conn, file)
        executor.shutdown(wait=True)


def _open(file: Path, synchronous: str, keys: KeyIndex) -> sqlite3.Connection:
    # The edge of opening: whatever SQLite raises on the way (the schema's checks, the key
    # loading, the key filter's first build and save) leaves as one JournalError.
    conn: sqlite3.Connection | None = None
    try:
        conn = _schema.connect(file, synchronous=synchronous)
        keys.load(conn)
    except BaseException as exc:
        if conn is not None:
            _close(conn, file)
        if isinstance(exc, sqlite3.Error | _faults.DamagedRecord):
            raise _faults.translate(file, "cannot open", exc) from exc
        raise
    return conn


def _close(conn: sqlite3.Connection, file: Path) -> None:
    # A failure to close loses nothing (every write was committed and synced, and SQLite
    # checkpoints on the next open) and must not hide the error that brought us here.
    try:
        conn.close()
    except sqlite3.Error as exc:
        _log.warning("journal %s: closing the file failed: %s", file, exc)


def _check_ids(ids: Iterable[str], *, what: str = "entry id") -> None:
    # Checked on the caller's side, so that a malformed id fails its own caller, not every
    # write gathered into the same transaction (nor the writer thread).
    for value in ids:
        try:
            if len(value) == 32 and len(bytes.fromhex(value)) == 16:  # (fromhex skips spaces)
                continue
        except (TypeError, ValueError):
            pass
        raise ValueError(f"{what} must be 32 hex digits (a UUIDv7), not {value!r}")


class SqliteJournal:
    """A `Journal` in one SQLite file (see `open_journal`); every write waits until durable."""

    def __init__(self, writer: GroupCommitWriter, *, clock: Clock) -> None:
        self._writer = writer
        self._clock = clock

    # -- appending ---------------------------------------------------------------------------

    async def append(self, envelope: Envelope) -> Appended:
        """Journal one envelope, gathered with concurrent appends into one transaction.

        Raises `ValueError` (writing nothing) if the envelope's id is not 32 hex digits.
        """
        future, index = self._writer.enqueue_one(envelope, envelope_row(envelope))
        appended = (await future)[0]
        return Appended(envelope=envelope, duplicate=False) if appended is None else appended[index]

    async def append_many(
        self, envelopes: Sequence[Envelope], *, watermark: Watermark | None = None
    ) -> list[Appended]:
        """Journal a batch in one transaction, advancing `watermark` in that same transaction."""
        rows = [envelope_row(envelope) for envelope in envelopes]
        ops: list[Op] = [] if watermark is None else [partial(_ops.set_watermark, mark=watermark)]
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
        """Journal an envelope as a dead letter at once (see `Journal.append_dead`): appended
        and marked dead in one transaction, so a crash between the two cannot leave it open,
        to be delivered."""
        op = partial(_ops.append_dead, envelope=envelope, row=envelope_row(envelope),
                     keys=self._writer.keys, reason=reason, error_class=error_class,
                     system=system, error=error or reason)  # fmt: skip
        return cast(Appended, await self._writer.op(op))

    # -- delivery states ---------------------------------------------------------------------

    async def mark_in_flight(self, ids: Sequence[str]) -> None:
        """Record that delivery of these entries begins (counts an attempt each)."""
        await self._set_state(ids, EntryState.IN_FLIGHT)

    async def mark_done(self, ids: Sequence[str]) -> list[Entry]:
        """Record these entries as delivered; return the entries this unparks, oldest first."""
        _check_ids(ids)
        if not ids:
            return []
        unparked = await self._writer.op(partial(_ops.set_done, ids=list(ids)))
        return list(cast(tuple[Entry, ...], unparked))

    async def park(self, ids: Sequence[str]) -> None:
        """Hold these entries behind their entity's dead letter."""
        await self._set_state(ids, EntryState.PARKED)

    async def _set_state(self, ids: Sequence[str], state: EntryState) -> None:
        _check_ids(ids)
        if ids:
            await self._writer.op(partial(_ops.set_state, ids=list(ids), state=state))

    async def mark_retry(self, entry_id: str, *, at: float, error: str, error_class: str) -> None:
        """Record a failed attempt to be retried at epoch time `at`."""
        _check_ids([entry_id])
        await self._writer.op(
            partial(_ops.set_retry, entry_id=entry_id, at=at, error=error, error_class=error_class)
        )

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
        await self._writer.op(
            partial(
                _ops.set_dead,
                entry_id=entry_id,
                reason=reason,
                error_class=error_class,
                system=system,
                error=error or reason,
            )
        )

    async def get(self, entry_id: str) -> Entry | None:
        """Return one entry (any state), or None."""
        _check_ids([entry_id])
        return await self._writer.read(partial(_ops.entry_or_none, entry_id=entry_id))

    async def recover(self) -> list[Entry]:
        """Return every entry still to dispatch (accepted, in-flight, retry), oldest first."""
        return await self._writer.read(partial(select_entries, where=_RECOVER, params=()))

    async def due(self, now: float) -> list[Entry]:
        """Return the retries due by `now`, soonest first."""
        where = f"state = {EntryState.RETRY:d} AND state < 6 AND due_at <= ? ORDER BY due_at"
        return await self._writer.read(partial(select_entries, where=where, params=(now,)))

    async def held_keys(self) -> set[str]:
        """Return the entity keys with an open dead letter, an open replay or parked entries."""

        def keys(conn: sqlite3.Connection) -> set[str]:
            return {r[0] for r in conn.execute(_ops.HELD_KEYS)}

        return await self._writer.read(keys)

    async def open_entries(self, keys: Sequence[str], kinds: Sequence[str]) -> list[Entry]:
        """Return the open entries of these keys and kinds, oldest first."""
        if not keys or not kinds:
            return []
        key_marks, kind_marks = ",".join("?" * len(keys)), ",".join("?" * len(kinds))
        # "state < 6" is the partial index's condition: only open entries are scanned
        where = f"state < 6 AND key IN ({key_marks}) AND kind IN ({kind_marks}) ORDER BY id"
        query = partial(select_entries, where=where, params=[*keys, *kinds])
        return await self._writer.read(query)

    # -- dead letters ------------------------------------------------------------------------

    async def list_dead(self, where: DeadLetterFilter, *, limit: int = 100) -> list[Entry]:
        """List dead and quarantined entries matching `where`, oldest death first."""
        _check_ids(where.ids or ())
        clause, params = dead_letter_query(where, self._clock.time())
        query = partial(
            select_entries, where=f"{clause} ORDER BY updated_at LIMIT ?", params=[*params, limit]
        )
        return await self._writer.read(query)

    async def replay(
        self, where: DeadLetterFilter, *, dry_run: bool = True, max_replays: int = 3
    ) -> ReplayReport:
        """Send matching dead letters again as new entries with their original idempotency keys.

        A dry run (the default) changes nothing and reports what would be sent. A dead letter
        already replayed `max_replays` times is quarantined instead; quarantined entries are
        never replayed. Parked entries stay parked until the replay is done.
        """
        _check_ids(where.ids or ())
        op = partial(_ops.replay, where=where, dry_run=dry_run, max_replays=max_replays)
        if dry_run:
            now = self._clock.time()
            return await self._writer.read(lambda conn: op(conn, now))
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
        record = XrefRecord(
            entity_type=entity_type,
            canonical_id=canonical_id,
            system=system,
            system_id=system_id,
            recorded_at=0.0,
        )
        return cast(XrefRecord, await self._writer.op(partial(_ops.record_xref, record=record)))

    async def xref_to(self, entity_type: str, canonical_id: str, system: str) -> XrefRecord | None:
        """Look up the entity's id in `system`."""
        found = await self._xref("entity_type = ? AND canonical_id = ? AND system = ?",
                                 (entity_type, canonical_id, system))  # fmt: skip
        return found[0] if found else None

    async def xref_all(self, entity_type: str, canonical_id: str) -> list[XrefRecord]:
        """Look up the entity's ids in every system, by system name."""
        return await self._xref(
            "entity_type = ? AND canonical_id = ? ORDER BY system", (entity_type, canonical_id)
        )

    async def xref_from(self, system: str, entity_type: str, system_id: str) -> XrefRecord | None:
        """Look up which canonical entity `system_id` in `system` is."""
        found = await self._xref("system = ? AND entity_type = ? AND system_id = ?",
                                 (system, entity_type, system_id))  # fmt: skip
        return found[0] if found else None

    async def _xref(self, where: str, params: tuple[str, ...]) -> list[XrefRecord]:
        def query(conn: sqlite3.Connection) -> list[XrefRecord]:
            cur = conn.execute(
                "SELECT entity_type, canonical_id, system, system_id, recorded_at FROM xref "
                f"WHERE {where}",
                params,
            )
            return [
                XrefRecord(entity_type=t, canonical_id=c, system=s, system_id=i, recorded_at=r)
                for t, c, s, i, r in cur
            ]

        return await self._writer.read(query)

    async def set_watermark(self, watermark: Watermark) -> None:
        """Advance a named cursor on its own."""
        await self._writer.op(partial(_ops.set_watermark, mark=watermark))

    async def get_watermark(self, name: str) -> Watermark | None:
        """Return a named cursor, or None if it was never set."""

        def query(conn: sqlite3.Connection) -> Watermark | None:
            row = conn.execute("SELECT value FROM watermarks WHERE name = ?", (name,)).fetchone()
            return None if row is None else Watermark(name=name, value=row[0])

        return await self._writer.read(query)

    async def load_flow(self, flow: str, entity: str) -> FlowState | None:
        """Return the saved state of `flow` for `entity`, or None."""

        def query(conn: sqlite3.Connection) -> FlowState | None:
            row = conn.execute(
                "SELECT state, version, updated_at FROM flows WHERE flow = ? AND entity = ?",
                (flow, entity),
            ).fetchone()
            if row is None:
                return None
            return FlowState(flow=flow, entity=entity, state=row[0], version=row[1],
                             updated_at=row[2])  # fmt: skip

        return await self._writer.read(query)

    async def save_flow(
        self, flow: str, entity: str, state: bytes, *, expected_version: int
    ) -> FlowState | None:
        """Save if the stored version is `expected_version` (0: none yet); None on a conflict."""
        op = partial(_ops.save_flow, flow=flow, entity=entity, state=state,
                     expected=expected_version)  # fmt: skip
        return cast(FlowState | None, await self._writer.op(op))

    # -- housekeeping ------------------------------------------------------------------------

    async def compact(self, *, done_older_than: float, keep_keys_for: float) -> CompactionReport:
        """Drop payloads of entries closed over `done_older_than` s ago; forget their keys once
        accepted over `keep_keys_for` s ago. Works in short transactions between appends."""
        if keep_keys_for < done_older_than:
            raise ValueError("keep_keys_for must be at least done_older_than")
        now = self._clock.time()
        after, compacted, forgotten = b"", 0, 0
        while True:
            op = partial(_ops.compact_chunk, after=after, limit=20_000,
                         closed_before=now - done_older_than,
                         forget_before=now - keep_keys_for,
                         keys=self._writer.keys)  # fmt: skip
            last, done, gone = cast(tuple[bytes | None, int, int], await self._writer.op(op))
            if last is None:
                return CompactionReport(compacted=compacted, forgotten=forgotten)
            after, compacted, forgotten = last, compacted + done, forgotten + gone

    def statistics(self) -> JournalStatistics:
        """Return counters of the group-commit writer."""
        return self._writer.statistics()
