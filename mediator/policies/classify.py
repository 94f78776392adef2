"""Sort the outcome of a call into success, retry or dead, and say whether the system is failing.

Evidence is read most specific first: the exception type, then the system's own error code from
the body (read by its vendor codec, `mediator.codecs.<vendor>.errors`, which also says what each
code means: `ErrorCodes`), then the HTTP status. The code outranks the status because a system
may answer 403 meaning "later" (Salesforce's ``REQUEST_LIMIT_EXCEEDED``) where a bare 403 means
"not allowed" (dead). Only `system_failure` outcomes count
against a circuit breaker: a 422 is the message's fault, not the system's.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from mediator.errors import (
    AuthenticationFailed,
    BusinessRejected,
    CodecError,
    ConnectorTimeout,
    ConnectorUnavailable,
    PolicyError,
    QuotaExhausted,
    RemoteRejected,
)
from mediator.outcomes import Classification, ErrorCodes, Verdict

__all__ = ["Classification", "Classifier", "ErrorCodes", "Verdict"]


_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_FAILURE_STATUSES = frozenset({408, 500, 502, 503, 504})


class Classifier:
    """Classify call outcomes: a system's `codes`, extended by codes from the config."""

    def __init__(
        self,
        *,
        codes: ErrorCodes | None = None,
        retry_codes: Iterable[str] = (),
        dead_codes: Iterable[str] = (),
        system_failure_codes: Iterable[str] = (),
    ) -> None:
        codes = codes or ErrorCodes()
        self._retry = codes.retry | frozenset(retry_codes)
        self._failure = codes.system_failure | frozenset(system_failure_codes)
        self._dead = (codes.dead | frozenset(dead_codes)) - frozenset(retry_codes)
        self._exhausted = codes.exhausted

    def classify(
        self,
        *,
        error: BaseException | None = None,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
    ) -> Classification:
        """Classify one outcome from whatever evidence there is.

        `status` and `code` come from the response (or from a `RemoteRejected` error);
        `retry_after` and `should_retry` from its headers (`LimitHint`). Stripe's
        ``Stripe-Should-Retry`` overrides the verdict on a failure. No evidence is success.
        """
        if isinstance(error, RemoteRejected) and error.outcome is not None and status is None:
            # The transport already classified this answer with all of it, headers included.
            result = error.outcome
            retry_after = retry_after if retry_after is not None else error.retry_after
        else:
            result = self._classify(error, status, code)
        if result.verdict is not Verdict.SUCCESS and should_retry is not None:
            verdict = Verdict.RETRY if should_retry else Verdict.DEAD
            if verdict is not result.verdict:
                result = msgspec.structs.replace(
                    result,
                    verdict=verdict,
                    reason=f"{result.reason}; server says should-retry={str(should_retry).lower()}",
                )
        if retry_after is not None and result.verdict is Verdict.RETRY:
            result = msgspec.structs.replace(result, retry_after=retry_after)
        return result

    def _classify(
        self, error: BaseException | None, status: int | None, code: str | None
    ) -> Classification:
        if isinstance(error, RemoteRejected):
            status = error.status if status is None else status
            code = code or error.code or None
        elif error is not None:
            return _by_exception(error)
        if code:
            if code in self._retry:
                return Classification(
                    verdict=Verdict.RETRY,
                    reason=f"{code} is transient",
                    system_failure=code in self._failure,
                    exhausted=code in self._exhausted,
                )
            if code in self._dead:
                return Classification(verdict=Verdict.DEAD, reason=f"{code} will not succeed as is")
        if status is None or 200 <= status < 400:
            if error is not None:
                return Classification(verdict=Verdict.DEAD, reason=f"rejected: {error}")
            if code:  # an error envelope on a 200 (JSON-RPC) with a code no table knows
                return Classification(verdict=Verdict.DEAD, reason=f"unknown error {code}")
            return Classification(verdict=Verdict.SUCCESS, reason="ok")
        coded = f" {code}" if code else ""
        if status in _RETRY_STATUSES:
            return Classification(
                verdict=Verdict.RETRY,
                reason=f"HTTP {status}{coded} is transient",
                system_failure=status in _FAILURE_STATUSES,
            )
        if status >= 500:
            return Classification(
                verdict=Verdict.RETRY, reason=f"HTTP {status}{coded}", system_failure=True
            )
        return Classification(verdict=Verdict.DEAD, reason=f"HTTP {status}{coded} is permanent")


def _by_exception(error: BaseException) -> Classification:
    name = type(error).__name__
    if isinstance(error, QuotaExhausted):
        return Classification(verdict=Verdict.RETRY, reason=str(error), exhausted=True)
    if isinstance(error, PolicyError):
        # refused locally (breaker open, rate, bulkhead, window): not evidence against the system
        retry_after = getattr(error, "retry_after", None)
        return Classification(
            verdict=Verdict.RETRY,
            reason=str(error),
            retry_after=retry_after if isinstance(retry_after, float | int) else None,
        )
    if isinstance(error, ConnectorTimeout | ConnectorUnavailable | TimeoutError | ConnectionError):
        return Classification(verdict=Verdict.RETRY, reason=f"{name}: {error}", system_failure=True)
    if isinstance(error, AuthenticationFailed):
        return Classification(verdict=Verdict.DEAD, reason=f"credentials rejected: {error}")
    if isinstance(error, CodecError):
        return Classification(verdict=Verdict.DEAD, reason=f"{name}: {error}")
    if isinstance(error, BusinessRejected):
        return Classification(verdict=Verdict.DEAD, reason=f"rejected: {error}")
    if isinstance(error, OSError):
        return Classification(verdict=Verdict.RETRY, reason=f"{name}: {error}", system_failure=True)
    # a bug, not a bad day: retrying would repeat it
    return Classification(verdict=Verdict.DEAD, reason=f"unexpected {name}: {error}")
