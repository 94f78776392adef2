"""When to try a failed call again: exponential backoff with full jitter, counted end to end.

Full jitter (a uniform delay between zero and the exponential ceiling) spreads the retries of
many callers that failed together, which is what a rate-limited API needs (AWS Architecture
Blog, "Exponential Backoff And Jitter"). The attempt number is an input, not state: one layer
owns retries and passes how many attempts the work has had in total, across restarts.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable

import msgspec

from mediator.policies.classify import Classification, Verdict

__all__ = ["RetryDecision", "RetrySchedule"]


class RetryDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What to do after attempt `attempt`: the verdict, the delay before the next, and why.

    `deferred` means the delay (the server's own wait) exceeds what the schedule holds work in
    memory for: park it durably and show it, rather than sleep.
    """

    verdict: Verdict
    delay: float
    attempt: int
    reason: str
    deferred: bool = False


class RetrySchedule:
    """Exponential backoff with full jitter, bounded by attempts and/or a total deadline.

    The ceiling of retry n is ``min(max_delay, initial * multiplier ** (n - 1))`` and the delay is
    uniform in ``[0, ceiling]``; a server's `retry_after` is a floor. `random` returns floats in
    [0, 1) and is injectable for determinism.
    """

    def __init__(
        self,
        *,
        initial: float = 0.5,
        multiplier: float = 2.0,
        max_delay: float = 30.0,
        max_attempts: int | None = 5,
        deadline: float | None = None,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not (initial > 0 and multiplier >= 1 and max_delay >= initial):
            raise ValueError("need initial > 0, multiplier >= 1 and max_delay >= initial")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if deadline is not None and deadline <= 0:
            raise ValueError("deadline must be positive")
        self.initial = initial
        self.multiplier = multiplier
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.deadline = deadline
        self._random = random

    def ceiling(self, attempt: int) -> float:
        """The largest backoff after attempt `attempt` (1 is the first call)."""
        if attempt < 1:
            raise ValueError("attempts count from 1")
        if self.multiplier == 1.0:
            return self.initial
        # compare logarithms first: the power overflows a float for attempt ~ 1000
        exponent = attempt - 1
        if exponent * math.log(self.multiplier) >= math.log(self.max_delay / self.initial):
            return self.max_delay
        return min(self.max_delay, self.initial * self.multiplier**exponent)

    def backoff(self, attempt: int) -> float:
        """A jittered delay in ``[0, ceiling(attempt)]``."""
        return self._random() * self.ceiling(attempt)

    def decide(
        self, outcome: Classification, *, attempt: int, elapsed: float = 0.0
    ) -> RetryDecision:
        """Decide after attempt `attempt` (counted from 1, end to end) failed with `outcome`.

        `elapsed` is the time since the first attempt, checked against `deadline`. A retryable
        outcome becomes dead when attempts or the deadline run out; the reason says which.
        """
        if outcome.verdict is not Verdict.RETRY:
            return RetryDecision(
                verdict=outcome.verdict, delay=0.0, attempt=attempt, reason=outcome.reason
            )
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return RetryDecision(
                verdict=Verdict.DEAD,
                delay=0.0,
                attempt=attempt,
                reason=f"gave up after {attempt} attempts: {outcome.reason}",
            )
        delay = self.backoff(attempt)
        server = outcome.retry_after
        if server is not None and server > delay:
            delay = server
        if self.deadline is not None and elapsed + delay > self.deadline:
            return RetryDecision(
                verdict=Verdict.DEAD,
                delay=0.0,
                attempt=attempt,
                reason=f"deadline of {self.deadline:g} s would pass: {outcome.reason}",
            )
        deferred = delay > self.max_delay
        why = f"retry {attempt + 1} in {delay:.3g} s: {outcome.reason}"
        if deferred:
            why += f" (server asked for {delay:.0f} s, beyond the {self.max_delay:g} s cap)"
        return RetryDecision(
            verdict=Verdict.RETRY, delay=delay, attempt=attempt, reason=why, deferred=deferred
        )
