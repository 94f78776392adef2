"""The deal's project: in the ERP (``project.work``) and in the PSA (a Harvest project with
its tasks and its people at the rate card's rates), and the mediator's own rate history.

The ERP project is looked up by its name, which is unique by its code (``P-1042 …``); the PSA
project by its code within the client; each task and user assignment by its project and task
or user (a second assignment updates the rate instead of adding one). Consultants are found
in the PSA by e-mail. The rate history (`mediator.flows.rate_history`) starts at the
contract's start with the rate card's rates of the roles staffed, and says who is in which
role, by canonical consultant id (the firm's key, pre-mapped in the xref map; the e-mail when
a consultant has none yet).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

from mediator.codecs.harvest.write import task_assignment_to_harvest
from mediator.errors import BusinessRejected
from mediator.flows.onboarding.context import Onboarding
from mediator.flows.rate_history import RateHistory, RatePeriod, update_rates
from mediator.flows.saga import Saga
from mediator.systems.harvest import AssignTask, AssignUser, CreateProject, HarvestWritten
from mediator.systems.tryton import CreateRecord, RecordRef

__all__ = ["ErpProjectStep", "PsaProjectStep"]


class ErpProjectStep:
    """``erp_project``: the ``project.work`` of the deal, under the client's party."""

    name = "erp_project"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Create (or find by name) the ERP project; record it in the xref map."""
        job = self.onboarding
        setup = job.tryton.setup
        if setup is None:  # a wiring bug: the Mediator always gives the connector its setup
            raise RuntimeError("the Tryton connector has no ERP setup ([systems.tryton.erp])")
        t_and_m = job.terms.billing_model == "time_and_materials"
        reference = await saga.settle("project_name", _constant(job.project_name))
        made = await job.ask(
            "tryton",
            CreateRecord(
                idempotency_key=saga.key(self.name),
                model="project.work",
                values={
                    "type": "project",
                    "company": setup.company,
                    "party": int(saga.state.output("client", "party")),
                    "timesheet_available": True,
                    "project_invoice_method": "timesheet" if t_and_m else "manual",
                    "product": setup.product,
                },
                reference=reference,
            ),
            RecordRef,
        )
        journal = job.journal
        await journal.record_xref("project", job.project_id, "salesforce", job.opportunity_id)
        await journal.record_xref(
            "engagement", job.opportunity_id, "salesforce", job.opportunity_id
        )
        await journal.record_xref("project", job.project_id, "tryton", str(made.id))
        return {"id": str(made.id)}


class PsaProjectStep:
    """``psa_project``: the Harvest project, its tasks, its people at their roles' rates."""

    name = "psa_project"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Set up the PSA project and write the rate history; return the project's id."""
        job = self.onboarding
        terms = job.terms
        people = await self._people()
        tasks = await self._tasks()
        monthly = terms.retainer_interval == "month"
        budget = terms.period_fee if monthly else terms.amount
        project = await job.ask(
            "harvest",
            CreateProject(
                idempotency_key=saga.key(self.name),
                client_id=int(saga.state.output("client", "psa_client")),
                fields={
                    "name": job.project_name,
                    "code": job.project_id,
                    "is_billable": True,
                    "is_fixed_fee": terms.billing_model == "fixed_fee",
                    "fee": terms.amount.to_decimal()
                    if terms.billing_model == "fixed_fee"
                    else None,
                    "bill_by": "People",
                    "budget_by": "project_cost",
                    "cost_budget": None if budget is None else budget.to_decimal(),
                    "budget_is_monthly": monthly,
                    "starts_on": terms.starts_on.isoformat(),
                    "ends_on": None if terms.ends_on is None else terms.ends_on.isoformat(),
                },
            ),
            HarvestWritten,
        )
        await job.journal.record_xref("project", job.project_id, "harvest", str(project.id))
        # all asked at once, so the PSA actor looks each kind up once for the whole project
        await _together(
            job.ask(
                "harvest",
                AssignTask(
                    idempotency_key=saga.key(self.name, f"task:{task}"),
                    project_id=project.id,
                    fields=task_assignment_to_harvest(harvest_task_id=task, billable=billable),
                ),
                HarvestWritten,
            )
            for task, billable in tasks
        )
        assignments = []
        for line in job.deal.staffing:
            rate = job.options.bill_rate(terms.currency, line.role)
            assert rate is not None  # validation checked every role is on the card
            assignments.append(
                job.ask(
                    "harvest",
                    AssignUser(
                        idempotency_key=saga.key(self.name, f"user:{line.email.lower()}"),
                        project_id=project.id,
                        fields={
                            "user_id": people[line.email.lower()],
                            "is_active": True,
                            "hourly_rate": rate.to_decimal(),
                        },
                    ),
                    HarvestWritten,
                )
            )
        await _together(assignments)
        staffing: dict[str, str] = {}
        for line in job.deal.staffing:
            user = people[line.email.lower()]
            known = await job.journal.xref_from("harvest", "consultant", str(user))
            staffing[line.email.lower() if known is None else known.canonical_id] = line.role
        await update_rates(job.journal, job.project_id, lambda old: self._rates(old, staffing))
        return {"id": str(project.id)}

    def _rates(self, old: RateHistory | None, staffing: dict[str, str]) -> RateHistory:
        job = self.onboarding
        terms = job.terms
        history = old or RateHistory(project_id=job.project_id, currency=terms.currency)
        for role in sorted(set(staffing.values())):
            bill = job.options.bill_rate(terms.currency, role)
            assert bill is not None
            history = history.with_period(
                RatePeriod(
                    role=role,
                    bill_rate=bill,
                    cost_rate=job.options.cost_rate(terms.currency, role),
                    effective_from=terms.starts_on,
                    source="rate_card",
                )
            )
        return history.with_staffing(staffing)

    async def _people(self) -> dict[str, int]:
        job = self.onboarding
        users = {u.email.lower(): u.id for u in await job.harvest.users() if u.email}
        missing = sorted({line.email.lower() for line in job.deal.staffing} - set(users))
        if missing:
            raise BusinessRejected(
                f"deal {job.opportunity_id} staffing",
                f"no Harvest user has the e-mail {', '.join(missing)}: add them in Harvest "
                "(or correct Opportunity.Staffing__c), then replay",
            )
        return users

    async def _tasks(self) -> list[tuple[int, bool]]:
        job = self.onboarding
        wanted = [(job.options.billable_task, True)]
        if job.options.internal_task is not None:
            wanted.append((job.options.internal_task, False))
        by_name = {t.name.strip().lower(): t.id for t in await job.harvest.tasks()}
        found: list[tuple[int, bool]] = []
        for name, billable in wanted:
            task = by_name.get(name.strip().lower())
            if task is None:
                raise BusinessRejected(
                    f"Harvest task {name!r}",
                    "the account has no such task: create it in Harvest (or change "
                    "[flows.onboarding.options] billable_task/internal_task), then replay",
                )
            found.append((task, billable))
        return found


async def _together(calls: Iterable[Awaitable[object]]) -> None:
    # every call runs to its end; the first failure is raised as itself (to be classified)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _constant(value: str) -> Callable[[], Awaitable[str]]:
    async def chosen() -> str:
        return value

    return chosen
