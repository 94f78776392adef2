"""Group commit: one writer thread gathers concurrent writes into one transaction, one fsync each.

The writer is a thread of its own that drives itself: the moment a commit ends it takes
whatever was appended meanwhile (up to `max_batch` writes) as the next transaction. The loop
side only appends to the batch being gathered, under a lock, and wakes the thread if it
sleeps; finished batches go back through `_durability`. Every caller of one batch awaits one
shared future, which ignores cancellation: a cancelled appender still waits until its batch
is durable, and no caller's cancellation can cancel the others' commit. Reads run on the same
thread between transactions, so they see every committed write.

Why a thread and not the loop driving, why plain sqlite3 and not aiosqlite, what bounds it and
what was measured and left out: docs/journal.md, "The writer thread and group commit".
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from mediator.clock import Clock
from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import JournalError
from mediator.journal._checkpoint import Checkpointer
from mediator.journal._durability import DurableHandoff
from mediator.journal._faults import DamagedRecord, translate
from mediator.journal._keys import KeyIndex
from mediator.journal._ops import insert_envelopes
from mediator.journal._rows import EnvelopeRow
from mediator.journal.records import Appended, JournalStatistics

T = TypeVar("T")
Op = Callable[[sqlite3.Connection, float], object]
# (each envelope's receipt, or None when all were stored as new; each op's result)
Outcome = tuple[list[Appended] | None, list[object]]
_Read = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


class SharedFuture(asyncio.Future[Outcome]):
    # Shared by every writer of a batch (one caller's cancellation must not cancel the others':
    # see the module docstring); the PostgreSQL writer's batches use it too.
    def cancel(self, msg: object | None = None) -> bool:
        return False


class _Batch:
    __slots__ = ("envelopes", "future", "ops", "rows", "size")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.envelopes: list[Envelope] = []
        self.rows: list[EnvelopeRow] = []  # the envelopes' own columns, built by the appenders
        self.ops: list[Op] = []
        self.future = SharedFuture(loop=loop)
        self.size = 0  # envelopes and ops (an attribute, not __len__: read on every append)

    def __len__(self) -> int:
        return self.size


class GroupCommitWriter:
    """Owns the connection and its thread; batches writes, runs reads between batches."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        checkpointer: Checkpointer,
        keys: KeyIndex,
        *,
        path: str,
        clock: Clock,
        max_batch: int,
        defer_fsync: bool = False,
    ) -> None:
        self._conn = conn
        self._checkpointer = checkpointer
        self.keys = keys
        self._path = path
        self._clock = clock
        self._max_batch = max_batch
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._current = _Batch(self._loop)
        self._sealed: collections.deque[_Batch] = collections.deque()
        self._reads: collections.deque[_Read] = collections.deque()
        self._sleeping = False
        self._closing = False
        self._aborted = False
        self._transactions = self._appends = self._duplicates = self._largest = 0
        self._handoff = DurableHandoff(
            self._loop,
            path=path,
            defer_fsync=defer_fsync,
            on_failure=self._abort,
        )

    # -- callers (the event loop's thread) -----------------------------------------------------

    async def append(
        self, envelopes: list[Envelope], rows: list[EnvelopeRow], ops: list[Op]
    ) -> tuple[list[Appended], list[object]]:
        """Add envelopes (with their `envelope_row`s) and ops to one batch (kept together) and
        wait until it is durable."""
        with self._lock:
            batch = self._batch_for(len(envelopes) + len(ops))
            first_env, first_op = len(batch.envelopes), len(batch.ops)
            batch.envelopes.extend(envelopes)
            batch.rows.extend(rows)
            batch.ops.extend(ops)
            batch.size += len(envelopes) + len(ops)
        appended, results = await batch.future
        mine = (
            [Appended(envelope=env, duplicate=False) for env in envelopes]
            if appended is None
            else appended[first_env : first_env + len(envelopes)]
        )
        return mine, results[first_op : first_op + len(ops)]

    def enqueue_one(self, envelope: Envelope, row: EnvelopeRow) -> tuple[SharedFuture, int]:
        """The fast path of `append` for one envelope: add it to the batch being gathered and
        return that batch's future with the envelope's place in its outcome (awaited by the
        caller: one coroutine per append rather than two)."""
        with self._lock:
            batch = self._batch_for(1)
            index = len(batch.envelopes)
            batch.envelopes.append(envelope)
            batch.rows.append(row)
            batch.size += 1
        return batch.future, index

    async def op(self, op: Op) -> object:
        """Run one write op in a batch and return its result once durable."""
        with self._lock:
            batch = self._batch_for(1)
            index = len(batch.ops)
            batch.ops.append(op)
            batch.size += 1
        return (await batch.future)[1][index]

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the writer's thread (between batches)."""
        future: asyncio.Future[T] = self._loop.create_future()
        with self._lock:
            if self._closing:
                raise JournalError(self._path, "journal is closed")
            self._reads.append((fn, future))
            self._wake()
        return await future

    def statistics(self) -> JournalStatistics:
        """Return the writer's counters."""
        with self._lock:  # the writer thread takes sealed batches
            waiting = len(self._current) + sum(len(b) for b in self._sealed)
        return JournalStatistics(
            transactions=self._transactions,
            appends=self._appends,
            duplicates=self._duplicates,
            largest_batch=self._largest,
            waiting=waiting,
            keys_in_memory=self.keys.in_memory,
            key_merges=self.keys.merges,
            keys_looked_up=self.keys.looked_up,
        )

    def _batch_for(self, size: int) -> _Batch:
        # (with the lock held)
        if self._closing:
            raise JournalError(self._path, "journal is closed")
        current = self._current
        if current.size and current.size + size > self._max_batch:
            self._sealed.append(current)
            current = self._current = _Batch(self._loop)
        if self._sleeping:
            self._wake()
        return current

    def _wake(self) -> None:
        # (with the lock held) one notify per sleep, not one per append
        if self._sleeping:
            self._sleeping = False
            self._work.notify()

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Commit batches until closed; the last batches are committed before it returns."""
        stopped: asyncio.Future[None] = self._loop.create_future()
        # A daemon: a loop closed without cancelling this task must not hang the interpreter's
        # exit (an unfinished transaction is rolled back by SQLite on the next open, and nothing
        # in it was acknowledged).
        thread = threading.Thread(
            target=self._thread_main,
            args=(stopped,),
            name=f"journal-writer {self._path}",
            daemon=True,
        )
        thread.start()
        try:
            await asyncio.shield(stopped)
        except asyncio.CancelledError:
            with self._lock:  # stop after the transaction under way, if any
                self._aborted = self._closing = True
                self._wake()
            await asyncio.shield(stopped)
            raise
        finally:
            # However the thread ended (closed, cancelled, or a bug in an op), nothing written
            # from now on may join a batch that no one will commit.
            with self._lock:
                self._aborted = self._closing = True
                self._wake()
                left, self._sealed = [*self._sealed, self._current], collections.deque()
                reads, self._reads = list(self._reads), collections.deque()
            if stopped.done():  # (if cancelled twice, do not block the loop waiting for it)
                thread.join()
            gone = JournalError(self._path, "journal writer stopped before the write")
            for batch in left:
                if batch and not batch.future.done():
                    batch.future.set_exception(gone)
            for _, future in reads:
                if not future.done():
                    future.set_exception(gone)

    def close(self) -> None:
        """Refuse new writes; `run` returns once what is pending is committed."""
        with self._lock:
            self._closing = True
            self._wake()

    def _abort(self) -> None:
        # (from the fsync thread, when an fsync failed)
        with self._lock:
            self._aborted = self._closing = True
            self._wake()

    # -- the writer thread ---------------------------------------------------------------------

    def _thread_main(self, stopped: asyncio.Future[None]) -> None:
        error: BaseException | None = None
        try:
            if self._handoff.start(self._conn):  # FULL, with the fsync on the handoff's thread
                self._conn.execute("PRAGMA synchronous=NORMAL")
            while (work := self._next_work()) is not None:
                reads, batch = work
                for fn, future in reads:
                    self._run_read(fn, future)
                if batch is not None:
                    self._commit(batch)
                if self._checkpointer.catch_up_due():  # after the acknowledgement: _checkpoint
                    self._checkpointer.catch_up(self._conn)
        except sqlite3.Error as exc:  # (starting: a transaction's own is the batch's failure)
            error = translate(self._path, "the journal's writer stopped", exc)
            error.__cause__ = exc
        except BaseException as exc:  # noqa: BLE001 - a bug in an op: handed to our owner
            error = exc
        try:
            self._handoff.close()  # what it still holds is handed back before `stopped` is set
        except BaseException as exc:  # noqa: BLE001 - `stopped` must be set whatever happens
            error = error or exc
        self._loop.call_soon_threadsafe(_settle, stopped, None, error or self._handoff.error)

    def _next_work(self) -> tuple[list[_Read], _Batch | None] | None:
        with self._lock:
            while True:
                if self._aborted:
                    return None
                reads = list(self._reads)
                self._reads.clear()
                batch: _Batch | None = None
                if self._sealed:
                    batch = self._sealed.popleft()
                elif self._current:
                    batch, self._current = self._current, _Batch(self._loop)
                if reads or batch is not None:
                    return reads, batch
                if self._closing:
                    return None
                self._sleeping = True
                self._work.wait()

    def _run_read(
        self, fn: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any]
    ) -> None:
        try:
            result = fn(self._conn)
        except Exception as exc:  # noqa: BLE001 - the reader's own failure, handed to it
            failure: BaseException = exc
            if isinstance(exc, sqlite3.Error | DamagedRecord):
                failure = translate(self._path, "read failed", exc)
                failure.__cause__ = exc
            self._loop.call_soon_threadsafe(_settle, future, None, failure)
        else:
            self._handoff.after_durable(_settle, (future, result, None), future)

    def _commit(self, batch: _Batch) -> None:
        now = self._clock.time()
        try:
            outcome = _transaction(self._conn, self.keys, batch, now)
        except (sqlite3.Error, DamagedRecord) as exc:  # the batch's failure: the writer goes on
            failure = translate(self._path, "write failed", exc)
            failure.__cause__ = exc
            self._loop.call_soon_threadsafe(_settle, batch.future, None, failure)
            return
        except Exception as exc:
            self._loop.call_soon_threadsafe(_settle, batch.future, None, exc)
            raise
        self._handoff.committed(self._committed, (batch, outcome), batch.future)

    def _committed(self, batch: _Batch, outcome: Outcome) -> None:
        # (on the loop's thread)
        self._checkpointer.committed(len(batch))
        self._transactions += 1
        self._appends += len(batch.envelopes)
        if outcome[0] is not None:
            self._duplicates += sum(1 for a in outcome[0] if a.duplicate)
        self._largest = max(self._largest, len(batch))
        batch.future.set_result(outcome)


def _settle(future: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if future.done():  # a read whose caller was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _transaction(conn: sqlite3.Connection, keys: KeyIndex, batch: _Batch, now: float) -> Outcome:
    envelopes = batch.envelopes
    conn.execute("BEGIN IMMEDIATE")
    try:
        # (the filter's step first: a build it completes is saved marked with the merged seq,
        # which a merge ending in this transaction then moves along with its own save)
        keys.filter_step(conn)
        keys.merge_step(conn, len(envelopes))
        appended = insert_envelopes(conn, now, envelopes, batch.rows, keys) if envelopes else None
        results = [op(conn, now) for op in batch.ops]
        conn.execute("COMMIT")
    except BaseException:
        keys.rollback()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    keys.commit()
    return appended, results
