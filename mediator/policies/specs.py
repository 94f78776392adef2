"""The named policies a configuration declares, one Struct per kind, validated by msgspec.

Field constraints live in the types (msgspec reports the field that breaks them); rules that
span fields are checked in `__post_init__`, whose `ValueError` msgspec reports the same way.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from mediator.policies.window import PostingWindow

__all__ = [
    "BreakerSpec",
    "BulkheadSpec",
    "QuotaSpec",
    "RateLimitSpec",
    "RetrySpec",
    "TargetSpec",
    "WindowSpec",
]

Positive = Annotated[float, msgspec.Meta(gt=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Share = Annotated[float, msgspec.Meta(gt=0, le=1)]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RateLimitSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A token bucket: `rate` tokens per second, `burst` at most, waits capped at `max_wait`.

    A bucket admits at most ``burst + rate * w`` in any `w` seconds: to respect "L requests per
    W seconds", choose ``burst + rate * W <= L``. `shares` names the background priority
    classes (``reconciliation = 0.5``) and the share (0, 1] of the rate each may use of what
    live callers leave over (checked by the config loader, which names the class).
    """

    rate: Positive
    burst: Annotated[float, msgspec.Meta(ge=1)]
    max_wait: NonNegative = 60.0
    adapt: bool = True
    shares: dict[str, float] = {}


class QuotaSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An `allowance` per `period` (``rolling`` over `window` s, or ``daily`` at `reset_at` in
    `zone`), shared out by the `stop_at` fraction (0, 1] of each priority class (checked by
    the config loader, which names the offending class)."""

    allowance: Count
    period: Literal["daily", "rolling"] = "rolling"
    window: Positive = 86_400.0
    reset_at: str = "00:00"
    zone: str = "UTC"
    stop_at: dict[str, float] = msgspec.field(default_factory=lambda: {"default": 1.0})
    default_priority: str | None = None


class BreakerSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When a circuit opens (consecutive failures or a failure rate), for how long, what probes."""

    consecutive_failures: Count = 5
    failure_rate: Share = 0.5
    window: Positive = 60.0
    min_calls: Count = 10
    open_for: Positive = 5.0
    max_open_for: Positive = 300.0
    growth: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    half_open_probes: Count = 1

    def __post_init__(self) -> None:
        if self.open_for > self.max_open_for:
            raise ValueError("open_for must not exceed max_open_for")


class RetrySpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Backoff with full jitter, its limits, and error codes added to the classifier's tables."""

    initial: Positive = 0.5
    multiplier: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    max_delay: Positive = 30.0
    max_attempts: Count | None = 5
    deadline: Positive | None = None
    retry_codes: frozenset[str] = frozenset()
    dead_codes: frozenset[str] = frozenset()
    system_failure_codes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.max_delay < self.initial:
            raise ValueError("max_delay must be at least initial")


class BulkheadSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """At most `limit` calls in flight; callers wait up to `max_wait` s, at most `max_waiting`.

    `shares` names the background priority classes and their share (0, 1] of the slots: a
    class holds at most ``max(1, floor(limit * share))``.
    """

    limit: Count
    max_wait: NonNegative = 30.0
    max_waiting: Annotated[int, msgspec.Meta(ge=0)] | None = None
    shares: dict[str, float] = {}


class WindowSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A finance calendar: days, hours (``HH:MM``, `closes` may be ``24:00``) and blackouts."""

    zone: str = "UTC"
    weekdays: tuple[Weekday, ...] = WEEKDAYS
    opens: str = "00:00"
    closes: str = "24:00"
    blackouts: tuple[tuple[str, str], ...] = ()

    def build(self, name: str) -> PostingWindow:
        """The `PostingWindow` this spec describes; raises `ValueError` if it makes no sense."""
        return PostingWindow(
            name,
            zone=self.zone,
            weekdays=[WEEKDAYS.index(day) for day in self.weekdays],
            opens=self.opens,
            closes=self.closes,
            blackouts=self.blackouts,
        )


class TargetSpec(_Spec, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Binds named policies to a `system`, or to its endpoints matching the glob `endpoint`."""

    system: str
    endpoint: str | None = None
    ratelimit: str | None = None
    quota: str | None = None
    breaker: str | None = None
    retry: str | None = None
    timeout: str | None = None
    bulkhead: str | None = None
    window: str | None = None
    approval: str | None = None
