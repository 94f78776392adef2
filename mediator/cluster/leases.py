"""Leases on partitions and singletons: which daemon does what, kept by a heartbeat.

Each daemon runs one `LeaseKeeper` on a connection of its own. Every `renew_every` seconds it
writes itself into `members`, renews the leases it holds (a conditional UPDATE: still its
owner, still its epoch), and rebalances: with N live members (seen within `lease_ttl`) each
holds about ceil(P/N) partitions, so it takes free or expired ones up to that share (bumping
their epoch) and releases those above it (so a daemon that joins gets some). Singleton leases
(`singleton/<name>`: a poller, a schedule) are spread across members the same way.

Expiry is read on the database's clock (`clock_timestamp()`), never a machine's, so clocks
that disagree do not matter. Locally a lease counts only until `lease_ttl - margin` after the
renew that began before it was written: a daemon that cannot reach the database (or was
paused) stops using its leases before another can take them, and `epochs()` says -1 for them
at once. A release is a hint on NOTIFY (the others rebalance at once rather than at their next
heartbeat); nothing depends on it arriving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import msgspec

from mediator._task_group import TaskGroup
from mediator.clock import Clock, SystemClock
from mediator.cluster.partitions import PARTITIONS, partition_lease

if TYPE_CHECKING:
    from asyncpg import Connection

__all__ = [
    "LeaseChange",
    "LeaseKeeper",
    "LeaseStatistics",
    "open_lease_keeper",
    "singleton_lease",
]

_log = logging.getLogger("mediator.cluster")
#: Beats run again at once after a deadlock with the journal's transaction (see `run`).
_DEADLOCK_RETRIES = 3
_NOW = "extract(epoch from clock_timestamp())"
_PARTITION_NAMES = [partition_lease(p) for p in range(PARTITIONS)]
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def singleton_lease(name: str) -> str:
    """The name of singleton `name`'s row in the lease table (a poller's, a schedule's)."""
    return f"singleton/{name}"


class LeaseChange(msgspec.Struct, frozen=True, kw_only=True):
    """What one heartbeat (or a local expiry) changed: partitions gained with their epochs,
    partitions lost (renew refused, released, or expired locally), and singletons."""

    gained: dict[int, int] = {}
    lost: frozenset[int] = frozenset()
    singletons_gained: frozenset[str] = frozenset()
    singletons_lost: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost or self.singletons_gained or self.singletons_lost)


class LeaseStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A keeper's view: who it is, the members it saw live, and what it holds."""

    owner: str
    members: int
    partitions: list[int]
    singletons: list[str]
    heartbeats: int
    failures: int
    last_error: str | None


class _Lease(msgspec.Struct):
    epoch: int
    valid_until: float  # on the keeper's monotonic clock


