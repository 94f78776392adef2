"""What Stripe's own error types and codes mean, and where an answer carries them.

An error answer is ``{"error": {"type": ..., "code": ...}}``: the ``type`` is the code, but a
``code`` the tables know wins (``lock_timeout``). Two codes are read as the retryable ones,
since their ``type`` is ``invalid_request_error`` (dead) and the code outranks the status: a
429's ``rate_limit`` as ``rate_limit_error``, and a 409 for a key still in flight
(``idempotency_key_in_use``) as ``lock_timeout``: both mean "another request holds this
object's lock", and retrying later replays the first request's stored answer.
"""

from __future__ import annotations

import msgspec

from mediator.outcomes import ErrorCodes

__all__ = [
    "DEAD_CODES",
    "ERROR_CODES",
    "EXHAUSTED_CODES",
    "RETRY_CODES",
    "SYSTEM_FAILURE_CODES",
    "error_code",
]

RETRY_CODES = frozenset({"rate_limit_error", "api_error", "lock_timeout"})
SYSTEM_FAILURE_CODES = frozenset({"api_error"})
EXHAUSTED_CODES: frozenset[str] = frozenset()
DEAD_CODES = frozenset(
    {"card_error", "invalid_request_error", "idempotency_error", "authentication_error"}
)

_RETRYABLE = {"rate_limit": "rate_limit_error", "idempotency_key_in_use": "lock_timeout"}
_DECODE_JSON = msgspec.json.Decoder()

ERROR_CODES = ErrorCodes(
    retry=RETRY_CODES,
    dead=DEAD_CODES,
    system_failure=SYSTEM_FAILURE_CODES,
    exhausted=EXHAUSTED_CODES,
)
"""The tables above, as the connector gives them to the policies."""


def error_code(status: int, body: bytes) -> str | None:
    """Read Stripe's error code from an error answer (success answers are not parsed)."""
    if status < 400:
        return None
    try:
        parsed = _DECODE_JSON.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None
    code, kind = error.get("code"), error.get("type")
    if isinstance(code, str):  # a list here is unhashable
        if code in _RETRYABLE:
            return _RETRYABLE[code]
        if code in RETRY_CODES | DEAD_CODES:
            return code
    return kind if isinstance(kind, str) else None
