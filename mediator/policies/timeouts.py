"""Deadlines per phase of a call: connect, read (each wait for bytes) and the whole call."""

from __future__ import annotations

import math

import msgspec

__all__ = ["Timeouts"]


class Timeouts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Seconds allowed to connect, to wait for each read, and for the whole call.

    A connector maps these onto its client (for aiohttp: ``ClientTimeout(total=, connect=,
    sock_read=)``) and raises `ConnectorTimeout` naming the phase that ran out.
    """

    connect: float = 5.0
    read: float = 30.0
    total: float = 60.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} timeout must be a positive number, not {value!r}")
        if self.connect > self.total or self.read > self.total:
            raise ValueError("connect and read timeouts must not exceed the total")

    def remaining(self, *, started: float, now: float) -> float:
        """Seconds left of `total` for a call that started at monotonic `started`."""
        return max(self.total - (now - started), 0.0)
