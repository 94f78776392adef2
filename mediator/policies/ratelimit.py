"""A token bucket shared by every caller of one API, corrected by what the server says.

Callers that cannot be admitted at once reserve their tokens (the bucket goes into debt) and
sleep until their turn, so waiters are served in arrival order and wake once, without polling.
The server's word only ever slows the bucket down: `Retry-After` or ``remaining=0`` pauses it,
a lower ``remaining`` drains it, and a lower advertised limit lowers the rate.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import msgspec

from mediator.clock import Clock
from mediator.errors import RateLimited
from mediator.policies.headers import LimitHint, parse_limit_headers

__all__ = ["RateLimiter", "RateLimiterStatistics"]

_log = logging.getLogger("mediator.policies")

# A policy over a longer window is a quota (a daily allowance), not a rate: spreading it evenly
# would crawl. Harvest's slowest documented window is 15 minutes (its Reports API).
_RATE_WINDOW = 900.0


class RateLimiterStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of a limiter: its bucket, its waiters and what the server told it."""

    system: str
    rate: float
    burst: float
    tokens: float
    waiting: int
    admitted: int
    waits: int
    waited: float
    rejected: int
    paused_for: float
    server_pauses: int
    over_cap: int
    server_limit: int | None
    server_remaining: int | None


