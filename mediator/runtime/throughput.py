"""Deliveries per flow over the last minute, fifteen minutes and hour, for the status page.

The dispatcher counts deliveries for the whole daemon; the operator asks per flow ("is
approved_time moving?"). The router counts each delivery it forwards, in a ring of
one-second buckets per flow and a ring of one-minute buckets (the dashboard's chart of the
last hour): recording is O(1) and memory is fixed (960 counters a flow), whatever the rate.
Times come from the runtime's clock, so a `FakeClock` drives it in tests.
"""

from __future__ import annotations

import msgspec

from mediator.clock import Clock

__all__ = ["FlowThroughput", "ThroughputCounter"]

_SPAN = 900  # seconds kept: the longest window asked for
_MINUTES = 60  # minutes kept: the dashboard's chart of the last hour


class FlowThroughput(msgspec.Struct, frozen=True, kw_only=True):
    """Deliveries that ended (succeeded or failed) in the last 60 s and 900 s, and since start;
    `per_minute` counts them in each of the last 60 clock minutes, oldest first (the last
    one is the current, partial minute)."""

    delivered: int
    failed: int
    last_minute: int
    last_15_minutes: int
    per_minute: list[int] = []


class ThroughputCounter:
    """A ring of per-second delivery counts of one flow."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counts = [0] * _SPAN
        self._seconds = [-1] * _SPAN  # which second each bucket holds
        self._minute_counts = [0] * _MINUTES
        self._minutes = [-1] * _MINUTES  # which minute each bucket holds
        self._delivered = 0
        self._failed = 0

    def record(self, *, ok: bool) -> None:
        """Count one delivery that ended now."""
        second = int(self._clock.time())
        slot = second % _SPAN
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._counts[slot] = 0
        self._counts[slot] += 1
        minute = second // 60
        slot = minute % _MINUTES
        if self._minutes[slot] != minute:
            self._minutes[slot] = minute
            self._minute_counts[slot] = 0
        self._minute_counts[slot] += 1
        if ok:
            self._delivered += 1
        else:
            self._failed += 1

    def within(self, seconds: int) -> int:
        """Deliveries in the last `seconds` seconds (at most 900), the current second included."""
        now = int(self._clock.time())
        oldest = now - min(seconds, _SPAN) + 1
        return sum(
            count
            for count, second in zip(self._counts, self._seconds, strict=True)
            if oldest <= second <= now
        )

    def per_minute(self) -> list[int]:
        """Deliveries in each of the last 60 clock minutes, oldest first, the current one last."""
        now = int(self._clock.time()) // 60
        held = dict(zip(self._minutes, self._minute_counts, strict=True))
        return [held.get(minute, 0) for minute in range(now - _MINUTES + 1, now + 1)]

    def statistics(self) -> FlowThroughput:
        """A snapshot of the counts."""
        return FlowThroughput(
            delivered=self._delivered,
            failed=self._failed,
            last_minute=self.within(60),
            last_15_minutes=self.within(_SPAN),
            per_minute=self.per_minute(),
        )
