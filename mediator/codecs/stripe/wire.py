"""Stripe API objects as they arrive (JSON): customers, invoice items, invoices, events, errors.

Amounts are integers in the currency's smallest unit and currencies are lower-case ISO codes
(shared/reference/apis.md §2). Only the fields the flows read are declared; the rest is skipped.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

import msgspec

from mediator.codecs.validation import Identifier, Name, Text

__all__ = [
    "StAddress",
    "StCreditNote",
    "StCreditNoteLine",
    "StCustomer",
    "StError",
    "StErrorBody",
    "StEvent",
    "StEventData",
    "StInvoice",
    "StInvoiceItem",
    "StLineItem",
    "StList",
    "StPeriod",
    "StStatusTransitions",
    "StTaxRate",
]

T = TypeVar("T")
Amount = Annotated[int, msgspec.Meta(ge=-(2**63 - 1), le=2**63 - 1)]
Epoch = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799)]  # up to 9999-12-31
Metadata = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=40)], Annotated[str, msgspec.Meta(max_length=500)]],
    msgspec.Meta(max_length=50),
]  # Stripe's own limits: 50 keys, 40-character keys, 500-character values


class _Object(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    pass


class StAddress(_Object, frozen=True, kw_only=True):
    """A customer address."""

    line1: Text | None = None
    line2: Text | None = None
    city: Name | None = None
    state: Name | None = None
    postal_code: Name | None = None
    country: Identifier | None = None


class StCustomer(_Object, frozen=True, kw_only=True):
    """A ``customer`` (``cus_…``)."""

    id: Identifier
    object: Identifier = "customer"
    name: Name | None = None
    email: Name | None = None
    address: StAddress | None = None
    currency: Identifier | None = None
    tax_exempt: Identifier = "none"
    metadata: Metadata = {}
    deleted: bool = False


class StTaxRate(_Object, frozen=True, kw_only=True):
    """A ``tax_rate`` (``txr_…``): a percentage Stripe applies to invoice lines."""

    id: Identifier
    object: Identifier = "tax_rate"
    display_name: Name
    percentage: Annotated[float, msgspec.Meta(ge=0, le=100)]
    inclusive: bool = False
    active: bool = True


class StPeriod(_Object, frozen=True, kw_only=True):
    """The service period an item or line covers, in epoch seconds."""

    start: Epoch
    end: Epoch


class StInvoiceItem(_Object, frozen=True, kw_only=True):
    """An ``invoiceitem`` (``ii_…``): pending until attached to a draft invoice."""

    id: Identifier
    object: Identifier = "invoiceitem"
    customer: Identifier
    amount: Amount
    currency: Identifier
    description: Text | None = None
    invoice: Identifier | None = None
    quantity: int = 1
    unit_amount: Amount | None = None
    period: StPeriod | None = None
    metadata: Metadata = {}


class StLineItem(_Object, frozen=True, kw_only=True):
    """A ``line_item`` of an invoice."""

    id: Identifier
    amount: Amount
    currency: Identifier
    description: Text | None = None
    quantity: int | None = 1
    period: StPeriod | None = None
    invoice_item: Identifier | None = None
    metadata: Metadata = {}


class StList(_Object, Generic[T], frozen=True, kw_only=True):
    """A list page; fetch the next with ``starting_after`` = the last id while `has_more`."""

    object: Identifier = "list"
    url: Text | None = None
    has_more: bool = False
    data: list[T]


class StStatusTransitions(_Object, frozen=True, kw_only=True):
    """When an invoice changed state (epoch seconds)."""

    finalized_at: Epoch | None = None
    marked_uncollectible_at: Epoch | None = None
    paid_at: Epoch | None = None
    voided_at: Epoch | None = None


class StInvoice(_Object, frozen=True, kw_only=True):
    """An ``invoice`` (``in_…``): draft → open → paid / void / uncollectible."""

    id: Identifier
    object: Identifier = "invoice"
    customer: Identifier
    customer_name: Name | None = None
    status: Identifier | None = None
    number: Identifier | None = None
    currency: Identifier
    subtotal: Amount = 0
    total: Amount = 0
    amount_due: Amount = 0
    amount_paid: Amount = 0
    amount_remaining: Amount = 0
    created: Epoch
    due_date: Epoch | None = None
    status_transitions: StStatusTransitions = StStatusTransitions()
    lines: StList[StLineItem] | None = None
    payment_intent: Identifier | None = None
    charge: Identifier | None = None
    paid_out_of_band: bool = False
    metadata: Metadata = {}
    #: credit notes issued while something was left to pay (they lowered what is due)
    pre_payment_credit_notes_amount: Amount = 0
    #: credit notes issued beyond what was left to pay (a refund or a customer credit)
    post_payment_credit_notes_amount: Amount = 0


class StCreditNoteLine(_Object, frozen=True, kw_only=True):
    """A line of a credit note: a ``custom_line_item`` (`unit_amount` × `quantity`) or an
    ``invoice_line_item`` crediting a line of the invoice."""

    id: Identifier
    type: Identifier
    amount: Amount
    description: Text | None = None
    quantity: int | None = None
    unit_amount: Amount | None = None


class StCreditNote(_Object, frozen=True, kw_only=True):
    """A ``credit_note`` (``cn_…``): a finalized invoice credited, before payment
    (`pre_payment_amount`, lowering what is due) or after it (`post_payment_amount`)."""

    id: Identifier
    object: Identifier = "credit_note"
    invoice: Identifier
    customer: Identifier
    currency: Identifier
    number: Identifier | None = None
    status: Identifier = "issued"
    total: Amount
    pre_payment_amount: Amount = 0
    post_payment_amount: Amount = 0
    out_of_band_amount: Amount | None = None
    memo: Text | None = None
    created: Epoch
    lines: StList[StCreditNoteLine] | None = None
    metadata: Metadata = {}


class StEventData(_Object, frozen=True, kw_only=True):
    """An event's snapshot of the object, and what changed (``*.updated`` only)."""

    object: msgspec.Raw
    previous_attributes: msgspec.Raw = msgspec.Raw(b"null")


class StEvent(_Object, frozen=True, kw_only=True):
    """An ``event`` (``evt_…``), as delivered to a webhook or listed at ``/v1/events``."""

    id: Identifier
    object: Identifier = "event"
    type: Identifier
    created: Epoch
    api_version: Identifier | None = None
    livemode: bool = False
    data: StEventData


class StErrorBody(_Object, frozen=True, kw_only=True):
    """The inside of an error answer."""

    type: Identifier
    code: Identifier | None = None
    message: Text | None = None
    param: Name | None = None
    decline_code: Identifier | None = None
    doc_url: Text | None = None


class StError(_Object, frozen=True, kw_only=True):
    """An error answer: ``{"error": {type, code, message, param}}``."""

    error: StErrorBody
