"""Bound the calls in flight to one system, and the time a caller queues for a slot.

A system that serves requests from a small worker pool (a Tryton server) slows everyone down
when flooded; the bulkhead keeps the excess waiting here, in arrival order, for a bounded time,
then refuses with `BulkheadFull` so the caller can back off instead of piling on.
"""

from __future__ import annotations

import asyncio
import collections
from types import TracebackType

import msgspec

from mediator.clock import Clock
from mediator.errors import BulkheadFull

__all__ = ["Bulkhead", "BulkheadStatistics"]


class BulkheadStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Slots in use, callers queued, the peak, and how many waited or were refused."""

    target: str
    limit: int
    active: int
    waiting: int
    peak: int
    waits: int
    rejected: int


class Bulkhead:
    """At most `limit` concurrent calls to `target`; others wait up to `max_wait` seconds.

    At most `max_waiting` callers queue (unbounded if `None`); beyond that, or when the wait
    runs out, `acquire` raises `BulkheadFull`. Use ``async with bulkhead:`` around the call.
    """

    def __init__(
        self,
        target: str,
        *,
        limit: int,
        clock: Clock,
        max_wait: float = 30.0,
        max_waiting: int | None = None,
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if max_wait < 0 or (max_waiting is not None and max_waiting < 0):
            raise ValueError("max_wait and max_waiting must not be negative")
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

    def acquire_nowait(self) -> None:
        """Take a slot now or raise `BulkheadFull` (never queues, never jumps the queue)."""
        if self._active >= self.limit or self._queue:
            self._rejected += 1
            raise BulkheadFull(self.target, self.limit)
        self._take()

    async def acquire(self) -> None:
        """Take a slot, waiting in arrival order for at most `max_wait` seconds.

        Raises `BulkheadFull` when the queue is at `max_waiting` or the wait runs out.
        """
        if self._active < self.limit and not self._queue:
            self._take()
            return
        if self.max_waiting is not None and len(self._queue) >= self.max_waiting:
            self._rejected += 1
            raise BulkheadFull(self.target, self.limit)
        granted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(granted)
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
                self.release()
            raise
        finally:
            timer.cancel()
            if granted in self._queue:
                self._queue.remove(granted)
        if not got_slot:
            self._rejected += 1
            raise BulkheadFull(self.target, self.limit)

    def release(self) -> None:
        """Give a slot back; the longest-waiting caller (if any) gets it directly."""
        if self._active <= 0:
            raise RuntimeError(f"release of {self.target} without a slot")
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(True)  # the slot passes over: `_active` stays the same
                return
        self._active -= 1

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
            waiting=sum(1 for waiter in self._queue if not waiter.done()),
            peak=self._peak,
            waits=self._waits,
            rejected=self._rejected,
        )

    def _take(self) -> None:
        self._active += 1
        self._peak = max(self._peak, self._active)
