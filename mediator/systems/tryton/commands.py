"""The effects a flow asks of Tryton, and what comes back.

Tryton has no idempotency key, so every write names an external reference that the record
itself carries in a searchable field, and the connector looks it up before creating: a retry
after a lost answer finds the first record instead of making a second. The field per model
(`REFERENCE_FIELDS`) was chosen against a real trytond 8.2, where read-only fields cannot be
written over RPC ("You are not allowed to modify the field …"):

- ``party.party.code``: unique, and taken as given instead of drawn from the sequence;
- ``project.work.name``: ``number`` is read-only (sequence-drawn) and there is no other
  writable unique field, so the flow names projects uniquely (``P-1042 Website relaunch``);
- ``timesheet.line.description``: ``uuid`` is unique but read-only over RPC, so the whole
  description is the reference, with the time entry's key in it
  (`mediator.codecs.tryton.mapping.timesheet_line_to_tryton` writes ``… [mediator <key>]``);
- ``account.invoice.reference``.

`WriteRecord` changes records named by id with absolute values; repeating it writes the same
values again, so it needs no reference.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType

import msgspec

from mediator.codecs.tryton import RpcValue
from mediator.systems.connector import Command

__all__ = [
    "REFERENCE_FIELDS",
    "AppliedPayment",
    "ApplyPayment",
    "CreateRecord",
    "PostInvoice",
    "PostedInvoice",
    "RecordRef",
    "WriteRecord",
    "Written",
]

REFERENCE_FIELDS = MappingProxyType(
    {
        "party.party": "code",
        "project.work": "name",
        "timesheet.line": "description",
        "account.invoice": "reference",
    }
)
"""The field that carries a record's external reference, per model."""


class CreateRecord(Command, frozen=True, kw_only=True):
    """Create one `model` record from `values` unless one with `reference` exists.

    The connector writes `reference` into the model's reference field (a value already there
    must equal it). Queued creates of one model go to Tryton as one list ``create``; the
    result is a `RecordRef`.
    """

    model: str
    values: dict[str, RpcValue]
    reference: str


class WriteRecord(Command, frozen=True, kw_only=True):
    """Set `values` on the `model` records `ids` (``model.<model>.write``).

    The values are absolute, so a repeat after a lost answer changes nothing. A record's
    reference field (`REFERENCE_FIELDS`) is never written: it is how creates find it. Queued
    writes of one model go to Tryton as one ``write`` of id and value pairs; the result is a
    `Written`.
    """

    model: str
    ids: tuple[int, ...]
    values: dict[str, RpcValue]


class PostInvoice(Command, frozen=True, kw_only=True):
    """Create the customer invoice `values` (lines as a ``create`` action), validate and post it.

    `reference` goes to ``account.invoice.reference`` and is looked up first, so a retry
    continues an invoice left in draft or validated and never makes a second one. The result
    is a `PostedInvoice`.
    """

    values: dict[str, RpcValue]
    reference: str


class RecordRef(msgspec.Struct, frozen=True, kw_only=True):
    """A record made (or found) for a `CreateRecord`.

    `existed` is True when the lookup found the record: made earlier, by another command with
    the same reference, or by this command's own attempt whose answer was lost.
    """

    model: str
    id: int
    reference: str
    existed: bool


class PostedInvoice(msgspec.Struct, frozen=True, kw_only=True):
    """A posted customer invoice as Tryton numbered and totalled it."""

    id: int
    reference: str
    number: str
    state: str
    invoice_date: dt.date | None
    total_amount: Decimal
    existed: bool


class ApplyPayment(Command, frozen=True, kw_only=True):
    """Bring what is paid on the posted customer invoice `invoice` up to `paid_total`, through
    the ``account.invoice.pay`` wizard with `payment_method`.

    `paid_total` is everything the customer has paid on it so far (billing's amount paid), in
    the invoice's `currency` (ISO code). The connector reads what the invoice already has paid
    first and pays only the difference, so a retry, a replay or a second event for the same
    payment applies nothing twice; a partial payment is paid as partial. The result is an
    `AppliedPayment`.
    """

    invoice: int
    paid_total: Decimal
    currency: str
    payment_method: int
    received_on: dt.date
    description: str


class AppliedPayment(msgspec.Struct, frozen=True, kw_only=True):
    """What an `ApplyPayment` found and did: the invoice's total, what was paid before and by
    this command (0 when it was applied already), and its state after."""

    invoice: int
    total: Decimal
    paid_before: Decimal
    applied: Decimal
    state: str


class Written(msgspec.Struct, frozen=True, kw_only=True):
    """The records a `WriteRecord` changed."""

    model: str
    ids: tuple[int, ...]
