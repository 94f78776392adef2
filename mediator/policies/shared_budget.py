"""A vendor's rate limit and quota shared by every daemon of a cluster, through a store.

Several daemons on one PostgreSQL journal must not spend three times Stripe's 25 requests/s.
The decision (issue #21, docs/cluster-limits.md): the budget's state lives in the database, one
row per bucket, taken from with one conditional UPDATE that refills by the database's clock.
Dividing the limit by lease share was rejected: work is not spread evenly over partitions (one
poller on one daemon reads Harvest; one big client's close is one daemon's), so a slice per
daemon would leave most of the limit idle while the busy daemon waits.

This module is the seam, free of any driver: `BucketStore` is what a store does (PostgreSQL's
is `mediator.journal.postgres.budgets`), `SharedBucket` is one limiter's view of a shared
bucket (consulted by `RateLimiter.acquire` after its local admission; it takes a few tokens at
once when several local callers wait, spending them within `hold` seconds), and
`SharedBudgets` hands them out and writes the server's hints (Retry-After, remaining) to the
store from a task of its own, so that one daemon's 429 pauses every daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Protocol

import msgspec

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.errors import JournalError, RateLimited

__all__ = [
    "BucketStore",
    "Grant",
    "QuotaSpend",
    "SharedBucket",
    "SharedBucketStatistics",
    "SharedBudgets",
    "SharedQuota",
    "open_shared_budgets",
]

_log = logging.getLogger("mediator.policies")

#: How long a daemon may hold tokens it took for callers queued behind the first (seconds).
DEFAULT_HOLD = 0.1
# After a store error, the hint writer tries again this much later.
_RETRY_DELAY = 0.5


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """What a take from a shared bucket gave: `granted` tokens (0 if none), else the `wait`."""

    granted: float
    wait: float


class QuotaSpend(msgspec.Struct, frozen=True, kw_only=True):
    """A shared quota's answer: whether `cost` was spent, and the cluster's usage before it."""

    spent: bool
    used: int


class BucketStore(Protocol):
    """Shared buckets and quota counters, each update atomic across daemons."""

    async def take(
        self, name: str, *, least: float, most: float, rate: float, burst: float
    ) -> Grant:
        """Refill `name` by elapsed time and take between `least` and `most` tokens, or none.

        A bucket not seen before starts full. When fewer than `least` are there (or the bucket
        is paused) nothing is taken, and `wait` says when `least` would be.
        """
        ...

    async def pause(self, name: str, *, delay: float) -> None:
        """Empty `name` and admit nothing for `delay` seconds (never shortening a pause)."""
        ...

    async def drain(self, name: str, *, level: float, rate: float, burst: float) -> None:
        """Lower `name` to at most `level` tokens (the server's `remaining`)."""
        ...

    async def spend(
        self, name: str, *, cost: int, ceiling: int, since: float, now: float
    ) -> QuotaSpend:
        """Count `cost` against quota `name` at `now` if the usage since `since` allows.

        Spends only when usage + `cost` <= `ceiling`; usage counts in one-minute slots, a slot
        counting until all of it is before `since` (as `QuotaBudget` counts locally).
        """
        ...


class SharedBucketStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """One daemon's use of a shared bucket: round trips, what it took, what it let expire."""

    name: str
    takes: int
    granted: float
    refused: int
    expired: float
    held: float


class SharedBucket:
    """One daemon's view of a shared bucket: its round trips and its few held tokens.

    Callers are served one at a time, in arrival order (an `asyncio.Lock` is FIFO), so the
    local limiter's order holds. When others queue behind, a round trip takes tokens for them
    too (at most ``rate * hold``); tokens not spent within `hold` seconds are dropped, so a
    daemon spends at most ``rate * hold`` more than the shared bucket over any window.
    """

    def __init__(
        self, budgets: SharedBudgets, name: str, *, system: str, clock: Clock, hold: float
    ) -> None:
        self.name = name
        self.system = system
        self._budgets = budgets
        self._clock = clock
        self._hold = hold
        self._lock = asyncio.Lock()
        self._queued = 0
        self._held = 0.0
        self._held_until = -math.inf
        self._takes = 0
        self._granted = 0.0
        self._refused = 0
        self._expired = 0.0

    def take_held(self, cost: float) -> bool:
        """Spend `cost` of the tokens this daemon holds, if it has them; never waits."""
        self._expire()
        if self._held >= cost:
            self._held -= cost
            return True
        return False

    def give_back(self, cost: float) -> None:
        """Return `cost` tokens just taken with `take_held` (the local limiter said no)."""
        self._held += cost

    async def take(self, cost: float, *, rate: float, burst: float, max_wait: float) -> float:
        """Take `cost` tokens from the shared bucket, waiting for them; return the seconds.

        Raises `RateLimited` (having taken nothing) when the bucket says the wait from the
        start would exceed `max_wait`. A store failure raises `JournalError`.
        """
        if not self._queued and self.take_held(cost):
            return 0.0
        started = self._clock.monotonic()
        self._queued += 1
        try:
            await self._lock.acquire()
        finally:
            self._queued -= 1
        try:
            while not self.take_held(cost):
                # the callers queued behind this one ride on this round trip
                most = max(cost, min(burst, cost * (1 + self._queued), rate * self._hold))
                grant = await self._budgets.store.take(
                    self.name, least=cost, most=most, rate=rate, burst=burst
                )
                self._takes += 1
                if grant.granted > 0:
                    self._granted += grant.granted
                    self._drop_held()  # what is left of an earlier take is past its time
                    self._held = grant.granted - cost  # this caller's share is spent now
                    self._held_until = self._clock.monotonic() + self._hold
                    break
                self._refused += 1
                waited = self._clock.monotonic() - started
                if waited + grant.wait > max_wait:
                    raise RateLimited(self.system, grant.wait)
                await self._clock.sleep(grant.wait)
        finally:
            self._lock.release()
        return self._clock.monotonic() - started

    def pause_soon(self, delay: float) -> None:
        """Have every daemon pause for `delay` seconds (written by the hint writer, soon)."""
        self._drop_held()
        self._budgets.note_pause(self.name, delay)

    def drain_soon(self, level: float, *, rate: float, burst: float) -> None:
        """Lower the shared level to `level` (the server's `remaining`), soon."""
        if self._held > level:
            self._drop_held()
        self._budgets.note_drain(self.name, level, rate=rate, burst=burst)

    def statistics(self) -> SharedBucketStatistics:
        """Return this daemon's round trips, tokens taken, refused takes and expired tokens."""
        self._expire()
        return SharedBucketStatistics(
            name=self.name,
            takes=self._takes,
            granted=self._granted,
            refused=self._refused,
            expired=self._expired,
            held=self._held,
        )

    def _expire(self) -> None:
        if self._held and self._clock.monotonic() >= self._held_until:
            self._drop_held()

    def _drop_held(self) -> None:
        self._expired += self._held
        self._held = 0.0


class SharedQuota:
    """One daemon's handle on a quota whose usage the whole cluster counts (see `QuotaBudget`).

    Every spend is one transaction in the store (a lock and a conditional insert, ~4 round
    trips on loopback): a daily allowance is spent at most a few times a second.
    """

    def __init__(self, store: BucketStore, name: str) -> None:
        self.name = name
        self._store = store

    async def spend(self, cost: int, *, ceiling: int, since: float, now: float) -> QuotaSpend:
        """Spend `cost` if the cluster's usage since `since` plus `cost` stays within `ceiling`."""
        return await self._store.spend(self.name, cost=cost, ceiling=ceiling, since=since, now=now)


class SharedBudgets:
    """The cluster's shared buckets over one `BucketStore`; open with `open_shared_budgets`.

    Hints from the server (a pause, a lower remaining) are noted without waiting, from the
    synchronous `RateLimiter.observe`, and written by a task `open_shared_budgets` owns; the
    latest note per bucket wins until written.
    """

    def __init__(self, store: BucketStore, *, clock: Clock, hold: float = DEFAULT_HOLD) -> None:
        if not (0 <= hold <= 1):
            raise ValueError(f"hold must be in [0, 1] seconds, not {hold!r}")
        self.store = store
        self._clock = clock
        self._hold = hold
        self._buckets: dict[str, SharedBucket] = {}
        self._pauses: dict[str, float] = {}  # bucket -> monotonic end of the pause
        self._drains: dict[str, tuple[float, float, float]] = {}
        self._noted = asyncio.Event()

    def bucket(self, name: str, *, system: str) -> SharedBucket:
        """The shared bucket `name` (one object per name, so callers queue together)."""
        found = self._buckets.get(name)
        if found is None:
            found = self._buckets[name] = SharedBucket(
                self, name, system=system, clock=self._clock, hold=self._hold
            )
        return found

    def quota(self, name: str) -> SharedQuota:
        """The shared counter of quota `name`."""
        return SharedQuota(self.store, name)

    def note_pause(self, name: str, delay: float) -> None:
        """Note a pause of `name` for `delay` seconds from now, for the hint writer."""
        until = self._clock.monotonic() + delay
        self._pauses[name] = max(until, self._pauses.get(name, -math.inf))
        self._noted.set()

    def note_drain(self, name: str, level: float, *, rate: float, burst: float) -> None:
        """Note the server's `remaining` for `name`, for the hint writer."""
        self._drains[name] = (level, rate, burst)
        self._noted.set()

    async def flush(self) -> None:
        """Write the noted hints now; a failed write keeps its note and raises `JournalError`."""
        self._noted.clear()
        while self._pauses:
            name, until = next(iter(self._pauses.items()))
            delay = until - self._clock.monotonic()
            if delay > 0:
                await self.store.pause(name, delay=delay)
            if self._pauses.get(name) == until:
                del self._pauses[name]
        while self._drains:
            name, (level, rate, burst) = next(iter(self._drains.items()))
            await self.store.drain(name, level=level, rate=rate, burst=burst)
            if self._drains.get(name) == (level, rate, burst):
                del self._drains[name]

    async def _write_hints(self) -> None:
        while True:
            await self._noted.wait()
            try:
                await self.flush()
            except JournalError as exc:  # the store is down: the next take says so too
                _log.warning("could not share a rate-limit hint: %s; retrying", exc)
                await self._clock.sleep(_RETRY_DELAY)
                self._noted.set()


@contextlib.asynccontextmanager
async def open_shared_budgets(
    store: BucketStore, *, clock: Clock, hold: float = DEFAULT_HOLD
) -> AsyncIterator[SharedBudgets]:
    """Yield `SharedBudgets` over `store`, with its hint writer running until the exit.

    Leaving writes the hints still noted (for at most a second) and stops the writer.
    """
    budgets = SharedBudgets(store, clock=clock, hold=hold)
    async with TaskGroup() as tg:
        writer = tg.create_task(budgets._write_hints())
        try:
            yield budgets
        finally:
            writer.cancel()
            try:
                async with asyncio.timeout(1.0):
                    await budgets.flush()
            except (JournalError, TimeoutError) as exc:
                _log.warning("rate-limit hints not shared on closing: %r", exc)
