"""The demo's business calendar: the PSA sandbox's wall time is the simulated day, not now.

The demo plays a month of approvals out in a few seconds. Stamped with the real wall clock,
every approval of the month lands within those seconds, many in the same second; Harvest's
`updated_since` is inclusive, so each poll re-reads whatever shares its watermark's second,
and how many that is depended on the machine's speed (623 or 683 records read for one seed).
`BusinessClock` gives the Harvest sandbox a wall time that is the day being approved, one
second further at each reading: every stamp is distinct and the same on every run, so a seed
reproduces the figures. Durations and timers (`monotonic`, `sleep`) stay real.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

from mediator.clock import Clock, Timer

__all__ = ["BusinessClock"]

#: Approvals are made at the end of the working day they are due.
_APPROVALS_AT = datetime.time(17, 0)


class BusinessClock:
    """A `Clock` whose wall time is the simulated business day, ticking a second per reading."""

    def __init__(self, real: Clock, *, day: datetime.date) -> None:
        self._real = real
        self._now = self._start_of(day)

    def enter(self, day: datetime.date) -> None:
        """Move the wall time on to `day`'s approvals (never back)."""
        self._now = max(self._now, self._start_of(day))

    def time(self) -> float:
        """Return the simulated wall time, then move it on a second (each stamp is distinct)."""
        self._now += 1.0
        return self._now

    def monotonic(self) -> float:
        """Return the real clock's monotonic time."""
        return self._real.monotonic()

    async def sleep(self, delay: float) -> None:
        """Sleep `delay` real seconds."""
        await self._real.sleep(delay)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        """Run `callback` after `delay` real seconds."""
        return self._real.call_later(delay, callback)

    @staticmethod
    def _start_of(day: datetime.date) -> float:
        return datetime.datetime.combine(day, _APPROVALS_AT, datetime.UTC).timestamp()
