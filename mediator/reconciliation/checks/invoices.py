"""The invoice check: each finalized Stripe invoice of the period ↔ its posted Tryton receivable.

A Stripe invoice belongs to the period its ``metadata[mediator_period]`` names (billing and
the milestones flow set it), or, without one, to the month it was finalized in. Its
receivable is the Tryton customer invoice whose ``reference`` is the Stripe id (the
receivables flow sets it): one, posted or paid, with Stripe's total (tax included) and
currency. None is *missing* unless the invoice's messages are still open (in flight: held by
the posting window, retrying) or an approval is pending; one that differs (a draft its post
left) is *divergent* unless those messages are open, and linked to their dead letter when the
post died; two or more are a *duplicate*; a Tryton invoice referring to a Stripe invoice that
does not exist is an *orphan*.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from typing import Final

from mediator.codecs.stripe import wire as st
from mediator.reconciliation.known import dead_letters_among
from mediator.reconciliation.model import FieldDiff
from mediator.reconciliation.reads import ErpInvoice
from mediator.reconciliation.run import Run

__all__ = ["FINALIZED", "check_invoices", "period_invoices", "receivables_by_reference"]

#: the states of a Stripe invoice that was finalized (sent)
FINALIZED: Final = frozenset({"open", "paid", "uncollectible"})
_POSTED: Final = frozenset({"posted", "paid"})


def period_invoices(invoices: list[st.StInvoice], period: str) -> list[st.StInvoice]:
    """The finalized invoices of `period`: those billing made for it (its
    ``metadata[mediator_period]``), and the others (a milestone's) finalized in it (UTC)."""
    return [
        i
        for i in invoices
        if (i.status or "") in FINALIZED
        and i.metadata.get("mediator_period", _finalized_in(i)) == period
    ]


def _finalized_in(invoice: st.StInvoice) -> str:
    moment = invoice.status_transitions.finalized_at or invoice.created
    return f"{datetime.datetime.fromtimestamp(moment, datetime.UTC):%Y-%m}"


def receivables_by_reference(erp: list[ErpInvoice]) -> dict[str, list[ErpInvoice]]:
    """Tryton's customer invoices by their Stripe reference (cancelled ones left out)."""
    found: dict[str, list[ErpInvoice]] = defaultdict(list)
    for invoice in erp:
        if invoice.state != "cancelled":
            found[invoice.reference].append(invoice)
    return found


async def check_invoices(run: Run) -> None:
    """Match the period's finalized Stripe invoices with Tryton's receivables."""
    every = await run.reads.invoices()
    ours = period_invoices(every, run.period)
    erp = await run.reads.erp_invoices()
    by_reference = receivables_by_reference(erp)
    keys = [f"invoice:{i.id}" for i in ours]
    open_ = await run.known.open_entries(keys)
    waiting = await run.known.pending_approvals()
    for currency in sorted({i.currency.upper() for i in ours}):
        mine = [i for i in ours if i.currency.upper() == currency]
        run.total(
            "stripe", "finalized invoices", len(mine), _major(sum(i.total for i in mine)), currency
        )
        theirs = [r for i in mine for r in by_reference.get(i.id, ())]
        run.total(
            "tryton",
            "receivables",
            len(theirs),
            sum((r.total for r in theirs), Decimal(0)),
            currency,
        )
    for invoice in ours:
        key = f"invoice:{invoice.id}"
        found = by_reference.get(invoice.id, [])
        entries = open_.get(key, [])
        dead = dead_letters_among(entries)
        since = invoice.status_transitions.finalized_at or invoice.created
        if len(found) > 1:
            run.found(
                "invoices", "duplicate", entity=key, system="tryton", source="stripe", key=key,
                detail=f"{len(found)} Tryton receivables for Stripe invoice "
                f"{invoice.number or invoice.id}: "
                + ", ".join(r.number or str(r.id) for r in found),
                since=since,
            )  # fmt: skip
            continue
        if not found:
            if (entries and not dead) or key in waiting or run.recent(since):
                run.count("invoices", "in_flight")
                continue
            run.found(
                "invoices", "missing", entity=key, system="tryton", source="stripe", key=key,
                detail=f"no Tryton receivable for Stripe invoice {invoice.number or invoice.id} "
                f"({_major(invoice.total)} {invoice.currency.upper()})",
                since=since, journal=tuple(e.id for e in entries), dead_letters=dead,
            )  # fmt: skip
            continue
        diffs = _diffs(invoice, found[0])
        if diffs and entries and not dead:
            run.count("invoices", "in_flight")  # a post under way (retrying): still a draft
        elif diffs:
            # a post that died leaves its draft: the dead letter is what a replay posts
            run.found(
                "invoices", "divergent", entity=key, system="tryton", source="stripe", key=key,
                detail=f"Tryton receivable {found[0].number or found[0].id} differs from Stripe "
                f"invoice {invoice.number or invoice.id}",
                diffs=diffs, since=since, delta=found[0].total - _major(invoice.total),
                currency=invoice.currency.upper(), journal=tuple(e.id for e in entries),
                dead_letters=dead,
            )  # fmt: skip
        else:
            run.count("invoices", "matched")
    known_ids = {i.id for i in every}
    for reference, found in sorted(by_reference.items()):
        if reference in known_ids:
            continue
        for receivable in found:
            run.found(
                "invoices", "orphan", entity=f"invoice:{reference}", system="tryton",
                source="stripe",
                detail=f"Tryton receivable {receivable.number or receivable.id} refers to "
                f"Stripe invoice {reference}, which Stripe does not have",
            )  # fmt: skip


def _diffs(invoice: st.StInvoice, receivable: ErpInvoice) -> tuple[FieldDiff, ...]:
    diffs = []
    total = _major(invoice.total)
    if receivable.total != total:
        diffs.append(FieldDiff(field="total", expected=str(total), found=str(receivable.total)))
    if receivable.currency.upper() != invoice.currency.upper():
        diffs.append(
            FieldDiff(
                field="currency", expected=invoice.currency.upper(), found=receivable.currency
            )
        )
    if receivable.state not in _POSTED:
        diffs.append(FieldDiff(field="state", expected="posted", found=receivable.state))
    return tuple(diffs)


def _major(cents: int) -> Decimal:
    return Decimal(cents) / 100
