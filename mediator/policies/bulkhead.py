"""Bound the calls in flight to one system, and the time a caller queues for a slot.

A system that serves requests from a small worker pool (a Tryton server) slows everyone down
when flooded; the bulkhead keeps the excess waiting here, in arrival order, for a bounded time,
then refuses with `BulkheadFull` so the caller can back off instead of piling on.

A background priority class (a reconciliation) holds at most ``max(1, floor(limit * share))``
slots, and the background classes together at most ``limit - 1`` (when the limit allows one),
so a live call always finds a slot that no background call may take. A background caller also
waits while any live caller does: a freed slot goes to the longest-waiting live caller first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from collections.abc import AsyncIterator, Mapping
from types import TracebackType

import msgspec

from mediator.clock import Clock
from mediator.errors import BulkheadFull
from mediator.policies.ratelimit import DEFAULT_CLASS

__all__ = ["Bulkhead", "BulkheadStatistics"]

_Waiter = tuple[str, asyncio.Future[bool]]  # a background caller: its class, its grant


class BulkheadStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Slots in use, callers queued, the peak, and how many waited or were refused."""

    target: str
    limit: int
    active: int
    waiting: int
    peak: int
    waits: int
    rejected: int
    caps: dict[str, int]
    active_by_class: dict[str, int]
    peak_by_class: dict[str, int]
    admitted_by_class: dict[str, int]


