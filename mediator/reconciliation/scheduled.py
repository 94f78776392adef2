"""The scheduled reconciliation: a poller named ``reconciliation``, run by the `Mediator`'s
scheduler like any poller (`[ingress.pollers.reconciliation]`, a cron schedule or an
interval; off unless configured). Each run reconciles the previous month (month-end close
goes on into the next month) and the current one, over every check."""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Final

import msgspec

from mediator.clock import Clock
from mediator.journal import Journal
from mediator.journal.dispatch import Dispatcher
from mediator.reconciliation.reconciler import Reconciler

__all__ = ["POLLER", "ReconciliationOutcome", "ScheduledReconciliation", "periods_due"]

#: the poller's name in `[ingress.pollers]`
POLLER: Final = "reconciliation"


class ReconciliationOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A scheduled run as a poll outcome: records compared (`read`), open breaks
    (`rejected`); nothing is journaled."""

    read: int
    rejected: int
    journaled: int = 0
    duplicates: int = 0
    waiting_until: float | None = None
    waiting_reason: str | None = None


def periods_due(now: float, zone: zoneinfo.ZoneInfo) -> tuple[str, str]:
    """The previous and the current month (``YYYY-MM``) at epoch time `now` in `zone`."""
    today = datetime.datetime.fromtimestamp(now, zone).date()
    previous = today.replace(day=1) - datetime.timedelta(days=1)
    return f"{previous:%Y-%m}", f"{today:%Y-%m}"


class ScheduledReconciliation:
    """Reconciles the previous and the current month each time it is polled."""

    name = POLLER

    def __init__(self, reconciler: Reconciler, *, clock: Clock, zone: zoneinfo.ZoneInfo) -> None:
        self.reconciler = reconciler
        self.clock = clock
        self.zone = zone

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> ReconciliationOutcome:
        """Run both periods; report what was compared and the open breaks."""
        compared = breaks = 0
        for period in periods_due(self.clock.time(), self.zone):
            report = await self.reconciler.reconcile(period)
            compared += report.compared
            breaks += len(report.breaks)
        return ReconciliationOutcome(read=compared, rejected=breaks)
