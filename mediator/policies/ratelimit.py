"""A token bucket shared by every caller of one API, corrected by what the server says.

Callers that cannot be admitted at once reserve their tokens (the bucket goes into debt) and
sleep until their turn, so waiters are served in arrival order and wake once, without polling.
The server's word only ever slows the bucket down: `Retry-After` or ``remaining=0`` pauses it,
a lower ``remaining`` drains it, and a lower advertised limit lowers the rate.

Background classes (a reconciliation reading flat out) never reserve: reserved tokens are a
debt a live caller arriving later would wait behind. A background call is admitted only when
no live caller waits and the shared bucket is full, taking tokens that are there now, and
within its class's `share` of the rate (a bucket of its own at ``rate * share``, drawn on
too). So a background class uses only what live callers leave over, at most its share, and a
live caller waits at most one background call's cost (one token interval) longer than alone.
Background waiters queue per class in arrival order, and one timer wakes the head of each
class when it could go.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
from collections.abc import Mapping

import msgspec

from mediator.clock import Clock, Timer
from mediator.errors import RateLimited
from mediator.policies.headers import LimitHint, parse_limit_headers
from mediator.policies.shared_budget import SharedBucket, SharedBucketStatistics

__all__ = ["DEFAULT_CLASS", "RateLimiter", "RateLimiterStatistics"]

#: The statistics' name for calls that name no priority class.
DEFAULT_CLASS = "default"

_log = logging.getLogger("mediator.policies")

# A policy over a longer window is a quota (a daily allowance), not a rate: spreading it evenly
# would crawl. Harvest's slowest documented window is 15 minutes (its Reports API).
_RATE_WINDOW = 900.0
# "The bucket is full" and "the class has its tokens", up to the rounding of a refill computed
# for exactly the moment they would be (otherwise a timer could fire a hair early forever).
_EPSILON = 1e-9
# The least delay of the background timer, so that it can never spin at one instant.
_MIN_DELAY = 1e-3


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
    shares: dict[str, float]
    admitted_by_class: dict[str, int]
    waiting_by_class: dict[str, int]
    #: in a cluster, this daemon's use of the bucket every daemon shares
    shared: SharedBucketStatistics | None = None


class _Share:
    """A background class's own pacing: a bucket at ``rate * share`` it draws on as well."""

    __slots__ = ("as_of", "share", "tokens")

    def __init__(self, share: float) -> None:
        self.share = share
        self.tokens = math.inf  # capped to the class's burst at the first refill
        self.as_of = -math.inf


class _Waiter:
    __slots__ = ("cost", "future", "name", "share")

    def __init__(self, name: str, share: _Share, cost: float, future: asyncio.Future[bool]):
        self.name = name
        self.share = share
        self.cost = cost
        self.future = future