class Bulkhead:
    """At most `limit` concurrent calls to `target`; others wait up to `max_wait` seconds.

    At most `max_waiting` callers queue (unbounded if `None`); beyond that, or when the wait
    runs out, `acquire` raises `BulkheadFull`. Use ``async with bulkhead:`` around a live
    call, ``async with bulkhead.slot(priority):`` around one of a class.

    `shares` names the background classes and their share (0, 1] of the slots (see the module
    docstring). Any other priority, or None, is live, as for `RateLimiter`.
    """

    def __init__(
        self,
        target: str,
        *,
        limit: int,
        clock: Clock,
        max_wait: float = 30.0,
        max_waiting: int | None = None,
        shares: Mapping[str, float] | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if max_wait < 0 or (max_waiting is not None and max_waiting < 0):
            raise ValueError("max_wait and max_waiting must not be negative")
        for name, share in (shares or {}).items():
            if not name:
                raise ValueError("a priority class name must not be empty")
            if not 0 < share <= 1:
                raise ValueError(f"share of {name!r} must be in (0, 1], not {share!r}")
        self.target = target
        self.limit = limit
        self.max_wait = max_wait
        self.max_waiting = max_waiting
        self._clock = clock
        self._active = 0
        self._queue: collections.deque[asyncio.Future[bool]] = collections.deque()
        self._peak = 0
        self._waits = 0
        self._rejected = 0
        self._caps = {
            name: max(1, math.floor(limit * share)) for name, share in (shares or {}).items()
        }
        self._background_cap = max(1, limit - 1)
        self._background: collections.deque[_Waiter] = collections.deque()
        self._by_class: collections.Counter[str] = collections.Counter()  # background in flight
        self._peak_by_class: collections.Counter[str] = collections.Counter()
        self._admitted: collections.Counter[str] = collections.Counter()

    def acquire_nowait(self, *, priority: str | None = None) -> None:
        """Take a slot now or raise `BulkheadFull` (never queues, never jumps the queue)."""
        name = self._background_class(priority)
        if not (self._may_take(name) and not self._queued(name)):
            self._rejected += 1
            raise BulkheadFull(self.target, self.limit)
        self._take(priority)

    async def acquire(self, *, priority: str | None = None) -> None:
        """Take a slot, waiting in arrival order for at most `max_wait` seconds.

        Raises `BulkheadFull` when the queue is at `max_waiting` or the wait runs out. A
        background `priority` waits too while its class or the background classes hold
        their share, or any live caller waits.
        """
        name = self._background_class(priority)
        if self._may_take(name) and not self._queued(name):
            self._take(priority)
            return
        waiting = len(self._queue) + len(self._background)
        if self.max_waiting is not None and waiting >= self.max_waiting:
            self._rejected += 1
            raise BulkheadFull(self.target, self.limit)
        granted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if name is None:
            self._queue.append(granted)
        else:
            self._background.append((name, granted))
        self._waits += 1

        def expire() -> None:
            if not granted.done():
                granted.set_result(False)

        timer = self._clock.call_later(self.max_wait, expire)
        try:
            got_slot = await granted
        except BaseException:
            # cancelled: a slot handed over in the same instant must not leak
            if granted.done() and not granted.cancelled() and granted.result():
                self.release(priority=priority)
            raise
        finally:
            timer.cancel()
            if name is None:
                if granted in self._queue:
                    self._queue.remove(granted)
            elif (name, granted) in self._background:
                self._background.remove((name, granted))
        if not got_slot:
            self._rejected += 1
            raise BulkheadFull(self.target, self.limit)
        self._admitted[priority or DEFAULT_CLASS] += 1

    def release(self, *, priority: str | None = None) -> None:
        """Give back a slot taken for `priority`; the longest-waiting live caller (if any)
        gets it directly, else the longest-waiting background caller whose class may."""
        if self._active <= 0:
            raise RuntimeError(f"release of {self.target} without a slot")
        name = self._background_class(priority)
        if name is not None:
            self._by_class[name] -= 1
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot passes over: `_active` stays the same
                return
        for entry in list(self._background):
            waiting, future = entry
            if future.done():
                continue
            if self._class_has_room(waiting):
                self._background.remove(entry)
                self._hold(waiting)
                future.set_result(True)
                return
        self._active -= 1

    @contextlib.asynccontextmanager
    async def slot(self, priority: str | None = None) -> AsyncIterator[None]:
        """Hold a slot for `priority` around the call (``async with bulkhead.slot(p):``)."""
        await self.acquire(priority=priority)
        try:
            yield
        finally:
            self.release(priority=priority)

    async def __aenter__(self) -> Bulkhead:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def statistics(self) -> BulkheadStatistics:
        """Return slots in use, queue length and counters."""
        return BulkheadStatistics(
            target=self.target,
            limit=self.limit,
            active=self._active,
            waiting=sum(1 for waiter in self._queue if not waiter.done())
            + sum(1 for _, waiter in self._background if not waiter.done()),
            peak=self._peak,
            waits=self._waits,
            rejected=self._rejected,
            caps=dict(self._caps),
            active_by_class={name: self._by_class[name] for name in self._caps},
            peak_by_class={name: self._peak_by_class[name] for name in self._caps},
            admitted_by_class={
                DEFAULT_CLASS: 0,
                **dict.fromkeys(self._caps, 0),
                **self._admitted,
            },
        )

    def _background_class(self, priority: str | None) -> str | None:
        return priority if priority is not None and priority in self._caps else None

    def _may_take(self, name: str | None) -> bool:
        if self._active >= self.limit:
            return False
        return name is None or (not self._queue and self._class_has_room(name))

    def _class_has_room(self, name: str) -> bool:
        in_flight = sum(self._by_class.values())
        return self._by_class[name] < self._caps[name] and in_flight < self._background_cap

    def _queued(self, name: str | None) -> bool:
        # a newcomer never goes ahead of a waiter of its own class (live: of any live caller)
        if name is None:
            return bool(self._queue)
        return any(waiting == name and not f.done() for waiting, f in self._background)

    def _take(self, priority: str | None) -> None:
        self._active += 1
        self._peak = max(self._peak, self._active)
        self._admitted[priority or DEFAULT_CLASS] += 1
        name = self._background_class(priority)
        if name is not None:
            self._hold(name)

    def _hold(self, name: str) -> None:
        self._by_class[name] += 1
        self._peak_by_class[name] = max(self._peak_by_class[name], self._by_class[name])
