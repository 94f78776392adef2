"""The saga steps of a change order in the PSA (Harvest): assignment rates, budget, end date.

Harvest's rates are not effective-dated, so it gets the rates in force from the effective
date on (the rate history, which the billing flow prices from, keeps the earlier ones). Who
is affected comes from the rate history's staffing: a role's new rate goes to every
consultant staffed in that role, a consultant's own rate to them alone; their user
assignments are written again with the rate (an `AssignUser` finds the assignment and
updates it). A project billed by task also gets the role's rate on the task named like the
role, if it has one.

The budget is moved by the order's value delta as an absolute value: one step reads the
project and saves its budget (and fixed fee) as the saga's facts, the next writes facts +
delta. A repeat of the write (a lost answer, a crash before the save) writes the same value
again, never the delta twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from mediator.codecs.canonical.money import Money
from mediator.codecs.harvest import project_from_harvest
from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.change_orders.context import Application
from mediator.flows.change_orders.steps import project_of
from mediator.flows.rate_history import RateHistory, load_rates
from mediator.flows.saga import Saga
from mediator.systems import Command
from mediator.systems.harvest import AssignTask, AssignUser, UpdateProject

__all__ = ["ReadPsaProject", "UpdatePsaProject", "UpdatePsaRates", "staffed_rates"]


def staffed_rates(app: Application, history: RateHistory) -> dict[str, Money]:
    """The bill rate in force from the effective date for each consultant the change order
    touches (by canonical id): those of its roles in the staffing, and those it names."""
    order = app.order
    touched: set[str] = set()
    for change in order.rate_changes:
        if change.consultant_id is not None:
            touched.add(change.consultant_id)
        else:
            touched.update(c for c, role in history.staffing.items() if role == change.role)
    rates: dict[str, Money] = {}
    for consultant in sorted(touched):
        period = history.rate_on(order.effective_on, consultant_id=consultant)
        if period is not None:
            rates[consultant] = period.bill_rate
    return rates


@dataclasses.dataclass(frozen=True)
class ReadPsaProject:
    """Save the PSA project's facts the later steps compute from: budget, fee, client."""

    app: Application
    name: str = "harvest_project"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Read the project once; its budget before the change is what this saga moves."""
        project_id = int(saga.state.output("project", "harvest"))
        wire = await self.app.harvest_reads.project(project_id)
        project = project_from_harvest(wire)
        budget_field = "cost_budget" if wire.cost_budget is not None else "budget"
        return {
            "client": str(wire.client.id),
            "bill_by": wire.bill_by,
            "budget": "" if project.budget is None else str(project.budget.amount),
            "budget_field": budget_field,
            "fee": "" if project.fee is None or not wire.is_fixed_fee else str(project.fee.amount),
            "currency": project.currency or "",
        }


@dataclasses.dataclass(frozen=True)
class UpdatePsaRates:
    """Give the touched consultants' (and the role's task's) assignments the new rates."""

    app: Application
    name: str = "harvest_rates"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Write each touched assignment's rate; return how many were written."""
        app = self.app
        project = project_of(saga)
        history = await load_rates(app.journal, project)
        if history is None:  # the rates step made it; gone means someone removed it
            raise MissingReference(f"project {project}", "its rate history is gone")
        harvest_project = int(saga.state.output("project", "harvest"))
        commands: list[Command] = []
        for consultant, rate in staffed_rates(app, history).items():
            user = await app.journal.xref_to("consultant", consultant, "harvest")
            if user is None:
                raise MissingReference(
                    f"consultant {consultant}", "has no Harvest user recorded in the xref map"
                )
            commands.append(
                AssignUser(
                    idempotency_key=saga.key(self.name, f"user:{consultant}"),
                    project_id=harvest_project,
                    fields={"user_id": int(user.system_id), "hourly_rate": rate.to_decimal()},
                )
            )
        if saga.state.output("harvest_project", "bill_by") == "Tasks":
            commands += await self._task_rates(saga, history, harvest_project)
        # asked together, so the system actor sends them as one batch (one listing per project);
        # every answer is awaited, then the first failure is the step's (retried as a whole:
        # the assignments already written are found and written again with the same rate)
        answers = await asyncio.gather(
            *(app.harvest.ask(c, timeout=app.timeout) for c in commands), return_exceptions=True
        )
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return {"assignments": str(len(commands))}

    async def _task_rates(
        self, saga: Saga, history: RateHistory, harvest_project: int
    ) -> list[Command]:
        order = self.app.order
        roles = {c.role.casefold() for c in order.rate_changes if c.consultant_id is None}
        commands: list[Command] = []
        for assignment in await self.app.harvest_reads.task_assignments(harvest_project):
            role = (assignment.task.name or "").casefold()
            if role not in roles:
                continue
            rate = history.rate_on(order.effective_on, role=_role_named(history, role))
            if rate is not None:
                commands.append(
                    AssignTask(
                        idempotency_key=saga.key(self.name, f"task:{assignment.task.id}"),
                        project_id=harvest_project,
                        fields={
                            "task_id": assignment.task.id,
                            "hourly_rate": rate.bill_rate.to_decimal(),
                        },
                    )
                )
        return commands


def _role_named(history: RateHistory, folded: str) -> str:
    # the role as the history spells it (tasks are matched without regard to case)
    for period in history.periods:
        if period.role.casefold() == folded:
            return period.role
    return folded


@dataclasses.dataclass(frozen=True)
class UpdatePsaProject:
    """Move the PSA project's budget (and fixed fee) by the value delta; set its end date."""

    app: Application
    name: str = "harvest_budget"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Write the absolute budget computed from the saved facts."""
        order = self.app.order
        facts = saga.state.done["harvest_project"]
        fields: dict[str, object] = {}
        outputs: dict[str, str] = {}
        delta = order.value_delta
        if delta is not None and delta.amount:
            currency = facts["currency"] or delta.currency
            if delta.currency != currency:
                raise BusinessRejected(
                    f"change order {order.source_id}",
                    f"its value delta is in {delta.currency}, the PSA project in {currency}",
                )
            for fact, field in (("budget", facts["budget_field"]), ("fee", "fee")):
                if not facts[fact]:
                    continue  # no budget (or not fixed-fee): nothing to move
                moved = Money(amount=int(facts[fact]), currency=currency) + delta
                if moved.amount < 0:
                    raise BusinessRejected(
                        f"change order {order.source_id}",
                        f"a value delta of {delta} takes the project's {fact} below zero",
                    )
                fields[field] = moved.to_decimal()
                outputs[fact] = str(moved.amount)
        if order.new_ends_on is not None:
            fields["ends_on"] = order.new_ends_on.isoformat()
            outputs["ends_on"] = order.new_ends_on.isoformat()
        if not fields:
            return {"updated": "nothing to change"}
        command = UpdateProject(
            idempotency_key=saga.key(self.name),
            project_id=int(saga.state.output("project", "harvest")),
            fields=fields,
        )
        await self.app.harvest.ask(command, timeout=self.app.timeout)
        return outputs