class RateLimiter:
    """Admit calls to `system` at `rate` per second with bursts of up to `burst` cost units.

    `max_wait` caps every wait: `acquire` raises `RateLimited` rather than sleep longer, and a
    server-suggested wait above it is counted in `over_cap` (the caller opens its breaker), so a
    10-hour `Retry-After` is reported instead of silently stalling a flow. With `adapt`, an
    advertised limit per window lower than the configured rate lowers the rate.

    `shares` names the background priority classes and the share (0, 1] of the rate each may
    use when live callers leave it over; a class may burst ``max(1, burst * share)``. Every
    other priority (None, or a class the quota of the same target knows, like ``posting``) is
    live: unlike `QuotaBudget`, whose classes list every caller and which refuses a name it
    does not know, a limiter lists only what runs below the live flows, and one priority name
    travels through every policy of a call.

    `shared`, in a cluster, is the bucket all daemons draw from (see the module docstring):
    `acquire` then also waits for its tokens, within the same `max_wait`, and the synchronous
    `try_acquire`/`acquire_nowait` admit only on tokens this daemon already holds from it.
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
        shares: Mapping[str, float] | None = None,
        shared: SharedBucket | None = None,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number, not {rate!r}")
        if not (burst >= 1 and math.isfinite(burst)):
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if max_wait < 0:
            raise ValueError("max_wait must not be negative")
        for name, share in (shares or {}).items():
            if not name:
                raise ValueError("a priority class name must not be empty")
            if not 0 < share <= 1:
                raise ValueError(f"share of {name!r} must be in (0, 1], not {share!r}")
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
        self._shares = {name: _Share(share) for name, share in (shares or {}).items()}
        self._by_class: collections.Counter[str] = collections.Counter()
        self._background: collections.deque[_Waiter] = collections.deque()
        self._timer: Timer | None = None
        self._shared = shared

    @property
    def rate(self) -> float:
        """Tokens added per second (may have been lowered by the server)."""
        return self._rate

    # -- admission ----------------------------------------------------------------------------

    def try_acquire(self, cost: float = 1.0, *, priority: str | None = None) -> float:
        """Take `cost` tokens if they are there now and return 0.0; else take nothing and return
        the seconds until they would be (counting the waiters ahead).

        For a background `priority` the seconds are a lower bound: live callers go first.
        """
        share = self._class_of(priority)
        self._check(cost, share)
        if self._shared is not None and not self._shared.take_held(cost):
            return cost / self._rate  # the cluster's tokens need a round trip: `acquire`
        wait = self._try_local(cost, priority)
        if wait > 0 and self._shared is not None:
            self._shared.give_back(cost)
        return wait

    def _try_local(self, cost: float, priority: str | None) -> float:
        share = self._class_of(priority)
        now = self._refill()
        if share is not None:
            return self._try_background(share, priority or DEFAULT_CLASS, cost, now)
        if now >= self._as_of and self._tokens >= cost:
            self._tokens -= cost
            self._count(priority)
            return 0.0
        return self._ready_at(self._tokens - cost) - now

    def acquire_nowait(self, cost: float = 1.0, *, priority: str | None = None) -> None:
        """Take `cost` tokens now or raise `RateLimited` with the wait that would be needed."""
        wait = self.try_acquire(cost, priority=priority)
        if wait > 0:
            self._rejected += 1
            raise RateLimited(self.system, wait)

    async def acquire(self, cost: float = 1.0, *, priority: str | None = None) -> float:
        """Wait until `cost` tokens are available, take them and return the seconds waited.

        Raises `RateLimited` at once, taking nothing, if the wait would exceed `max_wait` (with
        a shared bucket, one that refuses after the local admission leaves its tokens spent).
        Live waiters are admitted in arrival order. If cancelled while waiting, the reserved
        tokens are not given back: returning them could admit a newcomer into a slot already
        promised to a later waiter. A background `priority` reserves nothing: it waits until
        no live caller waits and its tokens are there (see the module docstring), for at most
        `max_wait`, then raises `RateLimited`.
        """
        share = self._class_of(priority)
        self._check(cost, share)
        if share is not None:
            waited = await self._acquire_background(share, priority or DEFAULT_CLASS, cost)
            return waited + await self._take_shared(cost, waited)
        waited = await self._acquire_local(cost, priority)
        return waited + await self._take_shared(cost, waited)

    async def _take_shared(self, cost: float, waited: float) -> float:
        # after the local admission (which keeps the arrival order and the classes), the
        # cluster's bucket; a refusal leaves the local tokens spent, as a cancelled wait does
        if self._shared is None:
            return 0.0
        try:
            shared_wait = await self._shared.take(
                cost, rate=self._rate, burst=self._burst, max_wait=self.max_wait - waited
            )
        except RateLimited:
            self._rejected += 1
            raise
        if shared_wait > 0:
            self._waits += 1
            self._waited += shared_wait
        return shared_wait

    async def _acquire_local(self, cost: float, priority: str | None) -> float:
        started = self._clock.monotonic()
        waited_once = False
        while True:
            wait = self._try_local(cost, priority)
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
                self._count(priority)
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
            if self._shared is not None:  # the server counts every daemon's calls
                self._shared.drain_soon(hint.remaining, rate=self._rate, burst=self._burst)

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
        if self._shared is not None:  # every daemon pauses, not only the one told
            self._shared.pause_soon(delay)

    def statistics(self) -> RateLimiterStatistics:
        """Return the bucket's current level, its waiters and its history."""
        now = self._refill()
        return RateLimiterStatistics(
            system=self.system,
            rate=self._rate,
            burst=self._burst,
            tokens=self._tokens,
            waiting=self._waiting + sum(1 for w in self._background if not w.future.done()),
            admitted=self._admitted,
            waits=self._waits,
            waited=self._waited,
            rejected=self._rejected,
            paused_for=max(self._as_of - now, 0.0),
            server_pauses=self._server_pauses,
            over_cap=self._over_cap,
            server_limit=self._server_limit,
            server_remaining=self._server_remaining,
            shares={name: share.share for name, share in self._shares.items()},
            admitted_by_class={
                DEFAULT_CLASS: 0,
                **dict.fromkeys(self._shares, 0),
                **self._by_class,
            },
            waiting_by_class={
                DEFAULT_CLASS: self._waiting,
                **{
                    name: sum(1 for w in self._background if w.name == name and not w.future.done())
                    for name in self._shares
                },
            },
            shared=self._shared.statistics() if self._shared is not None else None,
        )

    # -- internals ----------------------------------------------------------------------------

    def _check(self, cost: float, share: _Share | None = None) -> None:
        burst = self._burst if share is None else self._class_burst(share)
        if not (0 < cost <= burst):
            raise ValueError(f"cost must be in (0, burst={burst:g}], not {cost!r}")

    def _class_of(self, priority: str | None) -> _Share | None:
        return self._shares.get(priority) if priority is not None else None

    def _count(self, priority: str | None) -> None:
        self._admitted += 1
        self._by_class[priority or DEFAULT_CLASS] += 1

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
            now = self._refill()
            for share in self._shares.values():
                self._refill_class(share, now)  # what was earned at the old rate
            _log.info("%s advertises %.3g requests/s; lowering the rate", self.system, rate)
            self._rate = rate
        if burst < self._burst:
            self._burst = max(burst, 1.0)
            self._tokens = min(self._tokens, self._burst)

    # -- background classes -------------------------------------------------------------------

    def _class_burst(self, share: _Share) -> float:
        return max(1.0, self._burst * share.share)

    def _refill_class(self, share: _Share, now: float) -> None:
        if now > share.as_of:
            earned = (now - share.as_of) * self._rate * share.share
            share.tokens = min(self._class_burst(share), share.tokens + earned)
            share.as_of = now
        share.tokens = min(share.tokens, self._class_burst(share))

    def _background_ready_at(self, share: _Share, cost: float, now: float) -> float:
        # when the shared bucket is full and the class has `cost`, if no live caller comes first
        self._refill_class(share, now)
        full = self._as_of + max(self._burst - self._tokens, 0.0) / self._rate
        own = share.as_of + max(cost - share.tokens, 0.0) / (self._rate * share.share)
        return max(full, own, now)

    def _background_may(self, share: _Share, cost: float, now: float) -> bool:
        self._refill_class(share, now)
        return (
            self._waiting == 0
            and now >= self._as_of
            and self._tokens >= self._burst - _EPSILON
            and share.tokens >= cost - _EPSILON
        )

    def _take_background(self, share: _Share, name: str, cost: float) -> None:
        self._tokens -= cost
        share.tokens -= cost
        self._count(name)

    def _try_background(self, share: _Share, name: str, cost: float, now: float) -> float:
        queued = any(w.name == name and not w.future.done() for w in self._background)
        if not queued and self._background_may(share, cost, now):
            self._take_background(share, name, cost)
            return 0.0
        wait = self._background_ready_at(share, cost, now) - now
        # behind its own class's queue: at least one more of the class's token intervals
        return max(wait, cost / (self._rate * share.share)) if queued else max(wait, _EPSILON)

    async def _acquire_background(self, share: _Share, name: str, cost: float) -> float:
        started = self._clock.monotonic()
        wait = self._try_local(cost, name)
        if wait == 0.0:
            return 0.0
        if wait > self.max_wait:
            self._rejected += 1
            raise RateLimited(self.system, wait)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(name, share, cost, future)
        self._background.append(waiter)

        def expire() -> None:
            if not future.done():
                future.set_result(False)

        expiry = self._clock.call_later(self.max_wait, expire)
        self._schedule()
        try:
            # tokens handed over in the instant of a cancellation stay spent, as a live
            # caller's reservation does
            granted = await future
        finally:
            expiry.cancel()
            if waiter in self._background:
                self._background.remove(waiter)
            self._schedule()
        waited = self._clock.monotonic() - started
        self._waits += 1
        self._waited += waited
        if not granted:
            self._rejected += 1
            now = self._refill()
            raise RateLimited(self.system, self._background_ready_at(share, cost, now) - now)
        return waited

    def _schedule(self) -> None:
        # one timer, at the moment the first class head could go (a lower bound: live callers
        # and server pauses only ever push it later, and the timer then looks again)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        heads: dict[str, _Waiter] = {}
        for waiter in self._background:
            if not waiter.future.done():
                heads.setdefault(waiter.name, waiter)
        if not heads:
            return
        now = self._refill()
        at = min(self._background_ready_at(w.share, w.cost, now) for w in heads.values())
        self._timer = self._clock.call_later(max(at - now, _MIN_DELAY), self._pump)

    def _pump(self) -> None:
        self._timer = None
        now = self._refill()
        blocked: set[str] = set()
        for waiter in list(self._background):
            if waiter.future.done() or waiter.name in blocked:
                continue
            if self._background_may(waiter.share, waiter.cost, now):
                self._take_background(waiter.share, waiter.name, waiter.cost)
                self._background.remove(waiter)
                waiter.future.set_result(True)
            else:
                blocked.add(waiter.name)  # its class goes in arrival order
        self._schedule()