class LeaseKeeper:
    """Holds this daemon's leases; implements `mediator.cluster.Fence`. See `open_lease_keeper`.

    `heartbeat()` is one round (tests call it directly); `run()` loops it. Listeners are
    called synchronously, on the event loop, with each non-empty `LeaseChange`: they must not
    wait (a dispatcher queues its own work). `in_use(partitions)` names the partitions still
    busy (deliveries running): a partition released for rebalancing stays held, renewed and
    fenced-valid until it is idle, so a hand-over never overlaps deliveries of one key.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        owner: str,
        channel: str,
        singletons: Sequence[str] = (),
        lease_ttl: float = 6.0,
        renew_every: float = 2.0,
        margin: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not 0 < renew_every < lease_ttl:
            raise ValueError(f"renew_every ({renew_every}) must be above 0 and below lease_ttl")
        self._connect = connect
        self._conn: Connection | None = None
        self._owner = owner
        self._channel = channel
        self._singletons = [singleton_lease(s) for s in dict.fromkeys(singletons)]
        self._unwritten: list[str] = []  # singleton rows added since `prepare`
        self._fresh_until = -math.inf
        self._ttl = lease_ttl
        self._renew_every = renew_every
        # a lease is let go locally this long before the database lets it go, so that rates
        # of clocks and the time a renew takes on the wire never make two daemons hold it
        self._margin = margin if margin is not None else min(1.0, lease_ttl / 6)
        self._clock = clock or SystemClock()
        self._held: dict[str, _Lease] = {}
        self._draining: set[str] = set()  # released locally, waiting for in-flight work
        self._listeners: list[Callable[[LeaseChange], None]] = []
        self.in_use: Callable[[frozenset[int]], set[int]] = lambda partitions: set()
        self._wake = asyncio.Event()
        self._members = 0
        self._heartbeats = self._failures = 0
        self._last_error: str | None = None

    # -- the Fence ---------------------------------------------------------------------------

    @property
    def owner(self) -> str:
        """This daemon's id, as written in the lease and member tables."""
        return self._owner

    def epochs(self) -> list[int]:
        """The epoch of each partition this daemon holds now, -1 elsewhere (and where the lease
        passed its local deadline without a renew)."""
        now = self._clock.monotonic()
        epochs = [-1] * PARTITIONS
        for p, name in enumerate(_PARTITION_NAMES):
            lease = self._held.get(name)
            if lease is not None and now < lease.valid_until:
                epochs[p] = lease.epoch
        return epochs

    # -- what the daemon reads ---------------------------------------------------------------

    def partitions(self) -> frozenset[int]:
        """The partitions this daemon delivers: held, valid, and not being handed over."""
        now = self._clock.monotonic()
        return frozenset(
            p
            for p, name in enumerate(_PARTITION_NAMES)
            if (lease := self._held.get(name)) is not None
            and now < lease.valid_until
            and name not in self._draining
        )

    def fresh(self) -> bool:
        """Whether the last successful beat is recent enough that this daemon's leases still
        count (False at once when it wakes from a pause past them, before any beat runs)."""
        return self._clock.monotonic() < self._fresh_until

    def valid(self, partition: int) -> bool:
        """Whether this daemon still holds `partition` at its epoch, handed over or not (what
        its journal marks are fenced by)."""
        lease = self._held.get(_PARTITION_NAMES[partition])
        return lease is not None and self._clock.monotonic() < lease.valid_until

    def epoch(self, partition: int) -> int:
        """The epoch this daemon holds `partition` at (handed over or not), or -1."""
        lease = self._held.get(_PARTITION_NAMES[partition])
        if lease is None or self._clock.monotonic() >= lease.valid_until:
            return -1
        return lease.epoch

    def holds(self, partition: int) -> bool:
        """Whether this daemon delivers `partition` now (as `partitions()`, for one: cheap)."""
        name = _PARTITION_NAMES[partition]
        lease = self._held.get(name)
        return (
            lease is not None
            and self._clock.monotonic() < lease.valid_until
            and name not in self._draining
        )

    def holds_singleton(self, name: str) -> bool:
        """Whether this daemon runs singleton `name` now."""
        lease = self._held.get(singleton_lease(name))
        return lease is not None and self._clock.monotonic() < lease.valid_until

    def add_singletons(self, names: Iterable[str]) -> None:
        """Take part in spreading these singletons too (a daemon knows its pollers only once
        its flows are built); their lease rows are written at the next beat."""
        for name in names:
            lease = singleton_lease(name)
            if lease not in self._singletons:
                self._singletons.append(lease)
                self._unwritten.append(lease)

    def subscribe(self, listener: Callable[[LeaseChange], None]) -> None:
        """Call `listener` with every change from now on (read `partitions()` for the state)."""
        self._listeners.append(listener)

    def statistics(self) -> LeaseStatistics:
        """What this keeper holds and how its heartbeats went."""
        return LeaseStatistics(
            owner=self._owner,
            members=self._members,
            partitions=sorted(self.partitions()),
            singletons=sorted(
                name.removeprefix("singleton/")
                for name in self._singletons
                if self.holds_singleton(name.removeprefix("singleton/"))
            ),
            heartbeats=self._heartbeats,
            failures=self._failures,
            last_error=self._last_error,
        )

    # -- the heartbeat -----------------------------------------------------------------------

    async def run(self) -> None:
        """Beat every `renew_every` seconds (sooner on a NOTIFY hint) until cancelled; a beat
        that fails is logged and counted, and leases lapse locally when their time is up."""
        import asyncpg  # the `postgres` extra

        deadlocks = 0
        while True:
            try:
                await self.heartbeat()
                deadlocks = 0
            except asyncpg.DeadlockDetectedError:
                # The journal's transaction reads this daemon's lease rows FOR SHARE (fencing)
                # in several statements, so a renewal of many rows can close a cycle with it;
                # PostgreSQL broke it by failing the beat. That transaction is over by now:
                # beat again at once (a few times), rather than a beat later, nearer expiry.
                deadlocks += 1
                if deadlocks <= _DEADLOCK_RETRIES:
                    _log.info("lease heartbeat of %s met a deadlock: beating again", self._owner)
                    continue
                self._failures += 1
                self._last_error = "DeadlockDetectedError: again and again"
                _log.warning("lease heartbeat of %s failed: %s", self._owner, self._last_error)
                deadlocks = 0
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._failures += 1
                self._last_error = f"{type(exc).__name__}: {exc}"
                _log.warning("lease heartbeat of %s failed: %s", self._owner, self._last_error)
                await self._disconnect()  # the next beat connects again
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._until_next_beat()):
                    await self._wake.wait()

    def _until_next_beat(self) -> float:
        # wake for the earliest local expiry too: the listeners hear of it when it happens
        now = self._clock.monotonic()
        soonest = min((lease.valid_until for lease in self._held.values()), default=math.inf)
        return max(0.0, min(self._renew_every, soonest - now))

    async def heartbeat(self) -> LeaseChange:
        """One round: lapse expired leases, record this member, renew, rebalance; return and
        announce what changed. Bounded by `renew_every` (raises `TimeoutError` past it)."""
        began = self._clock.monotonic()
        change = _Change()
        self._lapse(began, change)
        try:
            async with asyncio.timeout(self._renew_every):
                await self._beat(began, change)
        finally:
            self._announce(change)
        self._heartbeats += 1
        self._last_error = None
        self._fresh_until = began + self._ttl - self._margin
        return change.freeze()

    async def _connection(self) -> Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await self._connect()
        return self._conn

    async def prepare(self, schema: str) -> None:
        """Create or migrate the journal's `schema` (the keeper opens before the journal, which
        needs it as its fence) and write the lease rows this daemon may take."""
        from mediator.journal.postgres import _connect  # the journal's own migration

        conn = await self._connection()
        await _connect.migrate(conn, schema, schema)
        await self._write_rows(conn, [*_PARTITION_NAMES, *self._singletons])
        self._unwritten = []

    async def _write_rows(self, conn: Connection, names: list[str]) -> None:
        await conn.execute(
            "INSERT INTO leases (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", names
        )

    async def disconnect(self) -> None:
        """Close the keeper's connection at once (a later beat opens another)."""
        await self._disconnect()

    async def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()  # not close(): that waits on a server that may be gone

    async def _beat(self, began: float, change: _Change) -> None:
        conn = await self._connection()
        joined = await conn.fetchval(
            f"""INSERT INTO members (daemon, started_at, seen_at) VALUES ($1, {_NOW}, {_NOW})
            ON CONFLICT (daemon) DO UPDATE SET seen_at = excluded.seen_at
            RETURNING started_at = seen_at""",
            self._owner,
        )
        if joined:
            await conn.execute(f"NOTIFY {self._channel}")
        if self._unwritten:
            await self._write_rows(conn, self._unwritten)
            self._unwritten = []
        valid_until = began + self._ttl - self._margin
        if self._held:
            names = list(self._held)
            rows = await conn.fetch(
                f"""UPDATE leases AS l SET expires_at = {_NOW} + $1
                FROM unnest($2::text[], $3::bigint[]) AS h(name, epoch)
                WHERE l.name = h.name AND l.owner = $4 AND l.epoch = h.epoch
                RETURNING l.name""",
                self._ttl,
                names,
                [self._held[n].epoch for n in names],
                self._owner,
            )
            renewed = {r["name"] for r in rows}
            taken = [name for name in names if name not in renewed]
            for name in renewed:
                self._held[name].valid_until = valid_until
            for name in taken:
                self._drop(name, change)
            if taken:
                _log.warning("%s lost %d leases, another daemon took them: %s",
                             self._owner, len(taken), _names(taken))  # fmt: skip
        self._members = await conn.fetchval(
            f"SELECT count(*) FROM members WHERE seen_at > {_NOW} - $1", self._ttl
        )
        members = max(1, self._members)
        await self._balance(_PARTITION_NAMES, math.ceil(PARTITIONS / members), valid_until, change)
        if self._singletons:
            share = math.ceil(len(self._singletons) / members)
            await self._balance(self._singletons, share, valid_until, change)

    async def _balance(
        self, names: Sequence[str], share: int, valid_until: float, change: _Change
    ) -> None:
        mine = [n for n in names if n in self._held and n not in self._draining]
        if len(mine) > share:
            # the highest go: a joiner takes them; the keeper keeps the rest warm
            for name in mine[share:]:
                self._draining.add(name)
                change.lose(name)
        await self._release_idle()
        want = share - min(len(mine), share)
        if want <= 0:
            return
        rows = await (await self._connection()).fetch(
            f"""UPDATE leases AS l SET owner = $1, epoch = l.epoch + 1, expires_at = {_NOW} + $2
            WHERE l.name IN (
                SELECT name FROM leases
                WHERE name = ANY($3::text[]) AND (owner IS NULL OR expires_at < {_NOW})
                ORDER BY random() LIMIT $4 FOR UPDATE SKIP LOCKED
            ) RETURNING l.name, l.epoch""",
            self._owner,
            self._ttl,
            [n for n in names if n not in self._held],
            want,
        )
        for row in rows:
            name, epoch = row["name"], row["epoch"]
            self._held[name] = _Lease(epoch=epoch, valid_until=valid_until)
            change.gain(name, epoch)

    async def _release_idle(self) -> None:
        if not self._draining:
            return
        busy = self.in_use(frozenset(_partition_of_lease(n) for n in self._draining) - {-1})
        idle = [n for n in self._draining if _partition_of_lease(n) not in busy]
        if idle:
            await self._release(idle)

    async def _release(self, names: Iterable[str]) -> None:
        names = list(names)
        conn = await self._connection()
        await conn.execute(
            """UPDATE leases AS l SET owner = NULL, expires_at = 0
            FROM unnest($1::text[], $2::bigint[]) AS h(name, epoch)
            WHERE l.name = h.name AND l.owner = $3 AND l.epoch = h.epoch""",
            names,
            [self._held[n].epoch for n in names],
            self._owner,
        )
        for name in names:
            self._held.pop(name, None)
            self._draining.discard(name)
        await conn.execute(f"NOTIFY {self._channel}")

    def _lapse(self, now: float, change: _Change) -> None:
        lapsed = [name for name, lease in self._held.items() if now >= lease.valid_until]
        for name in lapsed:
            self._drop(name, change)
        if lapsed:
            _log.warning("%s let %d leases lapse, no renew in time (a pause?): %s",
                         self._owner, len(lapsed), _names(lapsed))  # fmt: skip

    def _drop(self, name: str, change: _Change) -> None:
        del self._held[name]
        if name in self._draining:
            self._draining.discard(name)  # already announced as lost
        else:
            change.lose(name)

    def _announce(self, change: _Change) -> None:
        frozen = change.freeze()
        if frozen:
            for listener in self._listeners:
                listener(frozen)

    def wake(self) -> None:
        """Beat now rather than at the next tick (a NOTIFY from a member that joined or left)."""
        self._wake.set()

    async def leave(self) -> None:
        """Release every lease and leave the members (a clean shutdown hands over at once)."""
        change = _Change()
        for name in self._held:
            if name not in self._draining:
                change.lose(name)
        self._announce(change)
        if self._held:
            self._draining.update(self._held)
            await self._release(list(self._held))
        conn = await self._connection()
        await conn.execute("DELETE FROM members WHERE daemon = $1", self._owner)
        await conn.execute(f"NOTIFY {self._channel}")
        await self._disconnect()


