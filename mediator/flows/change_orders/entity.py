"""`ChangeOrders`: the entity actor of one deal's change orders, and their approvals.

Each approved change order runs a saga of its own (flow state keyed by the change order's
id) through the steps, in order: the project (xref), the rate history, the PSA (project
facts, assignment rates, budget), the ERP project, the CRM status, and back-billing. A
change order that is not approved yet is left alone; one whose saga finished (or that the
CRM already shows applied) changes nothing when it comes again: a replay, or the CRM's echo
of the ``Applied`` status written back. A version whose terms (date, value, rates, end date)
differ from those its saga already applied is a dead letter saying so: an applied change is
changed by a new change order, never silently.

Decisions on back-billing adjustments come to the same actor (they are keyed by the deal):
an approved adjustment is journaled for billing (`ADJUSTMENT_APPROVED`, keyed by the client,
its idempotency key derived from the change order and period, so a repeat is a duplicate);
a rejected one is noted. The saga is ``waiting`` while a decision is pending, ``done`` after.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.codecs.canonical.engagements import ChangeOrder
from mediator.errors import BusinessRejected
from mediator.flows.change_orders.back_billing import (
    REPRICED,
    BackBill,
    PendingAdjustment,
    load_pending,
)
from mediator.flows.change_orders.context import FLOW, Application, ApprovalRequests, terms_of
from mediator.flows.change_orders.psa import ReadPsaProject, UpdatePsaProject, UpdatePsaRates
from mediator.flows.change_orders.steps import (
    AddRatePeriods,
    MarkApplied,
    NoteInErp,
    ResolveProject,
)
from mediator.flows.kinds import (
    ADJUSTMENT_APPROVED,
    CHANGE_ORDER_CHANGED,
    FLOW_PAYLOADS,
    client_key,
)
from mediator.flows.saga import Saga, SagaState, Step
from mediator.journal import Journal
from mediator.journal.operator import Approval
from mediator.systems import Command, HarvestConnector, TrytonConnector

__all__ = ["DECISIONS", "ChangeOrders", "is_approved", "steps"]

#: The kind of decisions on this flow's approval requests (the runtime's ``decision_kind``).
DECISIONS = f"{FLOW}.approval.decided"
_BACK_BILLING = "back_billing"


def steps(app: Application) -> Sequence[Step]:
    """The saga's steps for one change order, in the order they run."""
    return (
        ResolveProject(app),
        AddRatePeriods(app),
        ReadPsaProject(app),
        UpdatePsaRates(app),
        UpdatePsaProject(app),
        NoteInErp(app),
        MarkApplied(app),
        BackBill(app),
    )


def is_approved(order: ChangeOrder) -> bool:
    """Whether `order` is to be applied: approved in the CRM (a draft or a cancelled one is
    left alone; an applied one was applied, here or by hand)."""
    return order.status == "approved"


