"""What a failed delivery becomes: a retry at some time, or a dead letter with a readable reason.

The dispatcher takes any `Decide` callable; `default_decider` builds one from the policies'
classifier and retry schedule (exponential backoff with full jitter), so a per-system policy
from the configuration plugs in the same way.
"""

from __future__ import annotations

from typing import Protocol

from mediator.errors import ActorError
from mediator.policies.classify import Classification, Classifier, Verdict
from mediator.policies.retry import RetryDecision, RetrySchedule

__all__ = ["Decide", "default_decider"]


class Decide(Protocol):
    """Turn a failed delivery into a retry (with its delay) or a dead letter (with a reason)."""

    def __call__(self, error: BaseException, attempt: int, elapsed: float) -> RetryDecision:
        """Decide after delivery attempt `attempt` (counted from 1, across restarts) failed,
        `elapsed` seconds after this run's first attempt (a restart starts that clock again)."""
        ...


def default_decider(
    *, classifier: Classifier | None = None, schedule: RetrySchedule | None = None
) -> Decide:
    """Return a `Decide` built from a classifier and a retry schedule (defaults of both).

    Policy refusals, timeouts and an unavailable system are retried with backoff until the
    schedule's attempts or its deadline run out; codec errors, 4xx rejections and unexpected
    exceptions are dead at once. An actor that stopped or timed out while being asked is
    retried: that is the runtime's trouble, not the message's.
    """
    classify = classifier or Classifier()
    backoff = schedule or RetrySchedule()

    def decide(error: BaseException, attempt: int, elapsed: float) -> RetryDecision:
        if isinstance(error, ActorError):
            outcome = Classification(verdict=Verdict.RETRY, reason=str(error))
        else:
            outcome = classify.classify(error=error)
        return backoff.decide(outcome, attempt=attempt, elapsed=elapsed)

    decide.__doc__ = "Classify the failure, then apply the retry schedule to it."
    return decide
