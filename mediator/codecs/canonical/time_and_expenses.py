"""What was done: time entries and expenses, as recorded in the PSA."""

from __future__ import annotations

import datetime
from decimal import Decimal

from mediator.codecs.canonical.entity import Entity
from mediator.codecs.canonical.money import Money
from mediator.codecs.scalars import require_finite

__all__ = ["Expense", "TimeEntry"]


class TimeEntry(Entity, frozen=True, kw_only=True):
    """Hours a consultant spent on a project on one day, and the rates they carry.

    `approved` entries are final in the PSA (and locked there); only those are billed and
    posted. `billed` says the PSA already shows them on an invoice. `updated_at` moves on every
    edit, so an edit after delivery is seen as a correction.
    """

    project_id: str
    consultant_id: str
    client_id: str | None = None
    task: str | None = None
    spent_on: datetime.date
    hours: Decimal
    notes: str = ""
    billable: bool
    approved: bool = False
    locked: bool = False
    billed: bool = False
    bill_rate: Money | None = None
    cost_rate: Money | None = None
    external_reference: str | None = None
    updated_at: datetime.datetime | None = None

    def __post_init__(self) -> None:
        # journaled payloads are decoded again later: a NaN must not come back from there
        require_finite(self.hours, "hours")

    def billable_amount(self) -> Money | None:
        """Return hours × bill rate rounded to the minor unit, or None when not billable."""
        if not self.billable or self.bill_rate is None:
            return None
        return self.bill_rate.scale(self.hours)

    def cost_amount(self) -> Money | None:
        """Return hours × cost rate rounded to the minor unit, or None without a cost rate."""
        return None if self.cost_rate is None else self.cost_rate.scale(self.hours)


class Expense(Entity, frozen=True, kw_only=True):
    """Money a consultant spent for a project (travel, materials), possibly re-billed."""

    project_id: str
    consultant_id: str
    client_id: str | None = None
    category: str
    spent_on: datetime.date
    amount: Money
    notes: str = ""
    billable: bool
    approved: bool = False
    locked: bool = False
    billed: bool = False
    updated_at: datetime.datetime | None = None
