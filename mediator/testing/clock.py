"""A virtual clock for tests: time stands still until the test advances it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")

__all__ = ["FakeClock", "drive"]


@dataclass(order=True)
class _Scheduled:
    deadline: float
    seq: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Virtual time for deterministic tests: implements `mediator.clock.Clock`.

    Nothing happens until `await clock.advance(seconds)`, which fires every timer that falls due
    in order, setting the time to each timer's deadline and letting the event loop run the tasks
    it woke before moving on, so chains of sleeps (a backoff sequence) play out exactly.
    `wall` is the epoch time at monotonic zero.
    """

    def __init__(self, *, start: float = 0.0, wall: float = 1_790_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall - start
        self._timers: list[_Scheduled] = []
        self._seq = itertools.count()
        self._changed = asyncio.Event()

    # -- Clock ------------------------------------------------------------------------------

    def time(self) -> float:
        """Return the virtual wall-clock time in epoch seconds."""
        return self._now + self._wall_offset

    def monotonic(self) -> float:
        """Return the virtual monotonic time."""
        return self._now

    async def sleep(self, delay: float) -> None:
        """Wait until the virtual time has advanced by `delay`."""
        if delay <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_later(delay, wake)
        try:
            await future
        finally:
            timer.cancel()

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Scheduled:
        """Schedule `callback` at virtual time now + `delay`."""
        timer = _Scheduled(self._now + max(delay, 0.0), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        self._changed.set()
        return timer

    # -- test controls ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """How many timers (sleepers included) are waiting."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        """The virtual time of the earliest pending timer, if any."""
        self._drop_cancelled()
        return self._timers[0].deadline if self._timers else None

    async def advance(self, seconds: float) -> None:
        """Move time on by `seconds`, firing due timers in order and letting woken tasks run."""
        target = self._now + seconds
        await _settle()
        while True:
            self._drop_cancelled()
            if not self._timers or self._timers[0].deadline > target:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.deadline)
            timer.callback()
            await _settle()
        self._now = target
        await _settle()

    async def advance_to_next(self) -> float:
        """Advance to the earliest pending timer and fire it; return the time advanced."""
        deadline = self.next_deadline()
        if deadline is None:
            raise LookupError("no pending timer to advance to")
        step = max(deadline - self._now, 0.0)
        await self.advance(step)
        return step

    async def wait_for_timers(self, count: int = 1) -> None:
        """Wait (in real loop turns, not virtual time) until at least `count` timers are pending."""
        while self.pending < count:
            self._changed.clear()
            await self._changed.wait()

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)


async def _settle(rounds: int = 20) -> None:
    # Several loop turns: a woken task may await a future that another woken task resolves.
    for _ in range(rounds):
        await asyncio.sleep(0)


async def drive(
    clock: FakeClock,
    call: Awaitable[T],
    *,
    horizon: float | None = None,
    idle: Callable[[], bool] | None = None,
) -> T:
    """Await `call`, advancing `clock` whenever it waits on it (backoff, Retry-After, limiter).

    Real I/O on loopback gets real time; a call that neither finishes nor waits on the clock
    within a minute fails the test instead of hanging it. With `horizon`, time moves only to
    timers due within that many seconds (a 60 s timeout never fires while a call waits on real
    I/O); with `idle`, only while it says nothing is on its way (a request sent but not yet
    received would otherwise arrive later in virtual time than it left).
    """
    task = asyncio.ensure_future(call)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while not task.done():
        if loop.time() > deadline:
            task.cancel()
            raise AssertionError("the call neither finished nor waited on the clock")
        await asyncio.wait({task}, timeout=0.002)
        due = clock.next_deadline()
        if task.done() or due is None or (idle is not None and not idle()):
            continue
        if horizon is None:
            await clock.advance_to_next()
        elif due - clock.monotonic() <= horizon:
            await clock.advance(max(due - clock.monotonic(), 0.0))
    return task.result()
