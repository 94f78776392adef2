"""Group commit on PostgreSQL: a batch of writes per transaction, on a few connections (lanes).

Appenders and ops join the batch being gathered; the writer task takes it (at most `max_batch`
appends and ops) the moment a lane (a connection) is free, runs it there as ONE transaction
(the appends coalesced into one unnest insert, then the ops, those of one kind from many
callers coalesced too: see `_stages`), commits, and settles one future shared by every caller
of the batch. That future ignores cancellation: a cancelled appender's write still commits
with the others, and no caller can cancel another's commit.
An op must not raise for a business reason; if the transaction fails, every caller of the
batch gets the `JournalError`, and the writer goes on with the next batch (on a new connection
if the old one broke). `synchronous_commit` stays on: a write is acknowledged once durable.

With two lanes (the default), two batches of appends commit at once, so that the loop's work
for one batch (waking its callers, building the next rows and arrays: about 8 ms per 1,000
appends) runs while the server inserts the other's; on one lane it ran between transactions,
the server idle (figures in docs/journal.md). Their callers have not seen each other's commit,
so no order between them is lost (an append made after another's commit is in a later
transaction, with a later txid), and concurrent appends are what the idempotency index and the
key order are for (several daemons append at once). A batch with ops runs alone, as on one
connection: ops read and then write (unparking, replays), as the SQLite journal's single
writer lets them.

Unlike SQLite's writer this needs no thread: the driver awaits the server, so the loop stays
free, and reads go to their own connections (see `journal`) instead of queueing here.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import JournalError
from mediator.journal._writer import Outcome, SharedFuture
from mediator.journal.postgres._connect import DRIVER_ERRORS, STATEMENT_ERRORS, translate
from mediator.journal.postgres._rows import (
    ENVELOPE_COLUMNS,
    INSERT_ACCEPTED,
    INSERT_NEW,
    PgRow,
    arrays,
    envelope_of,
)
from mediator.journal.postgres._stages import Connection, Op, run_ops
from mediator.journal.records import Appended, JournalStatistics

T = TypeVar("T")


class _Batch:
    __slots__ = ("envelopes", "future", "ops", "rows", "size")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.envelopes: list[Envelope] = []
        self.rows: list[PgRow] = []
        self.ops: list[Op] = []
        self.future = SharedFuture(loop=loop)
        self.size = 0


class PgWriter:
    """Owns the writer's connections (`lanes` of them); gathers writes into batches and
    commits them, a batch with ops alone."""

    def __init__(
        self,
        conns: list[Connection],
        reconnect: Callable[[], Awaitable[Connection]],
        *,
        where: str,
        clock: Clock,
        max_batch: int,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch!r}")
        if not conns:
            raise ValueError("a writer needs at least one connection (lane)")
        self.where = where
        # One connection a lane, opened up front: a lane connecting on its first batch made
        # that batch's appends the slowest of a run (p99 at 1,000 producers).
        self._conns: list[Connection | None] = list(conns)
        lanes = len(conns)
        self._idle = list(range(lanes))
        self._alone = False  # a batch with ops is in flight: it runs alone
        self._settled = asyncio.Event()
        self._reconnect = reconnect
        self._clock = clock
        self._max_batch = max_batch
        self._loop = asyncio.get_running_loop()
        self._current = _Batch(self._loop)
        self._sealed: collections.deque[_Batch] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._transactions = self._appends = self._duplicates = self._largest = 0
        # Whether the last batch's appends were all new: then the next batch's insert goes
        # without ON CONFLICT first (see _transaction_retried).
        self._all_new = True

    # -- the callers' side ---------------------------------------------------------------------

    def enqueue_one(self, envelope: Envelope, row: PgRow) -> tuple[SharedFuture, int]:
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
            async with TaskGroup() as lanes:
                while True:
                    await self._until(lambda: bool(self._idle) and not self._alone)
                    if (batch := await self._next()) is None:
                        break
                    if batch.ops:  # ops run alone, as on one connection (see _transaction)
                        await self._until(lambda: len(self._idle) == len(self._conns))
                    self._alone = bool(batch.ops)
                    lane = self._idle.pop()
                    lanes.create_task(self._commit(lane, batch))
        finally:
            self._closing = True
            left, self._sealed = [*self._sealed, self._current], collections.deque()
            gone = JournalError(self.where, "journal writer stopped before the write")
            for batch in left:
                if batch.size and not batch.future.done():
                    batch.future.set_exception(gone)

    async def _until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            self._settled.clear()
            await self._settled.wait()

    async def aclose(self) -> None:
        """Close the writer's connections (after `run` returned)."""
        conns, self._conns = self._conns, [None] * len(self._conns)
        for conn in conns:
            if conn is None:
                continue
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

    async def _commit(self, lane: int, batch: _Batch) -> None:
        try:
            await self._commit_on(lane, batch)
        finally:
            self._idle.append(lane)
            self._alone = self._alone and not batch.ops
            self._settled.set()

    async def _commit_on(self, lane: int, batch: _Batch) -> None:
        now = self._clock.time()
        try:
            conn = self._conns[lane]
            if conn is None or conn.is_closed():
                self._conns[lane] = None
                conn = self._conns[lane] = await self._reconnect()
            outcome = await _transaction_retried(conn, batch, now, optimistic=self._all_new)
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
        self._all_new = outcome[0] is None
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


