"""Supervision strategies: what a supervisor does when a child fails (Akka Typed's vocabulary).

Pure decision objects: given the failure history and the time, they answer stop, restart after a
delay, or escalate. They read no clock of their own; the supervisor passes `now`.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Decision", "Restart", "RestartWithBackoff", "Stop", "Strategy"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a failed child: `stop`, `restart` after `delay` seconds, or `escalate`."""

    action: Literal["stop", "restart", "escalate"]
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop the failed child for good (the default)."""

    def tracker(self) -> _Tracker:
        """Return fresh per-child failure bookkeeping for this strategy."""
        return _Tracker(self)


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart at once with a fresh instance; escalate after `max_restarts` within `within` s.

    `max_restarts=None` restarts forever. The mailbox is kept across a restart, so the messages
    behind the one that failed are not lost.
    """

    max_restarts: int | None = None
    within: float = 60.0

    def tracker(self) -> _Tracker:
        """Return fresh per-child failure bookkeeping for this strategy."""
        return _Tracker(self)


@dataclass(frozen=True, slots=True)
class RestartWithBackoff:
    """Restart after an exponentially growing delay: `min_backoff` doubling up to `max_backoff`.

    `jitter` is the fraction of random extra delay (0.2 adds up to 20 %). A child that ran
    `reset_after` seconds without failing starts again from `min_backoff`. Escalates after
    `max_restarts` within `within` seconds when `max_restarts` is set.
    """

    min_backoff: float = 0.1
    max_backoff: float = 30.0
    jitter: float = 0.2
    reset_after: float = 60.0
    max_restarts: int | None = None
    within: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def tracker(self) -> _Tracker:
        """Return fresh per-child failure bookkeeping for this strategy."""
        return _Tracker(self)


Strategy = Stop | Restart | RestartWithBackoff


class _Tracker:
    """Failure history of one child under one strategy."""

    __slots__ = ("_consecutive", "_last_failure", "_recent", "strategy")

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy
        self._recent: deque[float] = deque()
        self._consecutive = 0
        self._last_failure: float | None = None

    def decide(self, now: float) -> Decision:
        s = self.strategy
        if isinstance(s, Stop):
            return Decision("stop")
        while self._recent and now - self._recent[0] > s.within:
            self._recent.popleft()
        if s.max_restarts is not None and len(self._recent) >= s.max_restarts:
            return Decision("escalate")
        self._recent.append(now)
        if isinstance(s, Restart):
            return Decision("restart")
        if self._last_failure is not None and now - self._last_failure >= s.reset_after:
            self._consecutive = 0
        self._last_failure = now
        base = min(s.max_backoff, s.min_backoff * (2**self._consecutive))
        self._consecutive += 1
        return Decision("restart", base * (1 + s.jitter * s.rng.random()))
