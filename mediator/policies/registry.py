"""Live policies: one limiter, quota, breaker and bulkhead per named policy and system, shared.

A `PolicyRegistry` belongs to the `Mediator` (no global registry). `resolve(system, endpoint)`
returns the `PolicySet` for a call; every endpoint bound to the same named policy of a system
shares one instance, so all callers of an API draw from one bucket.

A connector call then reads::

    policies = registry.resolve("salesforce", "/services/data/v61.0/sobjects/Account")
    await policies.admit(priority="posting")      # CircuitOpen, QuotaExhausted, RateLimited
    async with policies.slot(priority="posting"):  # the bulkhead (BulkheadFull)
        response = await send(timeout=policies.timeouts)
    outcome = policies.observe(status=response.status, headers=response.headers, code=code)
    decision = policies.decide(outcome, attempt=attempt, elapsed=elapsed)
"""

from __future__ import annotations

import contextlib
import random as _random
from collections.abc import AsyncIterator, Callable, Mapping

import msgspec

from mediator.clock import Clock
from mediator.policies.breaker import BreakerStatistics, CircuitBreaker
from mediator.policies.bulkhead import Bulkhead, BulkheadStatistics
from mediator.policies.classify import Classification, Classifier, ErrorCodes, Verdict
from mediator.policies.config import PolicyConfig
from mediator.policies.headers import LimitHint, parse_limit_headers
from mediator.policies.periods import DailyPeriod, RollingPeriod
from mediator.policies.quota import QuotaBudget, QuotaSnapshot, QuotaStatistics
from mediator.policies.ratelimit import RateLimiter, RateLimiterStatistics
from mediator.policies.retry import RetryDecision, RetrySchedule
from mediator.policies.shared_budget import SharedBudgets
from mediator.policies.timeouts import Timeouts
from mediator.policies.window import ApprovalRules, PostingWindow

__all__ = ["PolicyRegistry", "PolicySet", "PolicyStatistics"]


class PolicyStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Every live stateful policy's statistics, for the status page."""

    limiters: tuple[RateLimiterStatistics, ...]
    quotas: tuple[QuotaStatistics, ...]
    breakers: tuple[BreakerStatistics, ...]
    bulkheads: tuple[BulkheadStatistics, ...]


class PolicySet:
    """The policies that apply to one endpoint of one system; absent ones are `None`."""

    def __init__(
        self,
        system: str,
        endpoint: str,
        *,
        clock: Clock,
        retry: RetrySchedule,
        classifier: Classifier,
        timeouts: Timeouts,
        limiter: RateLimiter | None = None,
        quota: QuotaBudget | None = None,
        breaker: CircuitBreaker | None = None,
        bulkhead: Bulkhead | None = None,
        window: PostingWindow | None = None,
        approvals: ApprovalRules | None = None,
    ) -> None:
        self.system = system
        self.endpoint = endpoint
        self.retry = retry
        self.classifier = classifier
        self.timeouts = timeouts
        self.limiter = limiter
        self.quota = quota
        self.breaker = breaker
        self.bulkhead = bulkhead
        self.window = window
        self.approvals = approvals
        self._clock = clock

    async def admit(self, *, cost: int = 1, priority: str | None = None) -> float:
        """Pass the breaker, the quota and the rate limit for one call; return the seconds waited.

        May wait for rate tokens (up to the limiter's `max_wait`). Raises `CircuitOpen`,
        `QuotaExhausted` or `RateLimited`; quota is spent before the rate wait (a refused wait
        leaves it spent: counting high is the safe side of a daily allowance). `priority` is
        the call's class in every policy: the quota's share, and a background class of the
        limiter (see `RateLimiter`) when its `shares` name it.
        """
        if self.breaker is not None:
            self.breaker.allow()
        try:
            if self.quota is not None:
                await self.quota.acquire(cost, priority=priority)
            if self.limiter is None:
                return 0.0
            return await self.limiter.acquire(cost, priority=priority)
        except BaseException:
            if self.breaker is not None:
                self.breaker.release()  # the call never went out: free its probe slot
            raise

    @contextlib.asynccontextmanager
    async def slot(self, priority: str | None = None) -> AsyncIterator[None]:
        """Hold a bulkhead slot for the call (a no-op without one); may raise `BulkheadFull`.

        A background `priority` (one the bulkhead's `shares` name) holds one of its class's.
        """
        if self.bulkhead is None:
            yield
            return
        async with self.bulkhead.slot(priority):
            yield

    def observe(
        self,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        error: BaseException | None = None,
        code: str | None = None,
    ) -> Classification:
        """Feed a call's outcome to every policy and return its classification.

        Headers correct the limiter and the quota; the classification (by exception, body
        `code` and status) goes to the breaker. A server wait above the limiter's cap opens the
        breaker for that long, so the stall shows as an open circuit rather than a silent sleep.
        """
        hint = parse_limit_headers(headers, now=self._clock.time()) if headers else LimitHint()
        if self.limiter is not None:
            self.limiter.observe(hint)
        if self.quota is not None:
            self.quota.observe(hint)
        outcome = self.classifier.classify(
            error=error,
            status=status,
            code=code,
            retry_after=hint.retry_after,
            should_retry=hint.should_retry,
        )
        if outcome.exhausted and self.quota is not None and not _allowance_left(hint):
            self.quota.mark_exhausted()
        if self.breaker is not None:
            self.breaker.record(outcome)
            wait = outcome.retry_after
            cap = self.limiter.max_wait if self.limiter is not None else self.retry.max_delay
            if wait is not None and wait > cap and outcome.verdict is Verdict.RETRY:
                self.breaker.force_open(wait)
        return outcome

    def decide(
        self, outcome: Classification, *, attempt: int, elapsed: float = 0.0
    ) -> RetryDecision:
        """Retry, dead or success after attempt `attempt` (end to end); see `RetrySchedule`."""
        return self.retry.decide(outcome, attempt=attempt, elapsed=elapsed)

    def check_posting(self, *, kind: str, amount: int, currency: str) -> str | None:
        """Raise `PostingWindowClosed` outside the window; return why approval is needed, if so."""
        if self.window is not None:
            self.window.check(self._clock.time())
        if self.approvals is None:
            return None
        return self.approvals.hold_reason(kind=kind, amount=amount, currency=currency)