class _KnownKey(Exception):
    # The optimistic insert met a known id or idempotency key: its transaction is rolled back.
    pass


async def _transaction_retried(
    conn: Connection, batch: _Batch, now: float, *, optimistic: bool
) -> Outcome:
    # Optimistic: the appends go in without ON CONFLICT (INSERT_NEW), as the first statement of
    # the transaction; a known key fails it, and the transaction, which did nothing else yet,
    # runs again with ON CONFLICT. The writer tries so only after a batch of new appends only,
    # so that a run of duplicates (a vendor retrying its webhooks) costs one failed insert.
    attempts = 1
    while True:
        try:
            return await _transaction(conn, batch, now, optimistic=optimistic)
        except _KnownKey:
            optimistic = False
        except _RETRIED:
            if attempts == _ATTEMPTS:
                raise
            attempts += 1


async def _transaction(conn: Connection, batch: _Batch, now: float, *, optimistic: bool) -> Outcome:
    async with conn.transaction():
        appended = await insert_envelopes(
            conn, now, batch.envelopes, batch.rows, optimistic=optimistic
        )
        results = await run_ops(conn, now, batch.ops)
    return appended, results


async def prepare_appends(conn: Connection) -> None:
    """Prepare the append statements on `conn` (asyncpg caches them by their text), inserting
    nothing: a connection's first one waits about 8 ms for the driver to look up the arrays'
    types, which would otherwise fall on the first batch's appenders."""
    await conn.execute(INSERT_NEW, *arrays([]), 0.0)
    await conn.fetch(INSERT_ACCEPTED, *arrays([]), 0.0)


async def insert_envelopes(
    conn: Connection,
    now: float,
    envelopes: list[Envelope],
    rows: list[PgRow],
    *,
    optimistic: bool = False,
) -> list[Appended] | None:
    """Insert new envelopes; a known idempotency key (stored, or earlier in the batch) or a
    known id yields the entry there, marked duplicate. None when every one was stored as new
    (the common case: each appender makes its own receipt).

    `optimistic`: insert without ON CONFLICT, unless the batch repeats a key or an id; raise
    `_KnownKey` if a stored one fails it (the transaction is then aborted: it must be the
    first statement of its transaction, which the caller runs again without `optimistic`).
    """
    if not envelopes:
        return None
    idems = [row[1] for row in rows]
    fresh = rows
    if len(set(idems)) < len(idems) or len({row[0] for row in rows}) < len(rows):
        seen_idems: set[str] = set()
        seen_ids: set[str] = set()
        fresh = []
        for row in rows:
            if row[1] in seen_idems or row[0] in seen_ids:
                continue
            seen_idems.add(row[1])
            seen_ids.add(row[0])
            fresh.append(row)
    elif optimistic:
        try:
            await conn.execute(INSERT_NEW, *arrays(rows), now)
        except asyncpg.UniqueViolationError as exc:
            raise _KnownKey from exc
        return None
    inserted = await conn.fetch(INSERT_ACCEPTED, *arrays(fresh), now)
    if len(inserted) == len(envelopes):
        return None
    mine = {record[0]: bytes(record[1]).hex() for record in inserted}
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
                f"SELECT {ENVELOPE_COLUMNS} FROM entries WHERE id = $1", bytes.fromhex(row[0])
            )
            there = envelope_of(tuple(found)) if found is not None else env
            results.append(Appended(envelope=there, duplicate=True))
            continue
        own = mine.get(env.idempotency_key) == row[0] and there.id == env.id
        if own:
            mine.pop(env.idempotency_key)  # a later envelope of the same key is a duplicate
        results.append(Appended(envelope=there if not own else env, duplicate=not own))
    return results