class _Change:
    """A change being gathered during one round."""

    def __init__(self) -> None:
        self.gained: dict[int, int] = {}
        self.lost: set[int] = set()
        self.singletons_gained: set[str] = set()
        self.singletons_lost: set[str] = set()

    def gain(self, name: str, epoch: int) -> None:
        p = _partition_of_lease(name)
        if p >= 0:
            self.gained[p] = epoch
            self.lost.discard(p)
        else:
            self.singletons_gained.add(name.removeprefix("singleton/"))

    def lose(self, name: str) -> None:
        p = _partition_of_lease(name)
        if p >= 0:
            self.lost.add(p)
            self.gained.pop(p, None)
        else:
            self.singletons_lost.add(name.removeprefix("singleton/"))

    def freeze(self) -> LeaseChange:
        return LeaseChange(
            gained=dict(self.gained),
            lost=frozenset(self.lost),
            singletons_gained=frozenset(self.singletons_gained - self.singletons_lost),
            singletons_lost=frozenset(self.singletons_lost - self.singletons_gained),
        )


def _names(leases: Sequence[str]) -> str:
    # a log line's list: partitions as numbers, singletons by name, the first 20
    shown = [n.removeprefix("partition/") for n in sorted(leases)[:20]]
    return ", ".join(shown) + (" ..." if len(leases) > 20 else "")


