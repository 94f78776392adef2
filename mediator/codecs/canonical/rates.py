"""Who bills at what rate: assignments of consultants to projects, and rate cards."""

from __future__ import annotations

import datetime

import msgspec

from mediator.codecs.canonical.entity import Entity
from mediator.codecs.canonical.money import Money, require_currency

__all__ = ["Assignment", "RateCard", "RateCardLine"]


class Assignment(Entity, frozen=True, kw_only=True):
    """A consultant on a project in a role, at a bill and cost rate per hour, for a period.

    `effective_to` is inclusive; None means open-ended. A change order closes one assignment
    and opens the next, so the rate in force on any date is unambiguous.
    """

    project_id: str
    consultant_id: str
    role: str
    bill_rate: Money | None = None
    cost_rate: Money | None = None
    effective_from: datetime.date
    effective_to: datetime.date | None = None

    def in_force_on(self, day: datetime.date) -> bool:
        """Return whether this assignment's rates apply to work done on `day`."""
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


class RateCardLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The standard hourly rates of one role."""

    role: str
    bill_rate: Money
    cost_rate: Money | None = None


class RateCard(Entity, frozen=True, kw_only=True):
    """A named list of standard rates per role in one currency, from `effective_from`."""

    name: str
    currency: str
    effective_from: datetime.date
    lines: tuple[RateCardLine, ...] = ()

    def __post_init__(self) -> None:
        require_currency(self.currency)
        for line in self.lines:
            require_currency(self.currency, line.bill_rate, line.cost_rate)

    def rate_for(self, role: str) -> RateCardLine | None:
        """Return the line for `role`, or None when the card has no rate for it."""
        return next((line for line in self.lines if line.role == role), None)
