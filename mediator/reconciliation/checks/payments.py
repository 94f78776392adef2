"""The payment check: what Stripe says was paid on each invoice of the period ↔ what Tryton
has applied to its receivable ↔ what the CRM was told.

Cash application makes the receivable's paid amount equal Stripe's ``amount_paid`` plus the
credit notes issued before payment (``pre_payment_credit_notes_amount``, settled against the
receivable). Tryton showing less is *missing* (or in flight while the invoice's messages are
open); more, by a whole multiple of what Stripe received, is a payment applied twice
(*duplicate*); any other difference is *divergent*. The CRM's Opportunity carries the status
of the last invoice it was told of (``Invoice_Number__c``, ``Amount_Paid__c``): where that is
one of the period's invoices, its amount must be Stripe's.
"""

from __future__ import annotations

from decimal import Decimal

from mediator.codecs.stripe import wire as st
from mediator.reconciliation.checks.invoices import period_invoices, receivables_by_reference
from mediator.reconciliation.known import dead_letters_among
from mediator.reconciliation.model import FieldDiff
from mediator.reconciliation.run import Run

__all__ = ["check_payments"]


async def check_payments(run: Run) -> None:
    """Match the period's payments between Stripe, Tryton and the CRM."""
    ours = period_invoices(await run.reads.invoices(), run.period)
    by_reference = receivables_by_reference(await run.reads.erp_invoices())
    keys = [f"invoice:{i.id}" for i in ours]
    open_ = await run.known.open_entries(keys)
    paid_in_stripe = [i for i in ours if i.amount_paid > 0]
    for currency in sorted({i.currency.upper() for i in paid_in_stripe}):
        mine = [i for i in paid_in_stripe if i.currency.upper() == currency]
        run.total(
            "stripe",
            "payments",
            len(mine),
            Decimal(sum(i.amount_paid for i in mine)) / 100,
            currency,
        )
    for invoice in ours:
        found = by_reference.get(invoice.id, [])
        if len(found) != 1:
            continue  # no receivable, or several: the invoice check reports it
        receivable = found[0]
        key = f"invoice:{invoice.id}"
        entries = open_.get(key, [])
        dead = dead_letters_among(entries)
        want = Decimal(invoice.amount_paid + invoice.pre_payment_credit_notes_amount) / 100
        have = receivable.paid
        since = invoice.status_transitions.paid_at or invoice.created
        if have == want:
            if want:
                run.count("payments", "matched")
            continue
        if (entries and not dead) or run.recent(since):
            run.count("payments", "in_flight")
            continue
        diff = (FieldDiff(field="paid", expected=str(want), found=str(have)),)
        common = {
            "entity": key, "system": "tryton", "source": "stripe", "key": key, "diffs": diff,
            "delta": have - want, "currency": invoice.currency.upper(), "since": since,
            "journal": tuple(e.id for e in entries), "dead_letters": dead,
        }  # fmt: skip
        label = invoice.number or invoice.id
        if have < want:
            run.found(
                "payments", "missing",
                detail=f"Stripe received {want} on {label}, Tryton shows {have} applied",
                **common,  # type: ignore[arg-type]
            )  # fmt: skip
        elif want > 0 and have % want == 0:
            run.found(
                "payments", "duplicate",
                detail=f"the payment of {want} on {label} is applied {have / want:.0f} times "
                f"in Tryton ({have})",
                **common,  # type: ignore[arg-type]
            )  # fmt: skip
        else:
            run.found(
                "payments", "divergent",
                detail=f"Stripe received {want} on {label}, Tryton shows {have} applied",
                **common,  # type: ignore[arg-type]
            )  # fmt: skip
    await _crm(run, ours)


async def _crm(run: Run, ours: list[st.StInvoice]) -> None:
    if "salesforce" not in run.reads.connectors:
        return
    by_number = {i.number: i for i in ours if i.number}
    for opportunity in await run.reads.crm_invoice_statuses():
        invoice = by_number.get(opportunity.Invoice_Number__c or "")
        if invoice is None:
            continue  # another period's invoice
        want = Decimal(invoice.amount_paid) / 100
        have = (opportunity.Amount_Paid__c or Decimal(0)).quantize(Decimal("0.01"))
        if have == want:
            run.count("payments", "matched")
            continue
        key = f"invoice:{invoice.id}"
        if run.recent(invoice.status_transitions.paid_at):
            run.count("payments", "in_flight")
            continue
        run.found(
            "payments", "divergent", entity=key, system="salesforce", source="stripe", key=key,
            detail=f"Opportunity {opportunity.Id} says {have} paid on {invoice.number}, "
            f"Stripe {want}",
            diffs=(FieldDiff(field="Amount_Paid__c", expected=str(want), found=str(have)),),
            delta=have - want, currency=invoice.currency.upper(),
        )  # fmt: skip
