"""Deadlines of the `ask`s waiting on one actor, kept without a timer per ask.

A timer per ask (a `TimerHandle` pushed on the loop's heap, then cancelled) cost 15-20 % of
`ask` round trips (bench/actors.py, 1 asker: 83k → 100k/s on the standard loop). Asks with the
same timeout fall due in the order they were made, so each timeout gets a FIFO queue, and one
timer, set for the earliest deadline, expires what is due. Replies complete in mailbox order,
so answered asks are dropped from the front as they finish and the queues stay short.
"""

from __future__ import annotations

import asyncio
from collections import deque

from mediator.clock import Clock, Timer
from mediator.errors import AskTimeout

__all__: list[str] = []


class AskDeadlines:
    """Pending asks of one actor by timeout; expires each with `AskTimeout` when due."""

    __slots__ = ("_clock", "_name", "_queues", "_timer", "_timer_at")

    def __init__(self, clock: Clock, name: str) -> None:
        self._clock = clock
        self._name = name
        self._queues: dict[float, deque[tuple[float, asyncio.Future[object]]]] = {}
        self._timer: Timer | None = None
        self._timer_at = 0.0

    def watched(self) -> int:
        """How many asks' deadlines are watched now."""
        return sum(len(queue) for queue in self._queues.values())

    def watch(self, reply: asyncio.Future[object], timeout: float) -> None:
        """Fail `reply` with `AskTimeout` if it is not done `timeout` seconds from now."""
        deadline = self._clock.monotonic() + timeout
        queue = self._queues.get(timeout)
        if queue is None:
            queue = self._queues[timeout] = deque()
        queue.append((deadline, reply))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)

    def settle(self, timeout: float) -> None:
        """Drop answered asks from the front of `timeout`'s queue (call when an ask ends)."""
        queue = self._queues.get(timeout)
        while queue and queue[0][1].done():
            queue.popleft()

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self._clock.call_later(deadline - self._clock.monotonic(), self._expire)

    def _expire(self) -> None:
        self._timer = None
        now = self._clock.monotonic()
        earliest: float | None = None
        for timeout, queue in list(self._queues.items()):
            while queue:
                deadline, reply = queue[0]
                if reply.done():
                    queue.popleft()
                elif deadline <= now:
                    queue.popleft()
                    reply.set_exception(AskTimeout(self._name, timeout))
                else:
                    earliest = deadline if earliest is None else min(earliest, deadline)
                    break
            if not queue:
                del self._queues[timeout]
        if earliest is not None:
            self._arm(earliest)
