"""Pricing an entry: its canonical client, project and consultant, and the rate in force.

Harvest ids become canonical ids through the xref map (``client``, ``project`` and
``consultant`` entries that onboarding and HR write). Each billable hour is priced at the rate
in force on the day it was spent: the project's `RateHistory` (`rate_on(spent_on,
consultant_id=...)`, the consultant's own rate or their role's). Until onboarding writes a
project's history, the entry's own Harvest ``billable_rate`` is the rate (the seam: Harvest
rates are not effective-dated, so a rate changed mid-month re-prices older entries there, but
not here once a history exists). An entry with neither, or whose project has a history with
no rate for it on its day, is a business exception for finance: never a guessed rate.
"""

from __future__ import annotations

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.rate_history import load_rates
from mediator.journal import Journal

__all__ = ["Canonical", "Price", "Resolver", "price_time"]


class Canonical(msgspec.Struct, frozen=True, kw_only=True):
    """An entry's client, project and consultant, as canonical ids."""

    client_id: str
    project_id: str
    consultant_id: str


class Price(msgspec.Struct, frozen=True, kw_only=True):
    """What an hour is billed as (the role, else the task) and at what rate; `source` says
    whether the rate came from the rate history or from Harvest."""

    what: str
    rate: Money
    source: str


class Resolver:
    """Canonical ids of Harvest ids, remembered for the actor's life (xrefs do not change)."""

    def __init__(self, journal: Journal, *, system: str = "harvest") -> None:
        self.journal = journal
        self.system = system
        self._ids: dict[tuple[str, str], str] = {}

    async def canonical(
        self, *, client_id: str | None, project_id: str, consultant_id: str
    ) -> Canonical:
        """Map the Harvest ids of an entry; `MissingReference` names the first one unknown."""
        if client_id is None:
            raise MissingReference("client", f"{self.system} project {project_id} has no client")
        return Canonical(
            client_id=await self._id("client", client_id),
            project_id=await self._id("project", project_id),
            consultant_id=await self._id("consultant", consultant_id),
        )

    async def _id(self, entity_type: str, system_id: str) -> str:
        found = self._ids.get((entity_type, system_id))
        if found is not None:
            return found
        xref = await self.journal.xref_from(self.system, entity_type, system_id)
        if xref is None:
            raise MissingReference(
                entity_type,
                f"{self.system} {entity_type} {system_id} has no canonical id (not onboarded)",
            )
        self._ids[(entity_type, system_id)] = xref.canonical_id
        return xref.canonical_id


async def price_time(journal: Journal, entry: TimeEntry, ids: Canonical) -> Price:
    """The rate in force for `entry` on its day: the rate history's, else Harvest's own."""
    history = await load_rates(journal, ids.project_id)
    if history is not None:
        period = history.rate_on(entry.spent_on, consultant_id=ids.consultant_id)
        if period is not None:
            return Price(what=period.role, rate=period.bill_rate, source=period.source)
        # the project's rates are known, and none is this consultant's on this day: billing
        # Harvest's rate instead would be a guess on a client's invoice
        raise BusinessRejected(
            "rate",
            f"time entry {entry.source_id}: project {ids.project_id}'s rate history has no "
            f"rate for consultant {ids.consultant_id} on {entry.spent_on} (not staffed, or "
            "before the first rate): add the staffing or the rate, then replay the entry",
        )
    if entry.bill_rate is not None:
        return Price(what=entry.task or "Time", rate=entry.bill_rate, source="harvest")
    raise BusinessRejected(
        "rate",
        f"time entry {entry.source_id} ({entry.spent_on}, project {ids.project_id}, "
        f"consultant {ids.consultant_id}) has no rate in force: no rate history and none "
        "in Harvest: add the rate, then replay the entry",
    )
