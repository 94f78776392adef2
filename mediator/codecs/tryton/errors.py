"""What Tryton's exception names mean, and where a JSON-RPC answer carries one.

An error answer is an envelope ``{"id": …, "error": ["UserError", [...]]}``: the exception's
name is the code. A concurrent write (``ConcurrencyException``) or the login throttle
(``RateLimitException``) may pass; a business refusal (``UserError``), a missing right
(``AccessError``) or a refused login will not.
"""

from __future__ import annotations

from mediator.codecs.tryton.rpc import decode_response
from mediator.errors import DecodeError
from mediator.outcomes import ErrorCodes

__all__ = [
    "DEAD_CODES",
    "ERROR_CODES",
    "EXHAUSTED_CODES",
    "RETRY_CODES",
    "SYSTEM_FAILURE_CODES",
    "error_code",
]

RETRY_CODES = frozenset({"ConcurrencyException", "RateLimitException"})
SYSTEM_FAILURE_CODES: frozenset[str] = frozenset()
EXHAUSTED_CODES: frozenset[str] = frozenset()
DEAD_CODES = frozenset({"UserError", "UserWarning", "AccessError", "LoginException"})

_HEAD = 64  # the envelope's first keys are within this many bytes: {"id":123,"error":

ERROR_CODES = ErrorCodes(
    retry=RETRY_CODES,
    dead=DEAD_CODES,
    system_failure=SYSTEM_FAILURE_CODES,
    exhausted=EXHAUSTED_CODES,
)
"""The tables above, as the connector gives them to the policies."""


def error_code(status: int, body: bytes) -> str | None:
    """Return the exception name of an error envelope (``ServerError`` for an unexpected one).

    Only the head of a body is looked at unless it is an error envelope, so a large
    ``search_read`` answer is not parsed twice.
    """
    head = body[:_HEAD]
    at = head.find(b'"error":')
    if at < 0 or 0 <= head.find(b'"result":') < at:
        return None
    try:
        error = decode_response(body).error
    except DecodeError:
        return None
    return None if error is None else error.name
