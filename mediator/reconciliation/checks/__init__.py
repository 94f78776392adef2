"""The checks of a run, one module each: presence, time, money, invoices, payments."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediator.reconciliation.checks.invoices import check_invoices
from mediator.reconciliation.checks.money import check_money
from mediator.reconciliation.checks.payments import check_payments
from mediator.reconciliation.checks.presence import check_presence
from mediator.reconciliation.checks.timesheets import check_time

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from typing import Final

    from mediator.reconciliation.run import Run

__all__ = [
    "CHECK_RUNNERS",
    "check_invoices",
    "check_money",
    "check_payments",
    "check_presence",
    "check_time",
]

#: each check by its name in a scope
CHECK_RUNNERS: Final[Mapping[str, Callable[[Run], Awaitable[None]]]] = {
    "presence": check_presence,
    "time": check_time,
    "money": check_money,
    "invoices": check_invoices,
    "payments": check_payments,
}
