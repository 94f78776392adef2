"""What is owed and what was paid: invoices, their lines, payments."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Literal, TypeAlias

import msgspec

from mediator.codecs.canonical.entity import Entity
from mediator.codecs.canonical.money import Money, require_currency
from mediator.codecs.scalars import require_finite

__all__ = ["Invoice", "InvoiceLine", "Payment"]

InvoiceStatus: TypeAlias = Literal["draft", "open", "paid", "void", "uncollectible"]
"""Stripe's invoice states, which the ERP's draft → posted → paid / cancelled map onto."""


class InvoiceLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One charge: `quantity` × `unit_amount` = `amount`, and what it bills (`origin_id`).

    `origin_id` is the canonical key of what the line bills (``time_entry:123``,
    ``milestone:a0B...``): reconciliation matches lines across systems by it.
    """

    description: str
    quantity: Decimal = Decimal(1)
    unit_amount: Money
    amount: Money
    origin_id: str | None = None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None

    def __post_init__(self) -> None:
        require_finite(self.quantity, "quantity")


class Invoice(Entity, frozen=True, kw_only=True):
    """A customer invoice; a posted one is corrected by a credit note, never deleted.

    `total` includes tax; `amount_due` is what is still unpaid.
    """

    client_id: str
    engagement_id: str | None = None
    number: str | None = None
    status: InvoiceStatus = "draft"
    currency: str
    lines: tuple[InvoiceLine, ...] = ()
    subtotal: Money
    tax: Money | None = None
    total: Money
    amount_due: Money
    issued_on: datetime.date | None = None
    due_on: datetime.date | None = None
    credit_note_of: str | None = None

    def __post_init__(self) -> None:
        require_currency(self.currency, self.subtotal, self.tax, self.total, self.amount_due)
        for line in self.lines:
            require_currency(self.currency, line.unit_amount, line.amount)


class Payment(Entity, frozen=True, kw_only=True):
    """Cash received from a client and the invoice it pays."""

    client_id: str
    invoice_id: str | None = None
    amount: Money
    received_on: datetime.date
    method: str | None = None
    reference: str | None = None
