"""The checks of a run, one module each: presence, time, money, invoices, payments."""

from __future__ import annotations

from mediator.reconciliation.checks.invoices import check_invoices
from mediator.reconciliation.checks.money import check_money
from mediator.reconciliation.checks.payments import check_payments
from mediator.reconciliation.checks.presence import check_presence
from mediator.reconciliation.checks.runners import CHECK_RUNNERS
from mediator.reconciliation.checks.timesheets import check_time

__all__ = [
    "CHECK_RUNNERS",
    "check_invoices",
    "check_money",
    "check_payments",
    "check_presence",
    "check_time",
]
