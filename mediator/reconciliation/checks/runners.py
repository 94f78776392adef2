"""Each check of a run by its name in a scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from mediator.reconciliation.checks.invoices import check_invoices
from mediator.reconciliation.checks.money import check_money
from mediator.reconciliation.checks.payments import check_payments
from mediator.reconciliation.checks.presence import check_presence
from mediator.reconciliation.checks.timesheets import check_time
from mediator.reconciliation.run import Run

__all__ = ["CHECK_RUNNERS"]

#: each check by its name in a scope
CHECK_RUNNERS: Final[Mapping[str, Callable[[Run], Awaitable[None]]]] = {
    "presence": check_presence,
    "time": check_time,
    "money": check_money,
    "invoices": check_invoices,
    "payments": check_payments,
}
