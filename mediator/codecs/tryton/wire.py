"""Tryton records as ``read``/``search_read`` return them, once tagged values are decoded.

Many2One fields come back as ids; a dotted field name asked for in the read
(``"currency.code"``) comes back under the key ``"currency."`` as ``{"id": …, "code": …}``
(shared/reference/tryton/REPORT.md §4), declared here with msgspec's ``name=``.
Validation runs with `mediator.codecs.validation.convert` on the decoded result.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from mediator.codecs.validation import Identifier, Name, Text, WireStruct

__all__ = [
    "TrCurrencyRef",
    "TrInvoice",
    "TrInvoiceLine",
    "TrParty",
    "TrProject",
    "TrTimesheetLine",
]

TrId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class _Record(WireStruct, frozen=True, kw_only=True, gc=False):
    id: TrId


class TrCurrencyRef(_Record, frozen=True, kw_only=True):
    """``currency.code`` read through a dotted field: ``{"id": 1, "code": "EUR"}``."""

    code: Identifier


class _CodeRef(_Record, frozen=True, kw_only=True):
    code: Identifier | None = None


class TrParty(_Record, frozen=True, kw_only=True):
    """``party.party``: name, code, and its tax identifier (``tax_identifier.code``)."""

    name: Name
    code: Identifier | None = None
    active: bool | Annotated[int, msgspec.Meta(ge=0, le=1)] = True  # SQLite answers 1/0
    tax_identifier: _CodeRef | None = msgspec.field(default=None, name="tax_identifier.")


class TrProject(_Record, frozen=True, kw_only=True):
    """``project.work`` of type project: the ERP side of a delivery project."""

    name: Name
    type: Identifier = "project"
    party: TrId | None = None
    list_price: Decimal | None = None
    project_invoice_method: Identifier | None = None
    effort_duration: datetime.timedelta | None = None


class TrTimesheetLine(_Record, frozen=True, kw_only=True):
    """``timesheet.line``: `duration` is a timedelta; `uuid` is unique (our idempotency key)."""

    date: datetime.date
    duration: datetime.timedelta
    employee: TrId
    work: TrId
    description: Text | None = None
    uuid: Identifier | None = None


class TrInvoiceLine(_Record, frozen=True, kw_only=True):
    """``account.invoice.line``: quantity (a float field in Tryton) × unit price = amount."""

    description: Text | None = None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    note: Text | None = None  # where the mediator keeps the canonical key of what it bills


class TrInvoice(_Record, frozen=True, kw_only=True):
    """``account.invoice``: draft → validated → posted → paid, or cancelled."""

    type: Identifier = "out"
    number: Identifier | None = None
    reference: Identifier | None = None
    state: Identifier
    party: TrId
    currency: TrCurrencyRef = msgspec.field(name="currency.")
    invoice_date: datetime.date | None = None
    untaxed_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    amount_to_pay: Decimal | None = None
    lines: list[TrInvoiceLine] = msgspec.field(default_factory=list, name="lines.")
