"""Stripe's `Idempotency-Key`: the first response is stored and replayed for 24 hours.

A retry with the same key and the same parameters gets the stored status and body again
(marked `Idempotent-Replayed: true`), even a 500; the same key with different parameters or
another endpoint is a 400 `idempotency_error`; a second request while the first is still
running is a 409. Requests refused by parameter validation store nothing.
"""

from __future__ import annotations

import hashlib
import json

import msgspec

from mediator.clock import Clock
from mediator.sandbox.stripe.errors import StripeError

__all__ = ["IdempotencyCache", "StoredResponse", "fingerprint"]


class StoredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The first response to a key, kept for replay."""

    status: int
    body: bytes
    fingerprint: str
    stored_at: float


def fingerprint(method: str, path: str, params: object) -> str:
    """Return a digest of the endpoint and parameters a key was first used with."""
    canonical = json.dumps([method, path, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyCache:
    """Stored responses and in-flight keys, per API key, pruned after `ttl` seconds."""

    def __init__(self, clock: Clock, *, ttl: float = 86_400.0) -> None:
        self._clock = clock
        self._ttl = ttl
        self._stored: dict[tuple[str, str], StoredResponse] = {}
        self._in_flight: set[tuple[str, str]] = set()

    def begin(self, account: str, key: str, digest: str) -> StoredResponse | None:
        """Claim `key`, or return its stored response for replay; raise 400/409 on misuse."""
        self._prune()
        slot = (account, key)
        if slot in self._in_flight:
            raise StripeError(
                409,
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through): " + key + ". Please try again later.",
                code="idempotency_key_in_use",
            )
        stored = self._stored.get(slot)
        if stored is not None:
            if stored.fingerprint != digest:
                raise StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    type="idempotency_error",
                )
            return stored
        self._in_flight.add(slot)
        return None

    def finish(self, account: str, key: str, response: StoredResponse | None) -> None:
        """Release `key`; keep `response` for replay unless it is None (nothing to store)."""
        self._in_flight.discard((account, key))
        if response is not None:
            self._stored[(account, key)] = response

    def __len__(self) -> int:
        return len(self._stored)

    def _prune(self) -> None:
        cutoff = self._clock.time() - self._ttl
        for slot in [s for s, r in self._stored.items() if r.stored_at <= cutoff]:
            del self._stored[slot]
