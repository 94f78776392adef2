"""What the steps of one change order's saga share: the order, the journal, the systems.

`Application` is built per delivery by the entity actor (`ChangeOrders`) and handed to each
step; it holds nothing that must survive a crash (the saga's saved outputs do that).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import msgspec

from mediator.actors import ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.codecs.canonical.engagements import ChangeOrder
from mediator.journal import Journal
from mediator.journal.operator import Approval
from mediator.systems import Command, HarvestConnector, TrytonConnector

__all__ = ["FLOW", "Application", "ApprovalRequests", "change_order_source", "terms_of"]

#: The flow's name: its saga's flow-state name, and its approvals' and decisions' flow.
FLOW = "change_orders"


class ApprovalRequests(Protocol):
    """Files a request for a person's approval, idempotent by `key` (the runtime's
    `FlowApprovals`)."""

    async def request(
        self,
        *,
        entity: str,
        key: str,
        what: str,
        amount: int | None = None,
        currency: str | None = None,
    ) -> Approval:
        """File the request `key` about `entity`, or return the one filed before (pending or
        decided)."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class Application:
    """One delivery's application of a change order: the order and what its steps use.

    `harvest`, `tryton` and `salesforce` are the system actors (commands); `harvest_reads` and
    `tryton_reads` their connectors (reads). Each ask waits at most `timeout` seconds.
    """

    order: ChangeOrder
    journal: Journal
    clock: Clock
    harvest: ActorRef[Command]
    tryton: ActorRef[Command]
    salesforce: ActorRef[Command]
    harvest_reads: HarvestConnector
    tryton_reads: TrytonConnector
    approvals: ApprovalRequests
    timeout: float
    #: the Salesforce quota class the write-back spends
    salesforce_priority: str
    #: journals what the application causes (a draft's repricing) and queues it
    follow_up: Callable[[Sequence[Envelope]], Awaitable[object]]


def change_order_source(order: ChangeOrder) -> str:
    """What the rate periods and adjustments of `order` name as their source."""
    return f"change_order:{order.source_id}"


def terms_of(order: ChangeOrder) -> str:
    """A digest of what `order` changes (deal, date, value, rates, end date): a later version
    with other terms is a different change, not a repeat. Its status and wording are left
    out (the CRM's echo of ``Applied`` is the same change)."""
    terms = (
        order.engagement_id,
        order.effective_on,
        order.value_delta,
        order.rate_changes,
        order.new_ends_on,
    )
    return hashlib.sha256(msgspec.json.encode(terms)).hexdigest()[:16]