class RateLimiter:
    """Admit calls to `system` at `rate` per second with bursts of up to `burst` cost units.

    `max_wait` caps every wait: `acquire` raises `RateLimited` rather than sleep longer, and a
    server-suggested wait above it is counted in `over_cap` (the caller opens its breaker), so a
    10-hour `Retry-After` is reported instead of silently stalling a flow. With `adapt`, an
    advertised limit per window lower than the configured rate lowers the rate.
    """

    def __init__(
        self,
        system: str,
        *,
        rate: float,
        burst: float,
        clock: Clock,
        max_wait: float = 60.0,
        adapt: bool = True,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number, not {rate!r}")
        if not (burst >= 1 and math.isfinite(burst)):
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        self.system = system
        self.max_wait = max_wait
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._adapt = adapt
        # `_tokens` is the level at `_as_of`, which lies in the future while paused; it is
        # negative while waiters hold reservations.
        self._tokens = burst
        # -inf: full as of any time; and the clock is not read here, because a system clock
        # needs a running loop and a limiter may be built before one runs
        self._as_of = -math.inf
        self._generation = 0  # bumped by every pause: sleepers then re-reserve
        self._waiting = 0
        self._admitted = 0
        self._waits = 0
        self._waited = 0.0
        self._rejected = 0
        self._server_pauses = 0
        self._over_cap = 0
        self._server_limit: int | None = None
        self._server_remaining: int | None = None

    @property
    def rate(self) -> float:
        """Tokens added per second (may have been lowered by the server)."""
        return self._rate

    # -- admission ----------------------------------------------------------------------------

    def try_acquire(self, cost: float = 1.0) -> float:
        """Take `cost` tokens if they are there now and return 0.0; else take nothing and return
        the seconds until they would be (counting the waiters ahead)."""
        self._check(cost)
        now = self._refill()
        if now >= self._as_of and self._tokens >= cost:
            self._tokens -= cost
            self._admitted += 1
            return 0.0
        return self._ready_at(self._tokens - cost) - now

    def acquire_nowait(self, cost: float = 1.0) -> None:
        """Take `cost` tokens now or raise `RateLimited` with the wait that would be needed."""
        wait = self.try_acquire(cost)
        if wait > 0:
            self._rejected += 1
            raise RateLimited(self.system, wait)

    async def acquire(self, cost: float = 1.0) -> float:
        """Wait until `cost` tokens are available, take them and return the seconds waited.

        Raises `RateLimited` at once, taking nothing, if the wait would exceed `max_wait`.
        Waiters are admitted in arrival order. If cancelled while waiting, the reserved tokens
        are not given back: returning them could admit a newcomer into a slot already promised
        to a later waiter.
        """
        self._check(cost)
        started = self._clock.monotonic()
        waited_once = False
        while True:
            wait = self.try_acquire(cost)
            if wait == 0.0:
                break
            if wait > self.max_wait:
                self._rejected += 1
                raise RateLimited(self.system, wait)
            self._tokens -= cost  # reserve: later callers queue behind this one
            generation = self._generation
            waited_once = True
            self._waiting += 1
            try:
                await self._clock.sleep(wait)
            finally:
                self._waiting -= 1
            if generation == self._generation:
                self._admitted += 1
                break
            # the server paused the bucket while we slept; the pause voided our reservation
        waited = self._clock.monotonic() - started
        if waited_once:
            self._waits += 1
            self._waited += waited
        return waited

    # -- learning from the server ---------------------------------------------------------------

    def observe_headers(self, headers: Mapping[str, str]) -> LimitHint:
        """Parse a response's limit headers, apply them (see `observe`) and return the hint."""
        hint = parse_limit_headers(headers, now=self._clock.time())
        self.observe(hint)
        return hint

    def observe(self, hint: LimitHint) -> None:
        """Correct the bucket with what the server said.

        `retry_after`, or ``remaining == 0`` with a `reset_after`, pauses the bucket for that
        long; a `remaining` below the local level drains it to that; a `limit` per `window`
        (of at most 15 minutes) below the configured rate lowers the rate (when `adapt`).
        """
        if hint.limit is not None:
            self._server_limit = hint.limit
        if hint.remaining is not None:
            self._server_remaining = hint.remaining
        if self._adapt and hint.limit and hint.window and hint.window <= _RATE_WINDOW:
            self._lower_rate(hint.limit / hint.window, float(hint.limit))
        if hint.retry_after is not None:
            self.pause(hint.retry_after)
        elif hint.remaining == 0 and hint.reset_after is not None:
            self.pause(hint.reset_after)
        elif hint.remaining is not None:
            self._refill()
            if self._tokens > hint.remaining:
                self._tokens = float(hint.remaining)

    def pause(self, delay: float) -> None:
        """Admit nothing for `delay` seconds, then refill from empty (the server's own pause).

        A delay above `max_wait` is counted in `over_cap`; callers then get `RateLimited` at
        once instead of sleeping.
        """
        if not (delay > 0 and math.isfinite(delay)):
            return  # `Retry-After: 0` means go ahead
        now = self._refill()
        until = now + delay
        if until <= self._as_of and self._tokens <= 0:
            return  # already paused at least this long
        self._server_pauses += 1
        if delay > self.max_wait:
            self._over_cap += 1
            _log.warning(
                "%s asked to pause for %.0f s, above the %.0f s cap",
                self.system,
                delay,
                self.max_wait,
            )
        self._tokens = 0.0
        self._as_of = max(until, self._as_of)
        self._generation += 1

    def statistics(self) -> RateLimiterStatistics:
        """Return the bucket's current level, its waiters and its history."""
        now = self._refill()
        return RateLimiterStatistics(
            system=self.system,
            rate=self._rate,
            burst=self._burst,
            tokens=self._tokens,
            waiting=self._waiting,
            admitted=self._admitted,
            waits=self._waits,
            waited=self._waited,
            rejected=self._rejected,
            paused_for=max(self._as_of - now, 0.0),
            server_pauses=self._server_pauses,
            over_cap=self._over_cap,
            server_limit=self._server_limit,
            server_remaining=self._server_remaining,
        )

    # -- internals ----------------------------------------------------------------------------

    def _check(self, cost: float) -> None:
        if not (0 < cost <= self._burst):
            raise ValueError(f"cost must be in (0, burst={self._burst:g}], not {cost!r}")

    def _refill(self) -> float:
        now = self._clock.monotonic()
        if now > self._as_of:
            self._tokens = min(self._burst, self._tokens + (now - self._as_of) * self._rate)
            self._as_of = now
        return now

    def _ready_at(self, level: float) -> float:
        # the moment the bucket, now at `level` as of `_as_of`, climbs back to zero
        return self._as_of + max(-level, 0.0) / self._rate

    def _lower_rate(self, rate: float, burst: float) -> None:
        if rate < self._rate:
            self._refill()
            _log.info("%s advertises %.3g requests/s; lowering the rate", self.system, rate)
            self._rate = rate
        if burst < self._burst:
            self._burst = max(burst, 1.0)
            self._tokens = min(self._tokens, self._burst)
