"""What Harvest's error answers carry: an OAuth-style ``error`` code, and no table of its own.

Harvest signals by status (429 with ``Retry-After``, 422 for a record it refuses, 401 for a
token it does not take); its body's ``error`` (``invalid_token``) only names the cause, so the
tables are empty and the classifier goes by the status.
"""

from __future__ import annotations

import re

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

RETRY_CODES: frozenset[str] = frozenset()
SYSTEM_FAILURE_CODES: frozenset[str] = frozenset()
EXHAUSTED_CODES: frozenset[str] = frozenset()
DEAD_CODES: frozenset[str] = frozenset()

_CODE = re.compile(r"^[a-z_]+$")

ERROR_CODES = ErrorCodes(
    retry=RETRY_CODES,
    dead=DEAD_CODES,
    system_failure=SYSTEM_FAILURE_CODES,
    exhausted=EXHAUSTED_CODES,
)
"""The tables above, as the connector gives them to the policies."""


def error_code(status: int, body: bytes) -> str | None:
    """Read Harvest's OAuth-style ``error`` code (``invalid_token``...), if the body has one.

    Success answers are not parsed: Harvest sends its errors with a 4xx or 5xx, and a page of
    2,000 time entries is 2 MB of JSON to decode for nothing (bench/reconcile.py)."""
    if status < 400:
        return None
    try:
        decoded = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    code = decoded.get("error") if isinstance(decoded, dict) else None
    return code if isinstance(code, str) and _CODE.match(code) else None
