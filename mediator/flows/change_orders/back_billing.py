"""Back-billing: what a change order adds to periods already invoiced, held for approval.

When the effective date falls in a month whose invoice was already sent (a `BilledPeriod`
that is ``finalized``), the entries billed in it on or after that date were priced at the old
rates. For each of them whose rate now comes from this change order, the difference is
hours × (new rate − billed rate); a period's differences add up to one `Adjustment`. Nothing
touches the sent invoice: each adjustment is a request for a person's approval, and only an
approved one is journaled (``billing.adjustment.approved``) for the billing flow to put on
the client's next invoice. A rejected one is noted on the saga and billed nowhere.

Each request is remembered under its approval id (flow state `PENDING`), so the decision,
which names only that id, finds its change order and adjustment.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence

import msgspec

from mediator.codecs import Envelope
from mediator.codecs.canonical.engagements import ChangeOrder
from mediator.codecs.canonical.money import Money
from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.billed_periods import (
    Adjustment,
    BilledEntry,
    BilledPeriod,
    load_billed_period,
    period_of,
)
from mediator.flows.billing.periods import read_billed_period
from mediator.flows.change_orders.context import FLOW, Application, change_order_source
from mediator.flows.change_orders.steps import project_of
from mediator.flows.kinds import ADJUSTMENT_APPROVED, FLOW_PAYLOADS, client_key, opportunity_key
from mediator.flows.rate_history import RateHistory, load_rates
from mediator.flows.saga import Saga
from mediator.journal import Journal

__all__ = [
    "PENDING",
    "REPRICED",
    "BackBill",
    "PendingAdjustment",
    "adjustments_for",
    "load_pending",
    "periods_since",
]

#: The flow-state name of the adjustments awaiting a decision, keyed by approval id.
PENDING = "change_orders.adjustment"
#: The prefix of the back-billing step's outputs for drafts repriced (no approval needed).
REPRICED = "reprice:"


class PendingAdjustment(msgspec.Struct, frozen=True, kw_only=True):
    """An adjustment put to a person: the saga it belongs to and the request's own words."""

    change_order: str
    key: str
    entity: str
    what: str
    adjustment: Adjustment


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(PendingAdjustment).decode


async def load_pending(journal: Journal, approval_id: str) -> PendingAdjustment | None:
    """The adjustment the approval `approval_id` is about, or None if this flow filed none."""
    saved = await journal.load_flow(PENDING, approval_id)
    return None if saved is None else _decode(saved.state)


