"""Deliveries per flow over the last minute and fifteen minutes, for the status page.

The dispatcher counts deliveries for the whole daemon; the operator asks per flow ("is
approved_time moving?"). The router counts each delivery it forwards, in a ring of
one-second buckets per flow: recording is O(1) and memory is fixed (900 counters a flow),
whatever the rate. Times come from the runtime's clock, so a `FakeClock` drives it in tests.
"""

from __future__ import annotations

import msgspec

from mediator.clock import Clock

__all__ = ["FlowThroughput", "ThroughputCounter"]

_SPAN = 900  # seconds kept: the longest window asked for


class FlowThroughput(msgspec.Struct, frozen=True, kw_only=True):
    """Deliveries that ended (succeeded or failed) in the last 60 s and 900 s, and since start."""

    delivered: int
    failed: int
    last_minute: int
    last_15_minutes: int


class ThroughputCounter:
    """A ring of per-second delivery counts of one flow."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._counts = [0] * _SPAN
        self._seconds = [-1] * _SPAN  # which second each bucket holds
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

    def statistics(self) -> FlowThroughput:
        """A snapshot of the counts."""
        return FlowThroughput(
            delivered=self._delivered,
            failed=self._failed,
            last_minute=self.within(60),
            last_15_minutes=self.within(_SPAN),
        )
