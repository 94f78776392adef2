"""The verdict on a call's outcome: success, retry or dead, and why.

Below every other module (it imports nothing of mediator's), so that an error can carry how
its answer was classified (`RemoteRejected.outcome`) without `errors` importing `policies`,
which classifies, and each vendor codec can say what its error codes mean (`ErrorCodes`)
without importing `policies` either; `mediator.policies` re-exports these names.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = ["Classification", "ErrorCodes", "Verdict"]


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


class ErrorCodes(msgspec.Struct, frozen=True, kw_only=True):
    """What one system's own error codes mean: its vendor codec's tables, given by its
    connector (`PolicyRegistry.register_error_codes`), so that the policies know no vendor.

    `retry`: the system is busy or briefly broken, the same call may succeed later;
    `system_failure`: retryable codes that also mean the system itself is failing (they trip
    the breaker); `exhausted`: the period's allowance is spent; `dead`: the message will never
    succeed as it is.
    """

    retry: frozenset[str] = frozenset()
    dead: frozenset[str] = frozenset()
    system_failure: frozenset[str] = frozenset()
    exhausted: frozenset[str] = frozenset()
