"""A period allowance (a daily API quota) shared out between priority classes.

Each class has a `stop_at` fraction: it may spend while the period's total usage stays at or
below that share of the allowance. What lies above a class's share is reserved for the classes
with higher ones, so with ``cash_application = 0.98, posting = 0.95, backfill = 0.6`` a
back-fill stops at 60 % and leaves the rest to postings and cash application, which also keep
a 2 % margin for whatever else uses the account. Usage is counted in one-minute buckets
(at most 1,440 a day) and corrected by the server's own count (``Sforce-Limit-Info``), which
includes other applications' calls.

In a cluster the quota is given a `SharedQuota`: `acquire` then spends against the usage of
every daemon, counted in the store, and keeps the other daemons' part (as of its last spend)
so that `available` and the statistics speak for the cluster.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import msgspec

from mediator.clock import Clock
from mediator.errors import QuotaExhausted
from mediator.policies.headers import LimitHint
from mediator.policies.periods import DailyPeriod, RollingPeriod
from mediator.policies.shared_budget import SharedQuota

__all__ = ["QuotaBudget", "QuotaSnapshot", "QuotaStatistics"]

_BUCKET = 60.0


class QuotaSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a restart needs to go on counting: usage buckets and the server's last word."""

    system: str
    allowance: int
    buckets: tuple[tuple[float, int], ...]
    external: int = 0
    external_seen_at: float | None = None


class QuotaStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Usage of the period: used, left, when it resets, and what each class may still spend."""

    system: str
    period: str
    allowance: int
    used: int
    left: int
    left_by_priority: dict[str, int]
    resets_at: float
    spent: int
    refused: int
    #: each priority class's `stop_at` share of the allowance (the burn-down's marks)
    shares: dict[str, float] = {}


class QuotaBudget:
    """Count calls to `system` against `allowance` per `period`, by priority class.

    `stop_at` maps each priority class to its share (0-1]; `default_priority` is used when a
    call names none. Nothing here waits except `wait_available`.
    """

    def __init__(
        self,
        system: str,
        *,
        allowance: int,
        clock: Clock,
        period: DailyPeriod | RollingPeriod | None = None,
        stop_at: Mapping[str, float] | None = None,
        default_priority: str | None = None,
        shared: SharedQuota | None = None,
    ) -> None:
        shares = dict(stop_at or {"default": 1.0})
        if allowance < 1:
            raise ValueError("allowance must be at least 1")
        if not all(0 < share <= 1 for share in shares.values()):
            raise ValueError("every stop_at share must be in (0, 1]")
        default = default_priority or max(shares, key=shares.__getitem__)
        if default not in shares:
            raise ValueError(f"default priority {default!r} is not a class")
        self.system = system
        self._allowance = allowance
        self._clock = clock
        self._period = period or RollingPeriod()
        self._shares = shares
        self._default = default
        self._buckets: collections.deque[list[float]] = collections.deque()
        # Usage by others (other apps on the same account), inferred from the server's count:
        # it has no timestamps, so it holds until the next reading or the period's end.
        self._external = 0
        self._external_at: float | None = None
        self._spent = 0
        self._refused = 0
        self._shared = shared
        # Other daemons' usage in the period, as the store said at this daemon's last spend.
        self._others = 0
        self._others_at: float | None = None

    # -- spending -----------------------------------------------------------------------------

    def available(self, *, priority: str | None = None) -> int:
        """How many more units `priority` may spend in this period."""
        ceiling = int(self._share(priority) * self._allowance)
        return max(ceiling - self._used(), 0)

    def try_spend(self, cost: int = 1, *, priority: str | None = None) -> bool:
        """Spend `cost` units for `priority` if its share allows; return whether it did."""
        if cost > self.available(priority=priority):
            self._refused += 1
            return False
        self.record(cost)
        return True

    def spend(self, cost: int = 1, *, priority: str | None = None) -> None:
        """Spend `cost` units or raise `QuotaExhausted` with the time this class may go on."""
        if not self.try_spend(cost, priority=priority):
            when = self.resets_at(cost, priority=priority)
            raise QuotaExhausted(self.system, when, priority=priority or self._default)

    async def acquire(self, cost: int = 1, *, priority: str | None = None) -> None:
        """Spend `cost` for `priority` or raise `QuotaExhausted`; in a cluster, for all daemons.

        Without a `SharedQuota` this is `spend`. With one it waits for one store transaction
        (a `JournalError` if the store fails) and spends only if the cluster's usage, plus the
        other applications' the server reported, leaves `cost` within `priority`'s share.
        """
        if self._shared is None:
            self.spend(cost, priority=priority)
            return
        if cost < 1:
            raise ValueError("cost must be at least 1")
        ceiling = int(self._share(priority) * self._allowance)
        now = self._clock.time()
        self._used()  # forget what has left the period
        answer = await self._shared.spend(
            cost, ceiling=ceiling - self._external, since=self._period.start(now), now=now
        )
        self._others = max(answer.used - self._local(now), 0)
        self._others_at = now
        if not answer.spent:
            self._refused += 1
            when = self.resets_at(cost, priority=priority)
            raise QuotaExhausted(self.system, when, priority=priority or self._default)
        self.record(cost)

    def record(self, cost: int = 1) -> None:
        """Count `cost` units already spent, whatever the shares say (a call that went out)."""
        if cost < 1:
            raise ValueError("cost must be at least 1")
        now = self._clock.time()
        slot = now - now % _BUCKET
        if self._buckets and self._buckets[-1][0] == slot:
            self._buckets[-1][1] += cost
        else:
            self._buckets.append([slot, float(cost)])
        self._spent += cost

    def resets_at(self, cost: int = 1, *, priority: str | None = None) -> float:
        """The epoch time at which `priority` may spend `cost` again (now, if it may already)."""
        now = self._clock.time()
        used = self._used()
        ceiling = int(self._share(priority) * self._allowance)
        if used + cost <= ceiling:
            return now
        if isinstance(self._period, DailyPeriod):
            return self._period.end(now)
        local = self._local(now)
        if local + cost <= ceiling:
            # only others' calls block, and we cannot see when they age out: look again in an
            # hour (the next response's header corrects the figure anyway)
            return now + self._period.window / 24
        excess = local + cost - ceiling
        for slot, count in self._buckets:
            excess -= int(count)
            if excess <= 0:
                return slot + _BUCKET + self._period.window
        return now + self._period.window

    async def wait_available(self, cost: int = 1, *, priority: str | None = None) -> float:
        """Sleep (on the clock) until `priority` may spend `cost`, spend it, return the wait."""
        waited = 0.0
        while not self.try_spend(cost, priority=priority):
            delay = max(self.resets_at(cost, priority=priority) - self._clock.time(), 1.0)
            await self._clock.sleep(delay)
            waited += delay
        return waited

    # -- the server's word --------------------------------------------------------------------

    def observe(self, hint: LimitHint) -> None:
        """Take the server's usage count (and allocation) as authoritative from now on."""
        if hint.usage_used is None:
            return
        if hint.usage_max:
            self._allowance = hint.usage_max
        now = self._clock.time()
        self._used()
        self._external = max(hint.usage_used - self._local(now) - self._others, 0)
        self._external_at = now

    def mark_exhausted(self) -> None:
        """The server refused for the allowance (Salesforce 403 ``REQUEST_LIMIT_EXCEEDED``)."""
        now = self._clock.time()
        self._used()
        self._external = max(self._allowance - self._local(now) - self._others, self._external, 0)
        self._external_at = now

    # -- persistence and status ---------------------------------------------------------------

    def snapshot(self) -> QuotaSnapshot:
        """Return the state to persist (the journal stores it; restore it after a restart)."""
        self._used()  # drop expired buckets first
        return QuotaSnapshot(
            system=self.system,
            allowance=self._allowance,
            buckets=tuple((slot, int(count)) for slot, count in self._buckets),
            external=self._external,
            external_seen_at=self._external_at,
        )

    def restore(self, snapshot: QuotaSnapshot) -> None:
        """Continue from a `snapshot`; usage that has expired since is dropped."""
        if snapshot.system != self.system:
            raise ValueError(f"snapshot of {snapshot.system!r}, not {self.system!r}")
        self._allowance = snapshot.allowance
        self._buckets = collections.deque([slot, float(n)] for slot, n in snapshot.buckets)
        self._external = snapshot.external
        self._external_at = snapshot.external_seen_at
        self._used()

    def statistics(self) -> QuotaStatistics:
        """Return the period's usage and what each priority class has left."""
        used = self._used()
        return QuotaStatistics(
            system=self.system,
            period=self._period.kind,
            allowance=self._allowance,
            used=used,
            left=max(self._allowance - used, 0),
            left_by_priority={name: self.available(priority=name) for name in self._shares},
            resets_at=self.resets_at(priority=self._default),
            spent=self._spent,
            refused=self._refused,
            shares=dict(self._shares),
        )

    # -- internals ----------------------------------------------------------------------------

    def _share(self, priority: str | None) -> float:
        name = priority or self._default
        try:
            return self._shares[name]
        except KeyError:
            raise ValueError(f"unknown priority {name!r} for {self.system}") from None

    def _used(self) -> int:
        now = self._clock.time()
        local = self._local(now)
        start = self._period.start(now)
        seen = self._external_at
        if seen is None or seen < start:
            self._external, self._external_at = 0, None
        if self._others_at is None or self._others_at < start:
            self._others, self._others_at = 0, None
        return local + self._others + self._external

    def _local(self, now: float) -> int:
        start = self._period.start(now)
        # a bucket counts until all of it has left the period (conservative by < 1 minute)
        while self._buckets and self._buckets[0][0] + _BUCKET <= start:
            self._buckets.popleft()
        return sum(int(count) for _, count in self._buckets)