def _allowance_left(hint: LimitHint) -> bool:
    # Salesforce answers 403 REQUEST_LIMIT_EXCEEDED for its concurrent-request limit too; when
    # the same answer's Sforce-Limit-Info shows the daily allowance unspent, the refusal was not
    # for the allowance, and the quota keeps the server's count.
    used, allowed = hint.usage_used, hint.usage_max
    return used is not None and allowed is not None and used < allowed


class PolicyRegistry:
    """Build and share the live policies of a `PolicyConfig`; owned by the `Mediator`.

    `random` feeds the retry jitter (inject a seeded one in tests). `shared`, when several
    daemons share a PostgreSQL journal, makes every rate limit and quota one budget for the
    cluster (rows ``rate/<policy>@<system>`` and ``quota/<policy>@<system>`` of its store);
    breakers and bulkheads stay each daemon's own (they guard this process's calls).
    """

    def __init__(
        self,
        config: PolicyConfig,
        *,
        clock: Clock,
        random: Callable[[], float] = _random.random,
        shared: SharedBudgets | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._shared = shared
        self._random = random
        self._limiters: dict[tuple[str, str], RateLimiter] = {}
        self._quotas: dict[tuple[str, str], QuotaBudget] = {}
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._bulkheads: dict[tuple[str, str], Bulkhead] = {}
        self._sets: dict[tuple[str, str], PolicySet] = {}
        self._codes: dict[str, ErrorCodes] = {}

    def register_error_codes(self, system: str, codes: ErrorCodes) -> None:
        """Say what `system`'s own error codes mean (its connector does, when it is built).

        Policies of that system built before this call keep the classification they had, so
        a connector registers before its first call.
        """
        self._codes[system] = codes

    def classifier(self, system: str) -> Classifier:
        """A classifier that knows `system`'s error codes (for outcomes no policy set saw)."""
        return Classifier(codes=self._codes.get(system))

    def resolve(self, system: str, endpoint: str = "") -> PolicySet:
        """The live policies for `endpoint` of `system` (the same objects on every call)."""
        key = (system, endpoint)
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = self._build(system, endpoint)
        return found

    def quota_snapshots(self) -> dict[str, QuotaSnapshot]:
        """Snapshots of every live quota, keyed ``<policy>@<system>``, for the journal."""
        return {f"{name}@{system}": q.snapshot() for (name, system), q in self._quotas.items()}

    def restore_quotas(self, snapshots: Mapping[str, QuotaSnapshot]) -> None:
        """Restore quotas from `quota_snapshots` output; unknown keys are ignored."""
        for key, snapshot in snapshots.items():
            name, _, system = key.partition("@")
            if name in self.config.quotas:
                self._quota(name, system).restore(snapshot)

    def statistics(self) -> PolicyStatistics:
        """Statistics of every live limiter, quota, breaker and bulkhead."""
        return PolicyStatistics(
            limiters=tuple(x.statistics() for x in self._limiters.values()),
            quotas=tuple(x.statistics() for x in self._quotas.values()),
            breakers=tuple(x.statistics() for x in self._breakers.values()),
            bulkheads=tuple(x.statistics() for x in self._bulkheads.values()),
        )

    # -- building -----------------------------------------------------------------------------

    def _build(self, system: str, endpoint: str) -> PolicySet:
        bound = self.config.resolve(system, endpoint)
        cfg = self.config
        retry_spec = cfg.retries[bound.retry] if bound.retry else None
        retry = RetrySchedule(random=self._random)
        codes = self._codes.get(system)
        classifier = Classifier(codes=codes)
        if retry_spec is not None:
            retry = RetrySchedule(
                initial=retry_spec.initial,
                multiplier=retry_spec.multiplier,
                max_delay=retry_spec.max_delay,
                max_attempts=retry_spec.max_attempts,
                deadline=retry_spec.deadline,
                random=self._random,
            )
            classifier = Classifier(
                codes=codes,
                retry_codes=retry_spec.retry_codes,
                dead_codes=retry_spec.dead_codes,
                system_failure_codes=retry_spec.system_failure_codes,
            )
        return PolicySet(
            system,
            endpoint,
            clock=self._clock,
            retry=retry,
            classifier=classifier,
            timeouts=cfg.timeouts[bound.timeout] if bound.timeout else Timeouts(),
            limiter=self._limiter(bound.ratelimit, system) if bound.ratelimit else None,
            quota=self._quota(bound.quota, system) if bound.quota else None,
            breaker=self._breaker(bound.breaker, system) if bound.breaker else None,
            bulkhead=self._bulkhead(bound.bulkhead, system) if bound.bulkhead else None,
            window=cfg.windows[bound.window].build(bound.window) if bound.window else None,
            approvals=ApprovalRules(cfg.approvals[bound.approval]) if bound.approval else None,
        )

    def _limiter(self, name: str, system: str) -> RateLimiter:
        if (name, system) not in self._limiters:
            spec = self.config.ratelimits[name]
            self._limiters[name, system] = RateLimiter(
                system,
                rate=spec.rate,
                burst=spec.burst,
                clock=self._clock,
                max_wait=spec.max_wait,
                adapt=spec.adapt,
                shares=spec.shares,
                shared=(
                    self._shared.bucket(f"rate/{name}@{system}", system=system)
                    if self._shared is not None
                    else None
                ),
            )
        return self._limiters[name, system]

    def _quota(self, name: str, system: str) -> QuotaBudget:
        if (name, system) not in self._quotas:
            spec = self.config.quotas[name]
            period: DailyPeriod | RollingPeriod = (
                DailyPeriod(reset_at=spec.reset_at, zone=spec.zone)
                if spec.period == "daily"
                else RollingPeriod(window=spec.window)
            )
            self._quotas[name, system] = QuotaBudget(
                system,
                allowance=spec.allowance,
                clock=self._clock,
                period=period,
                stop_at=spec.stop_at,
                default_priority=spec.default_priority,
                shared=(
                    self._shared.quota(f"quota/{name}@{system}")
                    if self._shared is not None
                    else None
                ),
            )
        return self._quotas[name, system]

    def _breaker(self, name: str, system: str) -> CircuitBreaker:
        if (name, system) not in self._breakers:
            spec = self.config.breakers[name]
            self._breakers[name, system] = CircuitBreaker(
                system,
                clock=self._clock,
                consecutive_failures=spec.consecutive_failures,
                failure_rate=spec.failure_rate,
                window=spec.window,
                min_calls=spec.min_calls,
                open_for=spec.open_for,
                max_open_for=spec.max_open_for,
                growth=spec.growth,
                half_open_probes=spec.half_open_probes,
            )
        return self._breakers[name, system]

    def _bulkhead(self, name: str, system: str) -> Bulkhead:
        if (name, system) not in self._bulkheads:
            spec = self.config.bulkheads[name]
            self._bulkheads[name, system] = Bulkhead(
                system,
                limit=spec.limit,
                clock=self._clock,
                max_wait=spec.max_wait,
                max_waiting=spec.max_waiting,
                shares=spec.shares,
            )
        return self._bulkheads[name, system]
