"""The envelope every journaled message travels in (DESIGN §2), and its time-ordered ids."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime

import msgspec

__all__ = ["Envelope", "new_id"]


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One message, immutable: who it is about, what happened, and its payload.

    `payload` is the canonical entity as raw JSON; it is decoded into its Struct by `kind` and
    `schema_version`, so an entry written by an older version can be upcast on read.
    `idempotency_key` is what makes a second append of the same fact a no-op, and what every
    effect on an external system derives its own key from.
    """

    id: str
    key: str
    kind: str
    source: str
    idempotency_key: str
    occurred_at: datetime
    schema_version: int = 1
    traceparent: str | None = None
    attempt: int = 0
    payload: msgspec.Raw = msgspec.Raw(b"null")


class _UUID7:
    # RFC 9562 UUIDv7 with the 12-bit rand_a used as a counter within one millisecond, so ids
    # made by one process are strictly increasing and index inserts stay at the B-tree's end.
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def __call__(self, unix_ms: int | None = None) -> str:
        ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
        with self._lock:
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:  # counter spent: borrow the next millisecond
                    ms += 1
                    self._counter = 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
        return f"{value:032x}"


new_id = _UUID7()
new_id.__doc__ = "Return a new time-ordered id (UUIDv7, 32 hex digits); strictly increasing here."
