"""What Salesforce's own error codes mean, and where an answer carries one.

An error answer is a JSON array of ``{message, errorCode, fields}`` (the first entry's
``errorCode`` is the code) or, from the OAuth endpoint, ``{"error": "invalid_client"}``. The
tables say which codes a retry may cure (``REQUEST_LIMIT_EXCEEDED`` is a 403 that means
"later", and it means the daily allowance is spent), which mean the system itself is failing,
and which will never succeed as sent; the connector gives them to the policies' classifier.
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

RETRY_CODES = frozenset(
    {"REQUEST_LIMIT_EXCEEDED", "UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT"}
)
SYSTEM_FAILURE_CODES = frozenset({"SERVER_UNAVAILABLE"})
EXHAUSTED_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED"})
DEAD_CODES = frozenset(
    {
        "INVALID_FIELD",
        "REQUIRED_FIELD_MISSING",
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "DUPLICATE_VALUE",
        "MALFORMED_ID",
        "INVALID_SESSION_ID",
        "NOT_FOUND",
    }
)

ERROR_CODES = ErrorCodes(
    retry=RETRY_CODES,
    dead=DEAD_CODES,
    system_failure=SYSTEM_FAILURE_CODES,
    exhausted=EXHAUSTED_CODES,
)
"""The tables above, as the connector gives them to the policies."""


def error_code(status: int, body: bytes) -> str | None:
    """Read ``errorCode`` from a Salesforce error array (or an OAuth error's ``error``)."""
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
        return str(decoded["error"])  # OAuth: {"error": "invalid_client", ...}
    if isinstance(decoded, list) and decoded and isinstance(decoded[0], dict):
        code = decoded[0].get("errorCode")
        return code if isinstance(code, str) else None
    return None
