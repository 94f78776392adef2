"""What status endpoints share between requests: the mediator's statistics, briefly, and the
posting windows' next changes, until they pass.

A dashboard polls `/healthz`, `/flows` and `/systems` every second; each wants the
`Mediator`'s statistics, whose entity-registry part walks every live entity (about 30 ms at
15,000 live entities, bench/admin_reads.py). One snapshot serves every request for
`max_age` seconds (5) of the event loop's clock, so such a dashboard costs one walk per five
seconds, not three a second; counters up to five seconds old are what a status page can live
with, and `/readyz` reads the state itself. A posting window's next opening or closing
cannot change before it comes, so it is computed once per change. Journal reads are not
cached: they are indexed and run on the reader's own connection.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from mediator.admin.models import WindowStatus
from mediator.policies.window import PostingWindow

if TYPE_CHECKING:
    from mediator.runtime import Mediator, MediatorStatistics

__all__ = ["Snapshots"]


class Snapshots:
    """Statistics at most `max_age` seconds old, and each posting window's next change."""

    def __init__(self, mediator: Mediator, *, max_age: float = 5.0) -> None:
        self._mediator = mediator
        self._max_age = max_age
        self._stats: MediatorStatistics | None = None
        self._stats_at = 0.0
        self._windows: dict[str, tuple[PostingWindow, bool, float | None]] = {}

    def statistics(self) -> MediatorStatistics:
        """The mediator's statistics, taken at most `max_age` seconds ago."""
        now = asyncio.get_running_loop().time()
        if self._stats is None or now - self._stats_at >= self._max_age:
            self._stats = self._mediator.statistics()
            self._stats_at = now
        return self._stats

    def windows(self) -> list[WindowStatus]:
        """Each configured posting window: open now or not, and when that changes."""
        now = self._mediator.clock.time()
        answer = []
        for name, spec in sorted(self._mediator.loaded.policies.windows.items()):
            known = self._windows.get(name)
            if known is None or (known[2] is not None and now >= known[2]):
                window = known[0] if known else spec.build(name)
                is_open = window.is_open(now)
                change = window.next_close(now) if is_open else window.next_open(now)
                known = self._windows[name] = (window, is_open, change)
            window, is_open, change = known
            answer.append(
                WindowStatus(name=name, zone=window.zone.key, open=is_open, next_change=change)
            )
        return answer
