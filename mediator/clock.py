"""Time as an injected dependency: the runtime reads time and waits only through a `Clock`.

Production code uses `SystemClock` (the event loop's monotonic clock and the wall clock);
tests use `mediator.testing.FakeClock`, whose time only moves when the test advances it, so
retry delays, passivation and timeouts are checked without sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Timer"]


class Timer(Protocol):
    """A scheduled callback that can be cancelled (an `asyncio.TimerHandle` is one)."""

    def cancel(self) -> None:
        """Cancel the callback; a no-op if it already ran."""


class Clock(Protocol):
    """What the runtime needs of time: now, a wait, and a callback later."""

    def time(self) -> float:
        """Wall-clock time in epoch seconds (for records and calendars)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds (for durations and deadlines)."""
        ...

    async def sleep(self, delay: float) -> None:
        """Wait `delay` seconds of this clock's time."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` (on the event loop) after `delay` seconds of this clock's time."""
        ...


class SystemClock:
    """The real clock: the running event loop's monotonic time and the system's wall time."""

    def time(self) -> float:
        """Return the wall-clock time in epoch seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Return the running loop's monotonic time (the time its timers use)."""
        return asyncio.get_running_loop().time()

    async def sleep(self, delay: float) -> None:
        """Sleep `delay` real seconds."""
        await asyncio.sleep(delay)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Schedule `callback` on the running loop after `delay` real seconds."""
        return asyncio.get_running_loop().call_later(delay, callback)