def periods_since(first: datetime.date, today: datetime.date) -> list[str]:
    """The billing periods from `first`'s month to `today`'s, oldest first (none if `first`
    is later)."""
    periods: list[str] = []
    year, month = first.year, first.month
    while (year, month) <= (today.year, today.month):
        periods.append(period_of(datetime.date(year, month, 1)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return periods


def adjustments_for(
    order: ChangeOrder,
    project_id: str,
    history: RateHistory,
    billed: Sequence[BilledPeriod],
    *,
    status: str = "finalized",
) -> list[Adjustment]:
    """One adjustment per period of `status` that billed `project_id`'s entries on or after the
    effective date at rates this change order now replaces (zero-sum periods left out)."""
    source = change_order_source(order)
    found: list[Adjustment] = []
    for period in billed:
        if period.status != status:
            continue
        total = Money.zero(period.currency)
        count = 0
        for entry in period.entries:
            if entry.project_id != project_id or entry.spent_on < order.effective_on:
                continue
            rate = history.rate_on(
                entry.spent_on, consultant_id=entry.consultant_id, role=entry.role
            )
            if rate is None or rate.source != source:
                continue
            if rate.bill_rate.currency != period.currency:
                raise BusinessRejected(
                    f"billed period {period.client_id} {period.period}",
                    f"was invoiced in {period.currency}, change order {order.source_id}'s "
                    f"rates are in {rate.bill_rate.currency}",
                )
            difference = rate.bill_rate.amount - entry.unit_rate
            if difference:
                total = total + Money(amount=difference, currency=period.currency).scale(
                    entry.hours
                )
                count += 1
        if total:
            found.append(
                Adjustment(
                    client_id=period.client_id,
                    period=period.period,
                    description=(
                        f"Change order {order.source_id}"
                        + (f" ({order.description})" if order.description else "")
                        + f": {count} entries of project {project_id} billed in "
                        f"{period.period} before the rates of {order.effective_on.isoformat()}"
                    ),
                    amount=total,
                    source=source,
                )
            )
    return found


@dataclasses.dataclass(frozen=True)
class BackBill:
    """Compute the adjustments of invoiced periods and ask a person to approve each."""

    app: Application
    name: str = "back_billing"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """File one approval request per adjustment; return period → approval id."""
        app = self.app
        order = app.order
        project = project_of(saga)
        history = await load_rates(app.journal, project)
        if history is None:
            raise MissingReference(f"project {project}", "its rate history is gone")
        harvest_client = saga.state.output("harvest_project", "client")
        client = await app.journal.xref_from("harvest", "client", harvest_client)
        if client is None:
            raise MissingReference(
                f"Harvest client {harvest_client}",
                f"of project {project} has no canonical client in the xref map",
            )
        today = datetime.datetime.fromtimestamp(app.clock.time(), datetime.UTC).date()
        billed = [
            found
            for period in periods_since(order.effective_on, today)
            if (found := await load_billed_period(app.journal, client.canonical_id, period))
        ]
        requested: dict[str, str] = {}
        # Entries already on a draft were priced when they were booked, at the rates of then:
        # the difference is due as it is (nothing was sent), journaled for the draft at once.
        drafts = [
            found
            for period in periods_since(order.effective_on, today)
            if (found := await _draft(app.journal, client.canonical_id, period)) is not None
        ]
        for adjustment in adjustments_for(order, project, history, drafts, status="draft"):
            await app.follow_up([_repricing(order, adjustment, app.clock.time())])
            requested[f"{REPRICED}{adjustment.period}"] = str(adjustment.amount)
        for adjustment in adjustments_for(order, project, history, billed):
            pending = PendingAdjustment(
                change_order=order.source_id,
                key=f"{order.source_id}:{adjustment.period}",
                entity=opportunity_key(order.engagement_id),
                what=(
                    f"back-bill {adjustment.amount} to client {adjustment.client_id} for "
                    f"{adjustment.period} for change order {order.source_id}"
                ),
                adjustment=adjustment,
            )
            approval = await app.approvals.request(
                entity=pending.entity,
                key=pending.key,
                what=pending.what,
                amount=adjustment.amount.amount,
                currency=adjustment.amount.currency,
            )
            # remembered after filing: a crash in between files the same request again
            await _remember(app.journal, approval.id, pending)
            requested[adjustment.period] = approval.id
        return requested


async def _draft(journal: Journal, client_id: str, period: str) -> BilledPeriod | None:
    # the client's draft for `period` as billing keeps it (None: none, or no longer a draft)
    view = await read_billed_period(journal, client_id, period)
    if view is None or view.status != "draft":
        return None
    own = [e for e in view.entries if e.origin_period == period]
    return BilledPeriod(
        client_id=client_id,
        period=period,
        currency=own[0].unit_rate.currency if own else "",
        status="draft",
        entries=tuple(
            BilledEntry(
                entry_id=e.entry_id, project_id=e.project_id, consultant_id=e.consultant_id,
                role=e.role, spent_on=e.spent_on, hours=e.hours, unit_rate=e.unit_rate.amount,
            )
            for e in own
        ),
    )  # fmt: skip


def _repricing(order: ChangeOrder, adjustment: Adjustment, now: float) -> Envelope:
    return FLOW_PAYLOADS.envelope(
        ADJUSTMENT_APPROVED,
        adjustment,
        key=client_key(adjustment.client_id),
        source="mediator",
        idempotency_key=f"{FLOW}:{order.source_id}:reprice:{adjustment.period}",
        occurred_at=datetime.datetime.fromtimestamp(now, datetime.UTC),
    )


async def _remember(journal: Journal, approval_id: str, pending: PendingAdjustment) -> None:
    saved = await journal.load_flow(PENDING, approval_id)
    if saved is None:
        await journal.save_flow(PENDING, approval_id, _encode(pending), expected_version=0)
