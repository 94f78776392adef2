"""The saga steps of a change order outside the PSA: project, rates, ERP note, CRM status.

Each step is an effect made or found again: the project is resolved through the xref map
(nothing made), rate periods are added to the rate history once (a period already there is
kept once), the ERP project's comment gets the change order's line unless the line (with
its marker) is already there, and the CRM record is set to ``Applied``, an absolute value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.change_orders.context import Application, change_order_source, terms_of
from mediator.flows.rate_history import RateHistory, RatePeriod, update_rates
from mediator.flows.saga import Saga
from mediator.systems.salesforce import UpdateRecord
from mediator.systems.tryton import WriteRecord

__all__ = [
    "STATUS_APPLIED",
    "AddRatePeriods",
    "MarkApplied",
    "NoteInErp",
    "ResolveProject",
    "change_note",
    "project_of",
]

#: The value of ``Change_Order__c.Status__c`` once the change order is applied everywhere.
STATUS_APPLIED = "Applied"
#: the CRM object change orders are read from and written back to
_SOBJECT = "Change_Order__c"


def project_of(saga: Saga) -> str:
    """The canonical id of the project the saga's change order applies to."""
    return saga.state.output("project", "project")


@dataclasses.dataclass(frozen=True)
class ResolveProject:
    """Find the onboarded project of the change order's deal, and its PSA and ERP ids.

    A deal not onboarded yet is a `MissingReference` naming the deal: a dead letter to replay
    once onboarding has run (its later entries wait behind it).
    """

    app: Application
    name: str = "project"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Resolve opportunity → project canonical id → Harvest and Tryton project ids."""
        order, journal = self.app.order, self.app.journal
        found = await journal.xref_from(order.source_system, "project", order.engagement_id)
        if found is None:
            raise MissingReference(
                f"opportunity {order.engagement_id}",
                f"change order {order.source_id} applies to a deal with no onboarded project "
                "yet: replay it once the deal is onboarded",
            )
        project = found.canonical_id
        ids = {"project": project, "terms": terms_of(order)}
        for system in ("harvest", "tryton"):
            target = await journal.xref_to("project", project, system)
            if target is None:
                raise MissingReference(
                    f"project {project}",
                    f"no {system} project is recorded for it (onboarding has not finished): "
                    f"replay change order {order.source_id} once it has",
                )
            ids[system] = target.system_id
        return ids


@dataclasses.dataclass(frozen=True)
class AddRatePeriods:
    """Add the change order's new rates to the project's rate history from `effective_on`."""

    app: Application
    name: str = "rates"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Add one `RatePeriod` per rate change (kept once when added before)."""
        order = self.app.order
        project = project_of(saga)
        source = change_order_source(order)

        def change(history: RateHistory | None) -> RateHistory:
            if history is None:
                raise MissingReference(
                    f"project {project}",
                    "has no rate history (onboarding writes the rate card's rates): replay "
                    f"change order {order.source_id} once it is onboarded",
                )
            for rate in order.rate_changes:
                if rate.bill_rate.currency != history.currency:
                    raise BusinessRejected(
                        f"change order {order.source_id}",
                        f"its {rate.role} rate is in {rate.bill_rate.currency}, project "
                        f"{project} bills in {history.currency}",
                    )
                history = history.with_period(
                    RatePeriod(
                        role=rate.role,
                        consultant_id=rate.consultant_id,
                        bill_rate=rate.bill_rate,
                        cost_rate=rate.cost_rate,
                        effective_from=order.effective_on,
                        source=source,
                    )
                )
            return history

        await update_rates(self.app.journal, project, change)
        return {"periods": str(len(order.rate_changes))}


def change_note(app: Application) -> tuple[str, str]:
    """The line the ERP project's comment gets for the change order, and the marker that
    finds it there again."""
    order = app.order
    marker = f"[{change_order_source(order)}]"
    parts = [f"Change order from {order.effective_on.isoformat()}"]
    if order.description:
        parts.append(order.description)
    if order.value_delta is not None:
        sign = "+" if order.value_delta.amount >= 0 else ""
        parts.append(f"value {sign}{order.value_delta}")
    for rate in order.rate_changes:
        who = rate.consultant_id or rate.role
        parts.append(f"{who} at {rate.bill_rate}/h")
    if order.new_ends_on is not None:
        parts.append(f"ends {order.new_ends_on.isoformat()}")
    return "; ".join(parts) + f" {marker}", marker


@dataclasses.dataclass(frozen=True)
class NoteInErp:
    """Record the change order on the ERP project (``project.work.comment``), once."""

    app: Application
    name: str = "tryton"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Append the change order's line to the project's comment unless it is there."""
        work = int(saga.state.output("project", "tryton"))
        (row,) = await self.app.tryton_reads.read("project.work", [work], ["comment"])
        comment = str(row.get("comment") or "")
        line, marker = change_note(self.app)
        if marker in comment:  # written before (its answer lost, or the saga crashed after)
            return {"work": str(work), "written": "before"}
        command = WriteRecord(
            idempotency_key=saga.key(self.name),
            model="project.work",
            ids=(work,),
            values={"comment": f"{comment}\n{line}" if comment else line},
        )
        await self.app.tryton.ask(command, timeout=self.app.timeout)
        return {"work": str(work), "written": "now"}


@dataclasses.dataclass(frozen=True)
class MarkApplied:
    """Set the CRM change order's ``Status__c`` to ``Applied`` (an absolute value)."""

    app: Application
    name: str = "salesforce"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Write the status back to the change order's CRM record."""
        order = self.app.order
        if order.source_system != "salesforce":
            return {"status": f"not written: the change order came from {order.source_system}"}
        command = UpdateRecord(
            idempotency_key=saga.key(self.name),
            sobject=_SOBJECT,
            id=order.source_id,
            fields={"Status__c": STATUS_APPLIED},
            priority=self.app.salesforce_priority,
        )
        await self.app.salesforce.ask(command, timeout=self.app.timeout)
        return {"status": STATUS_APPLIED}