def _partition_of_lease(name: str) -> int:
    return int(name.removeprefix("partition/")) if name.startswith("partition/") else -1


@contextlib.asynccontextmanager
async def open_lease_keeper(
    dsn: str,
    *,
    schema: str,
    owner: str,
    singletons: Sequence[str] = (),
    lease_ttl: float = 6.0,
    renew_every: float = 2.0,
    margin: float | None = None,
    clock: Clock | None = None,
    run: bool = True,
) -> AsyncIterator[LeaseKeeper]:
    """Keep this daemon's leases for the block, on a connection of its own to `dsn` with the
    journal's `schema` (whose `leases` and `members` tables must exist).

    Opening writes the lease rows (once per journal) and beats once, so the block starts with
    this daemon's first share; with `run` the heartbeat then loops in a task of the block's
    own. Leaving releases every lease and the membership, bounded by `renew_every`: a clean
    shutdown hands its partitions over at once rather than after `lease_ttl`. Raises
    `JournalError` (naming the server without its password) if the database cannot be used.
    """
    import asyncpg  # the `postgres` extra

    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"schema {schema!r} is not a plain lower-case PostgreSQL name")
    if not owner:
        raise ValueError("owner (the daemon id) must not be empty")
    channel = f"{schema}_leases"
    keeper: LeaseKeeper | None = None

    async def connect() -> Connection:
        conn = await asyncpg.connect(
            dsn, server_settings={"search_path": schema}, timeout=renew_every
        )
        await conn.add_listener(channel, lambda *_: keeper.wake() if keeper else None)
        return conn

    keeper = LeaseKeeper(
        connect,
        owner=owner,
        channel=channel,
        singletons=singletons,
        lease_ttl=lease_ttl,
        renew_every=renew_every,
        margin=margin,
        clock=clock,
    )
    from mediator.journal.postgres import _connect  # the journal's names for its failures

    try:
        try:
            await keeper.prepare(schema)
            await keeper.heartbeat()
        except _connect.DRIVER_ERRORS as exc:
            place = _connect.where(dsn, schema)
            raise _connect.translate(place, "cannot take partition leases", exc) from exc
        try:
            async with TaskGroup() as group:
                beating = group.create_task(keeper.run(), name=f"leases:{owner}") if run else None
                try:
                    yield keeper
                finally:
                    if beating is not None:
                        beating.cancel()
        finally:  # an error in the block hands over too: the others need not wait lease_ttl
            try:
                async with asyncio.timeout(renew_every):
                    await keeper.leave()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # the leases lapse by themselves after lease_ttl: slower, as after a crash
                _log.warning("%s could not hand its leases over: %s", owner, exc)
    finally:
        await keeper.disconnect()
