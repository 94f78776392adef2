"""The entries billed per client and period, read from the billing flow's own state.

`read_billed_period` assembles them from the invoice and its shards; at finalization the
billing flow records the finalized period for other flows (`mediator.flows.billed_periods`:
what change orders read to back-bill) with `record_finalized`. Quantities are hours; a
correction of a finalized period appears, with negative hours, in the period whose invoice
carries it.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.flows import billed_periods as shared
from mediator.flows.billing.ledger import invoice_entity
from mediator.flows.billing.state import INVOICE, SHARD, InvoiceState, Shard, load, shard_id
from mediator.journal import Journal

__all__ = ["BilledEntry", "BilledPeriod", "read_billed_period", "record_finalized"]


class BilledEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry's hours on a period's invoice, at the unit rate they were billed at."""

    entry_id: str
    project_id: str
    consultant_id: str
    role: str
    spent_on: datetime.date
    hours: Decimal
    unit_rate: Money
    #: the period the hours were worked in (another one for a correction carried later)
    origin_period: str


class BilledPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """A client's invoice for one period: its status and the time entries it bills."""

    client_id: str
    period: str
    status: Literal["draft", "finalized"]
    invoice_id: str = ""
    entries: tuple[BilledEntry, ...] = ()


async def read_billed_period(journal: Journal, client_id: str, period: str) -> BilledPeriod | None:
    """The time billed to `client_id` (canonical id) for `period` (``YYYY-MM``), or None when
    nothing was; an invoice being closed counts as finalized (it takes no more items)."""
    state, _ = await load(journal, INVOICE, invoice_entity(client_id, period), InvoiceState)
    if state is None:
        return None
    entries: list[BilledEntry] = []
    for part in state.shards:
        shard, _ = await load(journal, SHARD, shard_id(client_id, period, part), Shard)
        entries.extend(
            BilledEntry(
                entry_id=c.entry_id,
                project_id=c.project_id,
                consultant_id=c.consultant_id,
                role=c.what,
                spent_on=c.spent_on,
                hours=c.quantity,
                unit_rate=c.unit_rate,
                origin_period=c.origin_period,
            )
            for c in (shard.contributions.values() if shard is not None else ())
            if c.unit == "hour"
        )
    return BilledPeriod(
        client_id=client_id,
        period=period,
        status="draft" if state.status == "draft" else "finalized",
        invoice_id=state.invoice_id,
        entries=tuple(sorted(entries, key=lambda e: (e.spent_on, e.entry_id))),
    )


async def record_finalized(journal: Journal, client_id: str, period: str) -> None:
    """Record the period's invoice as finalized, with the hours it bills for work of that
    period, where other flows read it (`mediator.flows.billed_periods`). Written again
    unchanged by a repeat (after a crash before the invoice's own state was saved)."""
    billed = await read_billed_period(journal, client_id, period)
    if billed is None:
        return
    own = [e for e in billed.entries if e.origin_period == period]
    currency = own[0].unit_rate.currency if own else ""
    await shared.save_billed_period(
        journal,
        shared.BilledPeriod(
            client_id=client_id,
            period=period,
            currency=currency,
            status="finalized",
            invoice_id=billed.invoice_id or None,
            entries=tuple(
                shared.BilledEntry(
                    entry_id=e.entry_id,
                    project_id=e.project_id,
                    consultant_id=e.consultant_id,
                    role=e.role,
                    spent_on=e.spent_on,
                    hours=e.hours,
                    unit_rate=e.unit_rate.amount,
                )
                for e in own
            ),
        ),
    )
