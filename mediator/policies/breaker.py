"""A circuit breaker per system: stop calling a system that is failing, probe it, resume.

    closed ──(N consecutive failures, or failure rate ≥ r over the window with ≥ m calls)──▶ open
    open ──(open time passed)──▶ half-open ──(k probes succeed)──▶ closed
                                  half-open ──(a probe fails)──▶ open, for longer

Only outcomes the classifier marks `system_failure` count: a rejected message (422, a
validation error) is the message's fault and leaves the breaker alone. The open time doubles
with each trip that follows another without a settled closed period, up to `max_open_for`.
"""

from __future__ import annotations

import collections
import enum
import math
from collections.abc import Callable

import msgspec

from mediator.clock import Clock
from mediator.errors import CircuitOpen
from mediator.policies.classify import Classification, Verdict

__all__ = ["BreakerState", "BreakerStatistics", "CircuitBreaker"]


class BreakerState(enum.StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class BreakerStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of a breaker: its state, trips, window and refusals."""

    system: str
    state: BreakerState
    trips: int
    consecutive_failures: int
    window_calls: int
    window_failures: int
    open_for: float
    retry_after: float
    probes_in_flight: int
    refused: int


class CircuitBreaker:
    """Refuse calls to `system` while it is failing; see the module docstring for the rules.

    `allow()` before each call raises `CircuitOpen` when open (or when all `half_open_probes`
    probe slots are taken); `record(outcome)` after it. `on_change(old, new)` is called on every
    transition (for logs and status). Time is read from `clock`; nothing here waits.
    """

    def __init__(
        self,
        system: str,
        *,
        clock: Clock,
        consecutive_failures: int = 5,
        failure_rate: float = 0.5,
        window: float = 60.0,
        min_calls: int = 10,
        open_for: float = 5.0,
        max_open_for: float = 300.0,
        growth: float = 2.0,
        half_open_probes: int = 1,
        on_change: Callable[[BreakerState, BreakerState], object] | None = None,
    ) -> None:
        if consecutive_failures < 1 or min_calls < 1 or half_open_probes < 1:
            raise ValueError("consecutive_failures, min_calls and half_open_probes must be >= 1")
        if not (0 < failure_rate <= 1) or window <= 0:
            raise ValueError("failure_rate must be in (0, 1] and window positive")
        if not (0 < open_for <= max_open_for) or growth < 1:
            raise ValueError("need 0 < open_for <= max_open_for and growth >= 1")
        self.system = system
        self._clock = clock
        self._threshold = consecutive_failures
        self._rate = failure_rate
        self._window = window
        self._min_calls = min_calls
        self._base_open = open_for
        self._max_open = max_open_for
        self._growth = growth
        self._probes = half_open_probes
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._calls: collections.deque[tuple[float, bool]] = collections.deque()
        self._failures_in_window = 0
        self._consecutive = 0
        self._level = 0  # trips in a row without a settled closed period
        self._open_for = 0.0
        self._open_until = 0.0
        self._closed_at = -math.inf  # not read from the clock: no loop may be running yet
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._trips = 0
        self._refused = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose time is up reads as half-open)."""
        self._tick()
        return self._state

    def allow(self) -> None:
        """Let one call through or raise `CircuitOpen` with the seconds until the next try.

        In half-open, each allowed call is a probe and must be followed by `record`.
        """
        self._tick()
        if self._state is BreakerState.CLOSED:
            return
        if self._state is BreakerState.HALF_OPEN and self._probes_in_flight < self._probes:
            self._probes_in_flight += 1
            return
        self._refused += 1
        # half-open with every probe slot taken: suggest the base open time
        raise CircuitOpen(self.system, self._retry_after() or self._base_open)

    def release(self) -> None:
        """An allowed call was not made after all: free its half-open probe slot, if it had one."""
        self._release_probe()

    def record(self, outcome: Classification) -> None:
        """Record a call's classified outcome; only `system_failure` outcomes count as failures."""
        if outcome.system_failure:
            self.record_failure()
        elif outcome.verdict is Verdict.SUCCESS or outcome.verdict is Verdict.DEAD:
            # a dead letter proves the system answered: it is up
            self.record_success()
        else:
            self._release_probe()  # a transient, non-system problem (a lock, a rate): no evidence

    def record_success(self) -> None:
        """Record a call that reached a healthy system."""
        self._tick()
        if self._state is BreakerState.HALF_OPEN:
            self._release_probe()
            self._probe_successes += 1
            if self._probe_successes >= self._probes:
                self._close()
        elif self._state is BreakerState.CLOSED:
            self._consecutive = 0
            self._add(failed=False)

    def record_failure(self) -> None:
        """Record a system failure (timeout, refused connection, 5xx)."""
        self._tick()
        if self._state is BreakerState.HALF_OPEN:
            self._release_probe()
            self._trip(self._grown())
        elif self._state is BreakerState.CLOSED:
            self._consecutive += 1
            self._add(failed=True)
            count = len(self._calls)
            by_rate = count >= self._min_calls and self._failures_in_window >= self._rate * count
            if self._consecutive >= self._threshold or by_rate:
                self._trip(self._grown())

    def force_open(self, duration: float) -> None:
        """Open for at least `duration` seconds: the server asked for a wait above the cap."""
        self._tick()
        if self._state is BreakerState.OPEN:
            self._open_until = max(self._open_until, self._clock.monotonic() + duration)
            self._open_for = max(self._open_for, duration)
            return
        self._trip(duration)

    def statistics(self) -> BreakerStatistics:
        """Return the state, the trip count and the sliding window's contents."""
        self._tick()
        return BreakerStatistics(
            system=self.system,
            state=self._state,
            trips=self._trips,
            consecutive_failures=self._consecutive,
            window_calls=len(self._calls),
            window_failures=self._failures_in_window,
            open_for=self._open_for,
            retry_after=self._retry_after(),
            probes_in_flight=self._probes_in_flight,
            refused=self._refused,
        )

    # -- internals ----------------------------------------------------------------------------

    def _tick(self) -> None:
        now = self._clock.monotonic()
        if self._state is BreakerState.OPEN and now >= self._open_until:
            self._move(BreakerState.HALF_OPEN)
            self._probes_in_flight = 0
            self._probe_successes = 0
        while self._calls and self._calls[0][0] <= now - self._window:
            _, failed = self._calls.popleft()
            self._failures_in_window -= failed

    def _add(self, *, failed: bool) -> None:
        self._calls.append((self._clock.monotonic(), failed))
        self._failures_in_window += failed

    def _grown(self) -> float:
        now = self._clock.monotonic()
        if self._state is BreakerState.CLOSED and now - self._closed_at >= self._max_open:
            self._level = 0  # closed long enough: the system had settled
        return min(self._max_open, self._base_open * self._growth**self._level)

    def _trip(self, duration: float) -> None:
        self._open_for = duration
        self._open_until = self._clock.monotonic() + duration
        self._level = min(self._level + 1, 64)
        self._trips += 1
        self._calls.clear()
        self._failures_in_window = 0
        self._consecutive = 0
        self._move(BreakerState.OPEN)

    def _close(self) -> None:
        self._closed_at = self._clock.monotonic()
        self._calls.clear()
        self._failures_in_window = 0
        self._consecutive = 0
        self._move(BreakerState.CLOSED)

    def _release_probe(self) -> None:
        if self._state is BreakerState.HALF_OPEN and self._probes_in_flight > 0:
            self._probes_in_flight -= 1

    def _retry_after(self) -> float:
        if self._state is BreakerState.OPEN:
            return max(self._open_until - self._clock.monotonic(), 0.0)
        return 0.0

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if self._on_change is not None and old is not new:
            self._on_change(old, new)
