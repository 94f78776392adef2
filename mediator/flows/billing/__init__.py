"""Approved time and expenses → Stripe invoices: the billing leg of flow 2 (DESIGN §5).

Billable approved entries are priced at the rate in force on their day (`pricing`) and
booked onto durable aggregates per client, period, project, role and rate (`ledger`, `state`);
a delivery writes no Stripe call. The flush schedule pushes changed aggregates to the client's
draft invoice, each item created once and then updated (`invoicing`); the close schedule
finalizes it once everything of the client has been delivered (`schedules`). Corrections of a
finalized invoice go on the next one, never onto the sent one; with ``corrections =
"credit_note"`` those that lower it are Stripe credit notes on it (`credit_notes`).
`BillingDesk` is the entity actor; the plug-in that joins it to the Harvest pollers is
`mediator.runtime.catalog`.
"""

from mediator.flows.billed_periods import period_of
from mediator.flows.billing.desk import BillingDesk
from mediator.flows.billing.invoicing import Invoicing, invoice_lines
from mediator.flows.billing.kinds import (
    ADJUSTMENT_APPROVED,
    APPROVED_EXPENSE,
    BILLABLE_TIME,
    CLOSE_PERIOD,
    FLUSH_INVOICE,
    PAYLOADS,
    Adjustment,
    InvoiceRequest,
    invoice_key,
)
from mediator.flows.billing.ledger import book, invoice_entity, next_period
from mediator.flows.billing.periods import BilledEntry, BilledPeriod, read_billed_period
from mediator.flows.billing.schedules import CloseSchedule, FlushSchedule, period_cutoff
from mediator.flows.billing.state import Contribution, InvoiceState

__all__ = [
    "ADJUSTMENT_APPROVED",
    "APPROVED_EXPENSE",
    "BILLABLE_TIME",
    "CLOSE_PERIOD",
    "FLUSH_INVOICE",
    "PAYLOADS",
    "Adjustment",
    "BilledEntry",
    "BilledPeriod",
    "BillingDesk",
    "CloseSchedule",
    "Contribution",
    "FlushSchedule",
    "InvoiceRequest",
    "InvoiceState",
    "Invoicing",
    "book",
    "invoice_entity",
    "invoice_key",
    "invoice_lines",
    "next_period",
    "period_cutoff",
    "period_of",
    "read_billed_period",
]
