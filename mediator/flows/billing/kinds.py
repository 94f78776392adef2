"""The billing leg's journal kinds, their payloads, and the keys that order them.

Billable time and expenses are delivered to billing under kinds of their own (one kind, one
flow): the Harvest pollers journal `BILLABLE_TIME` beside the ERP's ``psa.time_entry.approved``
for the same version of an entry, under the ERP's key with ``billing:`` in front
(``billing:project:<harvest id>``): every version in the same order, parked on its own.
Flush and close requests are keyed by the invoice they are about (`invoice_key`), so one
invoice's Stripe writes are serialized.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from mediator.codecs import CANONICAL, PayloadSchema
from mediator.flows.billed_periods import Adjustment

__all__ = [
    "ADJUSTMENT_APPROVED",
    "APPROVED_EXPENSE",
    "BILLABLE_TIME",
    "CLOSE_PERIOD",
    "FLUSH_INVOICE",
    "PAYLOADS",
    "Adjustment",
    "InvoiceRequest",
    "Period",
    "invoice_key",
]

#: A billable approved time entry, one version (payload: `TimeEntry`), key
#: ``billing:project:<harvest id>``.
BILLABLE_TIME = "psa.time_entry.billable"
#: An approved expense, one version (payload: `Expense`), key ``billing:project:<id>``.
APPROVED_EXPENSE = "psa.expense.approved"
#: Push a client's period aggregates to its draft invoice (payload: `InvoiceRequest`).
FLUSH_INVOICE = "billing.invoice.flush"
#: Finalize a client's invoice for a period once all of it is billed (`InvoiceRequest`).
CLOSE_PERIOD = "billing.period.close"
#: An approved adjustment (a change order's back-billing) for a client's next invoice
#: (payload: `Adjustment`), key ``client:<canonical id>``.
ADJUSTMENT_APPROVED = "billing.adjustment.approved"

#: A billing period: a calendar month, ``YYYY-MM``.
Period = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class InvoiceRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Which invoice a flush or close is about: a client (canonical id) and a period."""

    client_id: str
    period: Period


PAYLOADS = (
    CANONICAL.with_alias(BILLABLE_TIME, like="time_entry")
    .with_alias(APPROVED_EXPENSE, like="expense")
    .with_schema(PayloadSchema(kind=FLUSH_INVOICE, type=InvoiceRequest))
    .with_schema(PayloadSchema(kind=CLOSE_PERIOD, type=InvoiceRequest))
    .with_schema(PayloadSchema(kind=ADJUSTMENT_APPROVED, type=Adjustment))
)
"""The canonical payloads with the billing kinds (time and expenses as in `CANONICAL`)."""


def invoice_key(client_id: str, period: str) -> str:
    """The entity key of a client's invoice for `period`: its flushes and its close."""
    return f"invoice:{client_id}:{period}"
