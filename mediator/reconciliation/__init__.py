"""Reconciliation across the four systems, with repair (DESIGN §5, flow 7).

`Reconciler` runs checks (presence, time, money, invoices, payments) over a period through
the connectors, classifies every comparison (`model.MatchClass`), stores the `Report`, and
repairs breaks: replaying dead letters, re-driving lost effects with their original
idempotency keys, or recording an operator's acceptance. `Mediator.reconciliation` is the
running daemon's; the admin API (``/reconciliation/...``) and ``mediator reconcile`` use it.
"""

from __future__ import annotations

from mediator.reconciliation.model import (
    BREAKS,
    CHECKS,
    Acceptance,
    Break,
    ControlTotal,
    FieldDiff,
    Report,
    RunSummary,
    SignOff,
    Tolerated,
)
from mediator.reconciliation.reads import NotConfigured
from mediator.reconciliation.reconciler import (
    InvalidRun,
    NotFound,
    Reconciler,
    RepairReport,
    RepairStep,
    Unsettled,
)
from mediator.reconciliation.run import Options
from mediator.reconciliation.scheduled import POLLER, ScheduledReconciliation

__all__ = [
    "BREAKS",
    "CHECKS",
    "POLLER",
    "Acceptance",
    "Break",
    "ControlTotal",
    "FieldDiff",
    "InvalidRun",
    "NotConfigured",
    "NotFound",
    "Options",
    "Reconciler",
    "RepairReport",
    "RepairStep",
    "Report",
    "RunSummary",
    "ScheduledReconciliation",
    "SignOff",
    "Tolerated",
    "Unsettled",
]
