"""The rates in force on each day, per project: the mediator's own rate history.

Harvest's assignment rates are not effective-dated (a new rate replaces the old one for every
entry, past ones included), so the mediator keeps the history itself, in the journal's flow
state under `FLOW`, keyed by the project's canonical id. Onboarding writes the rate card's
rates from the deal's start; a change order adds new rates from its effective date; the
billing flow prices each time entry at the rate in force on the entry's own date.

A rate is for a role, or for one consultant (which wins over the role's). The consultant's
role on the project comes from the deal's staffing (`RateHistory.staffing`).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.flows.flow_state import load, update
from mediator.journal import Journal

__all__ = ["FLOW", "RateHistory", "RatePeriod", "load_rates", "update_rates"]

#: The flow-state name of the rate histories, keyed by the project's canonical id.
FLOW = "rates"


class RatePeriod(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Rates from `effective_from` on, for `role` (or for `consultant_id` alone, when set);
    `source` says what set them (``rate_card``, ``change_order:<id>``)."""

    role: str
    consultant_id: str | None = None
    bill_rate: Money
    cost_rate: Money | None = None
    effective_from: datetime.date
    source: str


class RateHistory(msgspec.Struct, frozen=True, kw_only=True):
    """One project's rates over time, and who works on it in which role."""

    project_id: str
    currency: str
    staffing: dict[str, str] = msgspec.field(default_factory=dict)
    periods: tuple[RatePeriod, ...] = ()

    def rate_on(
        self, day: datetime.date, *, consultant_id: str | None = None, role: str | None = None
    ) -> RatePeriod | None:
        """The rates in force on `day` for `consultant_id` (their own, else their role's) or
        for `role`; None when no rate applies (the caller decides what that means)."""
        role = role or (None if consultant_id is None else self.staffing.get(consultant_id))
        candidates = [p for p in self.periods if p.effective_from <= day]
        own = [
            p
            for p in candidates
            if p.consultant_id is not None and p.consultant_id == consultant_id
        ]
        if own:
            return max(own, key=_order)
        by_role = [p for p in candidates if p.consultant_id is None and p.role == role]
        return max(by_role, key=_order) if by_role else None

    def with_period(self, period: RatePeriod) -> RateHistory:
        """This history with `period` added (a period already there, same source, is kept
        once: applying a change order twice changes nothing)."""
        if period in self.periods:
            return self
        return msgspec.structs.replace(self, periods=(*self.periods, period))

    def with_staffing(self, staffing: dict[str, str]) -> RateHistory:
        """This history with consultants' roles added or changed."""
        return msgspec.structs.replace(self, staffing={**self.staffing, **staffing})


def _order(period: RatePeriod) -> tuple[datetime.date, str]:
    return period.effective_from, period.source


async def load_rates(journal: Journal, project_id: str) -> RateHistory | None:
    """The rate history of the project `project_id` (canonical id), or None."""
    return (await load(journal, FLOW, project_id, RateHistory))[0]


async def update_rates(
    journal: Journal, project_id: str, change: Callable[[RateHistory | None], RateHistory]
) -> RateHistory:
    """Apply `change` to the saved history and save it (again on a concurrent save)."""
    return (await update(journal, FLOW, project_id, RateHistory, change))[1]
