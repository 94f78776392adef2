"""Group commit: one writer gathers concurrent writes into one transaction, one fsync per batch.

Why a plain `sqlite3` connection in one dedicated thread rather than aiosqlite: a batch is a
function of several statements (multi-row inserts, the duplicate look-up, state changes, a
watermark) that must run back to back inside one transaction; here that is one hop to the
thread, with aiosqlite it is a hop through its queue and back through the loop per statement,
and aiosqlite has no public way to run a function on its thread. For the simplest batch
(BEGIN, one executemany of 1,000 rows, COMMIT) bench/journal.py (`writer_choice`) measures the
two within noise of each other (aiosqlite at 0.8-1.2× across runs); the difference is in the
batches with more statements, and in not paying a loop turn between them.

Every caller of one batch awaits one shared future. That future ignores cancellation: a
cancelled appender still waits until its batch is durable (a few milliseconds), and one
caller's cancellation can never cancel the others' commit.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from mediator.clock import Clock
from mediator.codecs.envelope import Envelope
from mediator.errors import JournalError
from mediator.journal._checkpoint import Checkpointer
from mediator.journal._ops import insert_envelopes
from mediator.journal.records import Appended, JournalStatistics

T = TypeVar("T")
Op = Callable[[sqlite3.Connection, float], object]
_Outcome = tuple[list[Appended], list[object]]


class _SharedFuture(asyncio.Future[_Outcome]):
    # Shared by every writer of a batch: see the module docstring.
    def cancel(self, msg: object | None = None) -> bool:
        return False


class _Batch:
    __slots__ = ("envelopes", "future", "ops")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.envelopes: list[Envelope] = []
        self.ops: list[Op] = []
        self.future = _SharedFuture(loop=loop)

    def __len__(self) -> int:
        return len(self.envelopes) + len(self.ops)


class GroupCommitWriter:
    """Owns the connection and its thread; batches writes, runs reads between batches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        checkpointer: Checkpointer,
        *,
        path: str,
        clock: Clock,
        max_batch: int,
        max_delay: float,
    ) -> None:
        self._conn = conn
        self._executor = executor
        self._checkpointer = checkpointer
        self._path = path
        self._clock = clock
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._loop = asyncio.get_running_loop()
        self._current = _Batch(self._loop)
        self._sealed: collections.deque[_Batch] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._committing: list[_Batch] = []
        self._transactions = self._appends = self._duplicates = self._largest = 0

    # -- callers ------------------------------------------------------------------------------

    async def append(
        self, envelopes: list[Envelope], ops: list[Op]
    ) -> tuple[list[Appended], list[object]]:
        """Add envelopes and ops to one batch (kept together) and wait until it is durable."""
        batch = self._batch_for(len(envelopes) + len(ops))
        first_env, first_op = len(batch.envelopes), len(batch.ops)
        batch.envelopes.extend(envelopes)
        batch.ops.extend(ops)
        appended, results = await batch.future
        return (
            appended[first_env : first_env + len(envelopes)],
            results[first_op : first_op + len(ops)],
        )

    async def append_one(self, envelope: Envelope) -> Appended:
        """The fast path of `append` for one envelope."""
        batch = self._batch_for(1)
        index = len(batch.envelopes)
        batch.envelopes.append(envelope)
        return (await batch.future)[0][index]

    async def op(self, op: Op) -> object:
        """Run one write op in a batch and return its result once durable."""
        batch = self._batch_for(1)
        index = len(batch.ops)
        batch.ops.append(op)
        return (await batch.future)[1][index]

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the writer's thread (between batches)."""
        if self._closing:
            raise JournalError(self._path, "journal is closed")
        return await self._loop.run_in_executor(self._executor, fn, self._conn)

    def statistics(self) -> JournalStatistics:
        """Return the writer's counters."""
        waiting = len(self._current) + sum(len(b) for b in self._sealed)
        return JournalStatistics(
            transactions=self._transactions,
            appends=self._appends,
            duplicates=self._duplicates,
            largest_batch=self._largest,
            waiting=waiting,
        )

    def _batch_for(self, size: int) -> _Batch:
        if self._closing:
            raise JournalError(self._path, "journal is closed")
        current = self._current
        if current and len(current) + size > self._max_batch:
            self._sealed.append(current)
            current = self._current = _Batch(self._loop)
        self._wake.set()
        return current

    # -- the writer task ----------------------------------------------------------------------

    async def run(self) -> None:
        """Commit batches until closed; the last batches are committed before it returns."""
        try:
            while True:
                if not self._sealed and not self._current:
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if self._sealed:
                    batch = self._sealed.popleft()
                else:
                    await self._linger()
                    if self._sealed:
                        continue
                    batch, self._current = self._current, _Batch(self._loop)
                await self._commit(batch)
        finally:
            stopped = JournalError(self._path, "journal writer stopped before the write")
            for batch in [*self._committing, *self._sealed, self._current]:
                if batch and not batch.future.done():
                    batch.future.set_exception(stopped)

    def close(self) -> None:
        """Refuse new writes; `run` returns once what is pending is committed."""
        self._closing = True
        self._wake.set()

    async def _linger(self) -> None:
        # Let appenders that are already runnable join this batch: wait while it keeps growing,
        # at most `max_delay`. A lone appender pays one loop turn, not the delay.
        batch = self._current
        deadline = self._clock.monotonic() + self._max_delay
        size = len(batch)
        while size < self._max_batch and self._clock.monotonic() < deadline:
            await asyncio.sleep(0)
            if len(batch) == size:
                return
            size = len(batch)

    async def _commit(self, batch: _Batch) -> None:
        now = self._clock.time()
        self._committing.append(batch)
        try:
            outcome = await self._loop.run_in_executor(
                self._executor, _transaction, self._conn, batch.envelopes, batch.ops, now
            )
        except sqlite3.Error as exc:
            self._committing.remove(batch)
            batch.future.set_exception(JournalError(self._path, f"write failed: {exc}"))
            return
        except Exception as exc:  # a bug in an op: its callers see it, and so does our owner
            self._committing.remove(batch)
            batch.future.set_exception(exc)
            raise
        # (on cancellation the batch stays listed, and `run` fails its waiters on the way out)
        self._committing.remove(batch)
        self._checkpointer.committed(len(batch))
        self._transactions += 1
        self._appends += len(batch.envelopes)
        self._duplicates += sum(1 for a in outcome[0] if a.duplicate)
        self._largest = max(self._largest, len(batch))
        batch.future.set_result(outcome)
        if self._checkpointer.catch_up_due():  # after the acknowledgement: see _checkpoint
            await self._loop.run_in_executor(
                self._executor, self._checkpointer.catch_up, self._conn
            )


def _transaction(
    conn: sqlite3.Connection, envelopes: list[Envelope], ops: list[Op], now: float
) -> _Outcome:
    conn.execute("BEGIN IMMEDIATE")
    try:
        appended = insert_envelopes(conn, now, envelopes) if envelopes else []
        results = [op(conn, now) for op in ops]
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return appended, results
