"""Group commit on PostgreSQL: one writer connection, one transaction per gathered batch.

Appenders and ops join the batch being gathered; the writer task takes it (at most `max_batch`
appends and ops) the moment the transaction before ends, runs it as ONE transaction (the
appends coalesced into one unnest insert, then each op in order), commits, and settles one
future shared by every caller of the batch. That future ignores cancellation: a cancelled
appender's write still commits with the others, and no caller can cancel another's commit.
An op must not raise for a business reason; if the transaction fails, every caller of the
batch gets the `JournalError`, and the writer goes on with the next batch (on a new connection
if the old one broke). `synchronous_commit` stays on: a write is acknowledged once durable.

Unlike SQLite's writer this needs no thread: the driver awaits the server, so the loop stays
free, and reads go to their own connections (see `journal`) instead of queueing here.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import asyncpg

from mediator.clock import Clock
from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import JournalError
from mediator.journal.postgres._connect import DRIVER_ERRORS, STATEMENT_ERRORS, translate
from mediator.journal.postgres._rows import (
    ENVELOPE_COLUMNS,
    INSERT_ACCEPTED,
    PgRow,
    columns,
    envelope_of,
)
from mediator.journal.records import Appended, JournalStatistics

T = TypeVar("T")
Connection: TypeAlias = "asyncpg.Connection[Any]"
#: An op: run inside the group-commit transaction with the batch's time.
Op = Callable[[Connection, float], Awaitable[Any]]
# (each envelope's receipt, or None when all were stored as new; each op's result)
_Outcome = tuple[list[Appended] | None, list[object]]


class _SharedFuture(asyncio.Future[_Outcome]):
    # Shared by every writer of a batch: see the module docstring.
    def cancel(self, msg: object | None = None) -> bool:
        return False


class _Batch:
    __slots__ = ("envelopes", "future", "ops", "rows", "size")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.envelopes: list[Envelope] = []
        self.rows: list[PgRow] = []
        self.ops: list[Op] = []
        self.future = _SharedFuture(loop=loop)
        self.size = 0


class PgWriter:
    """Owns the writer connection; gathers writes into batches and commits them in order."""

    def __init__(
        self,
        conn: Connection,
        reconnect: Callable[[], Awaitable[Connection]],
        *,
        where: str,
        clock: Clock,
        max_batch: int,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch!r}")
        self.where = where
        self._conn: Connection | None = conn
        self._reconnect = reconnect
        self._clock = clock
        self._max_batch = max_batch
        self._loop = asyncio.get_running_loop()
        self._current = _Batch(self._loop)
        self._sealed: collections.deque[_Batch] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._transactions = self._appends = self._duplicates = self._largest = 0

    # -- the callers' side ---------------------------------------------------------------------

    def enqueue_one(self, envelope: Envelope, row: PgRow) -> tuple[_SharedFuture, int]:
        """Add one append to the batch; return its future and the envelope's index in it."""
        batch = self._room(1)
        batch.envelopes.append(envelope)
        batch.rows.append(row)
        batch.size += 1
        return batch.future, len(batch.envelopes) - 1

    async def append(
        self, envelopes: list[Envelope], rows: list[PgRow], ops: list[Op]
    ) -> tuple[list[Appended], list[object]]:
        """Append `envelopes` and run `ops` in one transaction; return the receipts and the
        ops' results."""
        batch = self._room(len(envelopes) + len(ops))
        start = len(batch.envelopes)
        batch.envelopes.extend(envelopes)
        batch.rows.extend(rows)
        first_op = len(batch.ops)
        batch.ops.extend(ops)
        batch.size += len(envelopes) + len(ops)
        appended, results = await batch.future
        mine = results[first_op : first_op + len(ops)]
        if appended is None:
            return [Appended(envelope=e, duplicate=False) for e in envelopes], mine
        return appended[start : start + len(envelopes)], mine

    async def op(self, op: Op) -> Any:
        """Run `op` in the next transaction; return its result once committed."""
        _, results = await self.append([], [], [op])
        return results[0]

    def statistics(self) -> JournalStatistics:
        """Counters since open."""
        waiting = self._current.size + sum(b.size for b in self._sealed)
        return JournalStatistics(
            transactions=self._transactions,
            appends=self._appends,
            duplicates=self._duplicates,
            largest_batch=self._largest,
            waiting=waiting,
        )

    def _room(self, size: int) -> _Batch:
        # The batch that takes `size` more writes: a caller's writes never straddle two
        # transactions, and a batch grows past max_batch only by one caller's own writes.
        if self._closing:
            raise JournalError(self.where, "the journal is closed")
        current = self._current
        if current.size and current.size + size > self._max_batch:
            self._sealed.append(current)
            current = self._current = _Batch(self._loop)
        self._wake.set()
        return current

    # -- the writer task -----------------------------------------------------------------------

    async def run(self) -> None:
        """Commit batches until closed; what is pending when closed is committed first."""
        try:
            while (batch := await self._next()) is not None:
                await self._commit(batch)
        finally:
            self._closing = True
            left, self._sealed = [*self._sealed, self._current], collections.deque()
            gone = JournalError(self.where, "journal writer stopped before the write")
            for batch in left:
                if batch.size and not batch.future.done():
                    batch.future.set_exception(gone)

    async def aclose(self) -> None:
        """Close the writer's connection (after `run` returned)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                async with asyncio.timeout(10.0):
                    await conn.close()
            except (*DRIVER_ERRORS,):  # nothing is lost: every write was committed
                conn.terminate()

    def close(self) -> None:
        """Refuse new writes; `run` returns once what is pending is committed."""
        self._closing = True
        self._wake.set()

    async def _next(self) -> _Batch | None:
        while True:
            if self._sealed:
                return self._sealed.popleft()
            if self._current.size:
                batch, self._current = self._current, _Batch(self._loop)
                return batch
            if self._closing:
                return None
            self._wake.clear()
            await self._wake.wait()

    async def _commit(self, batch: _Batch) -> None:
        now = self._clock.time()
        try:
            conn = self._conn
            if conn is None or conn.is_closed():
                self._conn = None
                conn = self._conn = await self._reconnect()
            outcome = await _transaction_retried(conn, batch, now)
        except JournalError as exc:
            batch.future.set_exception(exc)
            return
        except STATEMENT_ERRORS as exc:  # the batch's failure: the writer goes on
            failure = translate(self.where, "write failed", exc)
            failure.__cause__ = exc
            batch.future.set_exception(failure)
            return
        except asyncio.CancelledError:
            batch.future.set_exception(
                JournalError(self.where, "journal writer stopped during the write")
            )
            raise
        except Exception as exc:  # a bug in an op: its callers learn of it, and so does our owner
            batch.future.set_exception(exc)
            raise
        self._transactions += 1
        self._appends += len(batch.envelopes)
        if outcome[0] is not None:
            self._duplicates += sum(1 for a in outcome[0] if a.duplicate)
        self._largest = max(self._largest, batch.size)
        batch.future.set_result(outcome)


# A transaction that PostgreSQL rolled back to break a deadlock (or a serialization conflict)
# did nothing: it is run again, whole, rather than failing every caller of its batch. Appends
# are ordered to avoid deadlocks (see _rows.INSERT_ACCEPTED); this covers what is left, e.g.
# two daemons' state changes of one entry in different orders during a lease's handover.
_ATTEMPTS = 3
_RETRIED = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)


async def _transaction_retried(conn: Connection, batch: _Batch, now: float) -> _Outcome:
    for _ in range(_ATTEMPTS - 1):
        try:
            return await _transaction(conn, batch, now)
        except _RETRIED:
            continue
    return await _transaction(conn, batch, now)


async def _transaction(conn: Connection, batch: _Batch, now: float) -> _Outcome:
    async with conn.transaction():
        appended = await insert_envelopes(conn, now, batch.envelopes, batch.rows)
        results = [await op(conn, now) for op in batch.ops]
    return appended, results


async def insert_envelopes(
    conn: Connection, now: float, envelopes: list[Envelope], rows: list[PgRow]
) -> list[Appended] | None:
    """Insert new envelopes; a known idempotency key (stored, or earlier in the batch) or a
    known id yields the entry there, marked duplicate. None when every one was stored as new
    (the common case: each appender makes its own receipt)."""
    if not envelopes:
        return None
    idems = [row[1] for row in rows]
    fresh = rows
    if len(set(idems)) < len(idems) or len({row[0] for row in rows}) < len(rows):
        seen_idems: set[str] = set()
        seen_ids: set[bytes] = set()
        fresh = []
        for row in rows:
            if row[1] in seen_idems or row[0] in seen_ids:
                continue
            seen_idems.add(row[1])
            seen_ids.add(row[0])
            fresh.append(row)
    inserted = await conn.fetch(INSERT_ACCEPTED, *columns(fresh), now)
    if len(inserted) == len(envelopes):
        return None
    mine = {record[0]: bytes(record[1]) for record in inserted}
    by_idem = {
        r[1]: envelope_of(tuple(r))
        for r in await conn.fetch(
            f"SELECT {ENVELOPE_COLUMNS} FROM entries WHERE idem = ANY($1::text[]) "
            "AND replay_of IS NULL",
            list(set(idems)),
        )
    }
    results: list[Appended] = []
    for env, row in zip(envelopes, rows, strict=True):
        there = by_idem.get(env.idempotency_key)
        if there is None:  # not inserted: its id is taken (by an entry under another key)
            found = await conn.fetchrow(
                f"SELECT {ENVELOPE_COLUMNS} FROM entries WHERE id = $1", row[0]
            )
            there = envelope_of(tuple(found)) if found is not None else env
            results.append(Appended(envelope=there, duplicate=True))
            continue
        own = mine.get(env.idempotency_key) == row[0] and there.id == env.id
        if own:
            mine.pop(env.idempotency_key)  # a later envelope of the same key is a duplicate
        results.append(Appended(envelope=there if not own else env, duplicate=not own))
    return results
