"""The verdict on a call's outcome: success, retry or dead, and why.

Below every other module (it imports nothing of mediator's), so that an error can carry how
its answer was classified (`RemoteRejected.outcome`) without `errors` importing `policies`,
which classifies; `mediator.policies` re-exports both names.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = ["Classification", "Verdict"]


class Verdict(enum.StrEnum):
    """What to do with a call's outcome."""

    SUCCESS = "success"
    RETRY = "retry"
    DEAD = "dead"


class Classification(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict on one outcome, why, and what it says about the system.

    `system_failure` counts against the breaker; `retry_after` is the server's own wait, if it
    gave one; `exhausted` means the period's allowance is spent (quota, not rate).
    """

    verdict: Verdict
    reason: str
    system_failure: bool = False
    retry_after: float | None = None
    exhausted: bool = False