class ChangeOrders(Actor[Envelope]):
    """Applies one deal's approved change orders and settles their back-billing decisions.

    `systems` holds the ``harvest``, ``tryton`` and ``salesforce`` system actors; `reads` the
    Harvest and Tryton connectors. `decision_of` reads a decision envelope (the runtime's
    `decode_decision`); `follow_up` journals the approved adjustments and queues them for
    delivery (the runtime's `FlowContext.follow_up`).
    """

    def __init__(
        self,
        key: str,
        *,
        journal: Journal,
        clock: Clock,
        systems: Mapping[str, ActorRef[Command]],
        harvest_reads: HarvestConnector,
        tryton_reads: TrytonConnector,
        approvals: ApprovalRequests,
        decision_of: Callable[[Envelope], Approval],
        follow_up: Callable[[Sequence[Envelope]], Awaitable[object]],
        timeout: float = 60.0,
        salesforce_priority: str = "crm_writeback",
    ) -> None:
        self.key = key
        self.journal = journal
        self.clock = clock
        self.systems = systems
        self.harvest_reads = harvest_reads
        self.tryton_reads = tryton_reads
        self.approvals = approvals
        self.decision_of = decision_of
        self.follow_up = follow_up
        self.timeout = timeout
        self.salesforce_priority = salesforce_priority

    async def receive(self, message: Envelope) -> object:
        """Apply a change order, or settle a decision on one of its adjustments."""
        if message.kind == CHANGE_ORDER_CHANGED:
            return await self._apply(FLOW_PAYLOADS.decode_as(message, ChangeOrder))
        if message.kind == DECISIONS:
            return await self._decided(self.decision_of(message))
        raise BusinessRejected(f"kind {message.kind!r}", "the change-order flow does not handle it")

    async def _apply(self, order: ChangeOrder) -> SagaState:
        saga = Saga(self.journal, FLOW, order.source_id)
        await saga.load()
        if saga.finished("project") and saga.state.output("project", "terms") != terms_of(order):
            applied = ", ".join(saga.state.done)
            raise BusinessRejected(
                f"change order {order.source_id}",
                f"its terms changed after these steps were applied with the earlier ones: "
                f"{applied}; record the difference as a new change order, then release this",
            )
        if not is_approved(order):
            return saga.state  # nothing to do (an applied one's saga, if any, is as it was)
        await saga.run(steps(self._application(order)))
        return await self._settle(saga)

    async def _decided(self, approval: Approval) -> SagaState:
        pending = await load_pending(self.journal, approval.id)
        if pending is None:
            raise BusinessRejected(
                f"approval {approval.id}", "no back-billing adjustment of this flow has this id"
            )
        saga = Saga(self.journal, FLOW, pending.change_order)
        await saga.load()
        if not saga.finished(_BACK_BILLING):
            # filed by a delivery that failed before saving the step: its retry, queued ahead
            # of this decision for the same deal, finishes the step and settles it
            return saga.state
        return await self._settle(saga)

    async def _settle(self, saga: Saga) -> SagaState:
        """Act on every decided adjustment of the saga (again: each act is idempotent) and
        mark the saga waiting while any is pending, done when none is."""
        requested = saga.state.done.get(_BACK_BILLING, {})
        waiting: list[str] = []
        outcome: dict[str, str] = {}
        for period, approval_id in sorted(requested.items()):
            if period.startswith(REPRICED):
                continue  # a draft repriced: nothing for a person to decide
            pending = await load_pending(self.journal, approval_id)
            if pending is None:  # remembered before the step's save: only lost flow state
                raise BusinessRejected(f"approval {approval_id}", "its adjustment is not on file")
            approval = await self.approvals.request(
                entity=pending.entity,
                key=pending.key,
                what=pending.what,
                amount=pending.adjustment.amount.amount,
                currency=pending.adjustment.amount.currency,
            )
            if approval.state == "approved":
                await self.follow_up([self._adjustment_entry(pending, approval)])
            elif approval.state == "pending":
                waiting.append(f"{pending.adjustment.amount} for {period}")
            outcome[f"adjustment:{period}"] = approval.state
        note = "applied"
        if outcome:
            decided = ", ".join(f"{k.split(':', 1)[1]} {v}" for k, v in outcome.items())
            note = f"{note}; back-billing: {decided}"
        if waiting:
            return await saga.mark(
                "waiting", f"{note}; awaiting approval: {', '.join(waiting)}", **outcome
            )
        if saga.state.status == "done" and saga.state.note == note:
            return saga.state
        return await saga.mark("done", note, **outcome)

    def _adjustment_entry(self, pending: PendingAdjustment, approval: Approval) -> Envelope:
        adjustment = pending.adjustment
        decided_at = approval.decided_at if approval.decided_at is not None else self.clock.time()
        return FLOW_PAYLOADS.envelope(
            ADJUSTMENT_APPROVED,
            adjustment,
            key=client_key(adjustment.client_id),
            source="mediator",
            idempotency_key=f"{FLOW}:{pending.change_order}:adjustment:{adjustment.period}",
            occurred_at=datetime.datetime.fromtimestamp(decided_at, datetime.UTC),
        )

    def _application(self, order: ChangeOrder) -> Application:
        return Application(
            order=order,
            journal=self.journal,
            clock=self.clock,
            harvest=self.systems["harvest"],
            tryton=self.systems["tryton"],
            salesforce=self.systems["salesforce"],
            harvest_reads=self.harvest_reads,
            tryton_reads=self.tryton_reads,
            approvals=self.approvals,
            timeout=self.timeout,
            salesforce_priority=self.salesforce_priority,
            follow_up=self.follow_up,
        )
