"""Checking Stripe's ``Stripe-Signature`` header against a webhook's raw body.

Stripe signs each delivery with ``t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]`` where
``v1`` is HMAC-SHA256(endpoint secret, ``"<t>.<raw body>"``). The check is on the bytes as
received (re-encoded JSON would not match), every configured secret against every ``v1``
(an operator rolling the endpoint secret configures the old and the new one; Stripe sends a
``v1`` for each while both are live), with `hmac.compare_digest` so the time taken says
nothing about how much of a signature matched. The timestamp must lie within `tolerance`
seconds of the clock, either way: a captured delivery replayed later is refused.

A failure is a `SignatureError` whose message says what was wrong (missing, malformed, no
timestamp, stale by N s, no matching signature) and never contains a secret or a digest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from mediator.clock import Clock
from mediator.systems import Secret

__all__ = ["DEFAULT_TOLERANCE", "SignatureError", "verify_stripe_signature"]

#: Stripe's own libraries refuse a signature older than five minutes
DEFAULT_TOLERANCE = 300.0
#: a header longer than this is not Stripe's (a few v1 values of 64 hex digits each)
_MAX_HEADER = 4096
_HEX = frozenset("0123456789abcdef")


class SignatureError(Exception):
    """The `Stripe-Signature` header does not prove the body came from Stripe: `reason` says
    why, in words safe to log and to answer with (no secret, no expected digest)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify_stripe_signature(
    header: str | None,
    body: bytes,
    secrets: Sequence[Secret],
    *,
    clock: Clock,
    tolerance: float = DEFAULT_TOLERANCE,
) -> int:
    """Check `header` (the ``Stripe-Signature`` value, None if absent) for `body` against
    each of `secrets`; return the signed timestamp, or raise `SignatureError`."""
    if not secrets:
        raise SignatureError("no signing secret is configured")
    if header is None or not header.strip():
        raise SignatureError("the Stripe-Signature header is missing")
    timestamp, signatures = _parse(header)
    age = clock.time() - timestamp
    if abs(age) > tolerance:
        direction = "old" if age > 0 else "in the future"
        raise SignatureError(
            f"the signature's timestamp is {abs(age):.0f} s {direction}"
            f" (the tolerance is {tolerance:g} s)"
        )
    if not signatures:
        raise SignatureError("the Stripe-Signature header has no v1 signature")
    signed = str(timestamp).encode() + b"." + body
    for secret in secrets:
        expected = hmac.new(secret.reveal().encode(), signed, hashlib.sha256).hexdigest()
        # every candidate is compared, match or not: the time taken says nothing either way
        if any([hmac.compare_digest(expected, given) for given in signatures]):  # noqa: C419
            return timestamp
    raise SignatureError("no v1 signature matches the body with any configured secret")


def _parse(header: str) -> tuple[int, list[str]]:
    # `t=...,v1=...,v1=...`: other schemes (v0, Stripe's test scheme) are ignored, as Stripe's
    # own libraries do; a v1 that is not 64 lower-case hex digits cannot match and is refused
    if len(header) > _MAX_HEADER:
        raise SignatureError(f"the Stripe-Signature header is longer than {_MAX_HEADER} bytes")
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, equals, value = item.strip().partition("=")
        if not equals or not name:
            raise SignatureError("the Stripe-Signature header is malformed: expected t=...,v1=...")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            if len(value) != 64 or not _HEX.issuperset(value):
                raise SignatureError(
                    "the Stripe-Signature header has a v1 that is not 64 hex digits"
                )
            signatures.append(value)
    if not timestamps:
        raise SignatureError("the Stripe-Signature header has no timestamp (t=)")
    if len(timestamps) > 1:
        raise SignatureError("the Stripe-Signature header has more than one timestamp (t=)")
    text = timestamps[0]
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise SignatureError("the Stripe-Signature timestamp (t=) is not unix seconds")
    return int(text), signatures
