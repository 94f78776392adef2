"""A daemon's intake in a cluster: the entries of its partitions that others journaled.

Any daemon journals what it is handed (an append is global), but only the daemon holding an
entry's partition delivers it. `PartitionOwnership` is what that daemon's dispatcher consults
(`mediator.journal.dispatch.Ownership`); `ClusterIntake` feeds it:

- on gaining partitions, it reads their held keys and open entries (`open_in`: the in-flight
  entries of a daemon that died are delivered again; effects are idempotent by key) and only
  then counts them as owned, so that nothing new of a key overtakes what was left open;
- then, woken by a NOTIFY from the daemon that appended (a hint only: it is lost behind a
  transaction-pooling proxy) or by its timer, it reads the accepted entries past its cursor
  (`accepted_after`, gap-free in (txid, seq) order) and hands them to the dispatcher, which
  skips those it queued itself;
- on losing partitions, the dispatcher drops their queued entries at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from mediator._task_group import TaskGroup
from mediator.cluster.leases import LeaseChange, LeaseKeeper
from mediator.cluster.partitions import partition_of
from mediator.errors import JournalError
from mediator.journal.dispatch import Dispatcher
from mediator.journal.records import Entry

if TYPE_CHECKING:
    from asyncpg import Connection

__all__ = ["ClusterIntake", "ClusterJournal", "PartitionOwnership", "open_cluster_intake"]

_log = logging.getLogger("mediator.cluster")


class ClusterJournal(Protocol):
    """What the intake reads of a journal (the PostgreSQL one, with this daemon's fence)."""

    async def accepted_after(
        self, cursor: tuple[int, int], partitions: Sequence[int], *, limit: int = 1000
    ) -> tuple[list[Entry], tuple[int, int]]:
        """The accepted entries of `partitions` past `cursor`, and the cursor past them."""
        ...

    async def open_in(self, partitions: Sequence[int]) -> list[Entry]:
        """The open entries of `partitions`, oldest first."""
        ...

    async def held_keys(self) -> set[str]:
        """The keys held behind a dead letter, in the partitions the fence holds."""
        ...


class PartitionOwnership:
    """The keys this daemon delivers: those of partitions it holds a lease on and whose open
    entries it has read (see the module)."""

    def __init__(self, keeper: LeaseKeeper) -> None:
        self._keeper = keeper
        self._opened: set[int] = set()
        self._hint = asyncio.Event()

    def owns(self, key: str) -> bool:
        """Whether entries of `key` are delivered here now."""
        p = partition_of(key)
        return p in self._opened and self._keeper.holds(p)

    def appended(self, keys: Sequence[str]) -> None:
        """Entries of others' keys were journaled: their daemons are told (coalesced)."""
        self._hint.set()

    def opened(self) -> frozenset[int]:
        """The partitions whose open entries were read (held or not)."""
        return frozenset(self._opened)

    def open(self, partitions: Sequence[int]) -> None:
        """Count these partitions as owned while held: their open entries are queued."""
        self._opened.update(p for p in partitions if self._keeper.holds(p))

    def close(self, partitions: frozenset[int]) -> None:
        """Stop owning these partitions (lost)."""
        self._opened -= partitions


class ClusterIntake:
    """Feeds a dispatcher the entries of its partitions; see `open_cluster_intake`."""

    def __init__(
        self,
        journal: ClusterJournal,
        dispatcher: Dispatcher,
        keeper: LeaseKeeper,
        ownership: PartitionOwnership,
        *,
        interval: float,
        limit: int = 1000,
    ) -> None:
        self._journal = journal
        self._dispatcher = dispatcher
        self._keeper = keeper
        self._ownership = ownership
        self._interval = interval
        self._limit = limit
        self._cursor = (0, 0)
        self._gained: set[int] = set()
        self._wake = asyncio.Event()
        self._wake.set()  # the first round opens what the keeper holds already
        self.picked_up = 0  # entries others appended that this daemon queued
        self.taken_over = 0  # open entries of gained partitions queued

    def changed(self, change: LeaseChange) -> None:
        """The keeper's listener: note gains for the loop, drop what was lost at once."""
        if change.lost:
            self._ownership.close(change.lost)
            self._gained -= change.lost
            dropped = self._dispatcher.drop(self._ownership.owns)
            if dropped:
                _log.info("dropped %d queued entries of %d lost partitions",
                          dropped, len(change.lost))  # fmt: skip
        if change.gained:
            self._gained |= set(change.gained)
            self._wake.set()

    def wake(self) -> None:
        """Read now rather than at the next tick (a NOTIFY from a daemon that appended)."""
        self._wake.set()

    async def run(self) -> None:
        """Take over gained partitions and pick up others' entries until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.round()
            except JournalError as exc:  # the writes fail too, and say so; read again later
                _log.warning("cluster intake could not read the journal: %s", exc)

    async def round(self) -> None:
        """One round: open gained partitions, then read past the cursor until caught up."""
        self._gained |= self._keeper.partitions() - self._ownership.opened()
        gained = sorted(p for p in self._gained if self._keeper.holds(p))
        self._gained.clear()
        if gained:
            self._dispatcher.hold(await self._journal.held_keys())
            entries = await self._journal.open_in(gained)
            self._ownership.open(gained)
            self.taken_over += self._dispatcher.admit(entries)
            _log.info("took over %d partitions with %d open entries", len(gained), len(entries))
        while True:
            partitions = sorted(self._ownership.opened())
            entries, self._cursor = await self._journal.accepted_after(
                self._cursor, partitions, limit=self._limit
            )
            self.picked_up += self._dispatcher.admit(entries)
            if len(entries) < self._limit:
                return


async def _notify(conn: Connection, channel: str) -> None:
    await conn.execute(f"NOTIFY {channel}")


@contextlib.asynccontextmanager
async def open_cluster_intake(
    journal: ClusterJournal,
    dispatcher: Dispatcher,
    keeper: LeaseKeeper,
    ownership: PartitionOwnership,
    *,
    dsn: str,
    schema: str,
    interval: float = 0.5,
) -> AsyncIterator[ClusterIntake]:
    """Run the intake of `dispatcher` for the block: subscribed to `keeper`'s changes,
    reading every `interval` seconds and when a NOTIFY on the schema's intake channel says
    another daemon appended; `ownership`'s hints are sent as such NOTIFYs. The NOTIFY
    connection is a convenience: when it fails the timer still picks everything up."""
    import asyncpg  # the `postgres` extra

    intake = ClusterIntake(journal, dispatcher, keeper, ownership, interval=interval)
    keeper.subscribe(intake.changed)
    keeper.in_use = lambda partitions: {partition_of(k) for k in dispatcher.in_use()} & partitions
    channel = f"{schema}_intake"
    conn: Any = None

    async def hints() -> None:
        nonlocal conn
        while True:
            await ownership._hint.wait()
            ownership._hint.clear()
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
                    await conn.add_listener(channel, lambda *_: intake.wake())
                async with asyncio.timeout(interval * 4):
                    await _notify(conn, channel)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                _log.info("intake hint not sent (the timer picks entries up): %s", exc)
                if conn is not None:
                    conn.terminate()
                conn = None

    try:
        ownership.appended([])  # connects and LISTENs at once
        async with TaskGroup() as group:
            tasks = [group.create_task(intake.run(), name="cluster:intake"),
                     group.create_task(hints(), name="cluster:hints")]  # fmt: skip
            try:
                yield intake
            finally:
                for task in tasks:
                    task.cancel()
    finally:
        if conn is not None:
            conn.terminate()
