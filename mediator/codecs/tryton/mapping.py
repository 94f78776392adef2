"""Tryton ↔ canonical: the values the flows create in the ERP, and the records they read back.

Writes are plain ``create`` values for `party.party`, `project.work`, `timesheet.line` and
`account.invoice` (with its lines as a ``[["create", [...]]]`` action). Tryton runs no
``on_change`` over RPC, so every value the desktop client would fill in is passed explicitly;
the ERP ids they need (company, journal, accounts, product, unit) come in `ErpSetup`.
Reads validate ``read``/``search_read`` results (already untagged by `tryton_rpc`) with the
record's path in the answer: ``$.result[3].total_amount``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TypeVar

import msgspec

from mediator.codecs.canonical.billing import Invoice, InvoiceLine, InvoiceStatus, Payment
from mediator.codecs.canonical.commands import effect_reference
from mediator.codecs.canonical.engagements import Project
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Client, TaxProfile
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.codecs.tryton import wire
from mediator.codecs.tryton.values import RpcValue
from mediator.codecs.validation import convert
from mediator.errors import DecodeError

__all__ = [
    "ErpSetup",
    "invoice_to_tryton",
    "party_to_tryton",
    "pay_wizard_start",
    "project_to_tryton",
    "read_invoices",
    "read_parties",
    "read_timesheet_lines",
    "timesheet_key",
    "timesheet_line_to_tryton",
]

SYSTEM: Final = "tryton"
R = TypeVar("R")
_KEY = re.compile(r"\[mediator (?P<key>[^\]]{1,200})\]$")
_STATES: Mapping[str, InvoiceStatus] = MappingProxyType(
    {"draft": "draft", "validated": "draft", "posted": "open", "paid": "paid", "cancelled": "void"}
)
_MICROS_PER_HOUR = Decimal(3_600_000_000)


class ErpSetup(msgspec.Struct, frozen=True, kw_only=True):
    """The ERP ids every create needs: what the Tryton client would have filled in."""

    company: int
    currency: int
    journal: int
    receivable_account: int
    revenue_account: int
    payment_term: int
    product: int
    unit: int
    employee_by_consultant: dict[str, int] = {}


def party_to_tryton(client: Client, *, tax_scheme: str = "eu_vat") -> dict[str, RpcValue]:
    """Return ``party.party`` create values for `client` (address, email, tax identifier)."""
    values: dict[str, RpcValue] = {"name": client.name}  # the code comes from Tryton's sequence
    address = client.billing_address
    if address is not None:
        values["addresses"] = [
            [
                "create",
                [
                    {
                        "street": address.street or "",
                        "city": address.city or "",
                        "postal_code": address.postal_code or "",
                    }
                ],
            ]
        ]
    if client.email:
        values["contact_mechanisms"] = [["create", [{"type": "email", "value": client.email}]]]
    if client.tax.tax_id:
        scheme = client.tax.scheme or tax_scheme
        values["identifiers"] = [["create", [{"type": scheme, "code": client.tax.tax_id}]]]
    return values


def project_to_tryton(project: Project, *, party: int, setup: ErpSetup) -> dict[str, RpcValue]:
    """Return ``project.work`` create values: invoiced on timesheets at the hourly rate."""
    t_and_m = project.billing_model == "time_and_materials"
    return {
        "name": project.name,
        "type": "project",
        "company": setup.company,
        "party": party,
        "timesheet_available": True,
        "project_invoice_method": "timesheet" if t_and_m else "manual",
        "product": setup.product,
        "list_price": None if project.hourly_rate is None else project.hourly_rate.to_decimal(),
    }


def timesheet_key(entry: TimeEntry, revision: int = 0) -> str:
    """Return the key that marks `entry`'s ``timesheet.line`` at `revision`, stable on retries.

    JSON-RPC cannot set a line's ``uuid`` (trytond 8.2: "You are not allowed to modify the
    field UUID"), so the key rides at the end of the description as ``[mediator <key>]``,
    where the connector searches for it before creating and `read_timesheet_lines` finds it.
    A corrected entry goes out under the next revision.
    """
    return effect_reference(entry, revision)


def timesheet_line_to_tryton(
    entry: TimeEntry, *, work: int, setup: ErpSetup, revision: int = 0
) -> dict[str, RpcValue]:
    """Return ``timesheet.line`` create values for `entry`, marked with its `timesheet_key`.

    Raises `KeyError` when `setup` maps the consultant to no ERP employee (a setup gap).
    """
    employee = setup.employee_by_consultant.get(entry.consultant_id)
    if employee is None:
        raise KeyError(f"no ERP employee for consultant {entry.consultant_id!r}")
    text = entry.notes or entry.task or ""
    return {
        "company": setup.company,
        "employee": employee,
        "work": work,
        "date": entry.spent_on,
        "duration": datetime.timedelta(microseconds=int(entry.hours * _MICROS_PER_HOUR)),
        "description": f"{text} [mediator {timesheet_key(entry, revision)}]".lstrip(),
    }


def invoice_to_tryton(
    invoice: Invoice,
    *,
    party: int,
    invoice_address: int,
    setup: ErpSetup,
    taxes: tuple[int, ...] = (),
) -> dict[str, RpcValue]:
    """Return ``account.invoice`` create values for a customer invoice and its lines.

    The billing invoice's number travels as `reference`, which reconciliation matches on.
    Each line carries the ``account.tax`` ids `taxes` (Tryton computes the tax from them).
    """
    lines: list[RpcValue] = [_invoice_line(line, setup, taxes) for line in invoice.lines]
    return {
        "type": "out",
        "company": setup.company,
        "party": party,
        "invoice_address": invoice_address,
        "currency": setup.currency,
        "journal": setup.journal,
        "account": setup.receivable_account,
        "payment_term": setup.payment_term,
        "invoice_date": invoice.issued_on,
        "reference": invoice.number or invoice.source_id,
        "description": invoice.source_id,
        "lines": [["create", lines]],
    }


def _invoice_line(
    line: InvoiceLine, setup: ErpSetup, taxes: tuple[int, ...] = ()
) -> dict[str, RpcValue]:
    # Tryton computes the amount itself: round(Decimal(str(quantity)) × unit_price), half even.
    # When that would not give the line's amount (a price with more digits than the currency),
    # bill one unit at the amount, so the ERP's receivable equals what billing charged.
    quantity, unit_price = float(line.quantity), line.unit_amount.to_decimal()
    recomputed = Money.from_decimal(Decimal(str(quantity)) * unit_price, line.amount.currency)
    if recomputed != line.amount:
        quantity, unit_price = 1.0, line.amount.to_decimal()
    values: dict[str, RpcValue] = {
        "type": "line",
        "product": setup.product,
        "description": line.description,
        "quantity": quantity,
        "unit": setup.unit,
        "unit_price": unit_price,
        "account": setup.revenue_account,
    }
    if line.origin_id is not None:
        values["note"] = line.origin_id
    if taxes:
        values["taxes"] = [["add", list(taxes)]]
    return values


def pay_wizard_start(payment: Payment, *, payment_method: int) -> dict[str, RpcValue]:
    """Return the ``start`` state of the ``account.invoice.pay`` wizard for `payment`."""
    return {
        "amount": payment.amount.to_decimal(),
        "date": payment.received_on,
        "description": payment.reference or payment.source_id,
        "payment_method": payment_method,
    }


def _records(result: RpcValue, kind: type[R]) -> list[R]:
    try:
        return convert(SYSTEM, result, list[kind])  # type: ignore[valid-type]  # a type var
    except DecodeError as exc:
        raise DecodeError(SYSTEM, "$.result" + exc.path[1:], exc.reason) from exc


def read_parties(result: RpcValue) -> list[Client]:
    """Map a ``party.party`` read of ``name, code, tax_identifier.code``."""
    return [
        Client(
            source_system=SYSTEM,
            source_id=str(party.id),
            name=party.name,
            tax=TaxProfile(
                tax_id=None if party.tax_identifier is None else party.tax_identifier.code
            ),
            is_active=bool(party.active),
        )
        for party in _records(result, wire.TrParty)
    ]


def read_timesheet_lines(result: RpcValue) -> list[TimeEntry]:
    """Map ``timesheet.line`` records: `project_id` is the timesheet work, hours exact to 1 µs,
    and the `timesheet_key` marker (when present) becomes `external_reference`."""
    entries = []
    for index, line in enumerate(_records(result, wire.TrTimesheetLine)):
        if line.duration < datetime.timedelta(0):
            raise DecodeError(SYSTEM, f"$.result[{index}].duration", "negative duration")
        micros = line.duration // datetime.timedelta(microseconds=1)
        hours = (Decimal(micros) / _MICROS_PER_HOUR).quantize(Decimal("0.000001")).normalize()
        description = line.description or ""
        marker = _KEY.search(description)
        entries.append(
            TimeEntry(
                source_system=SYSTEM,
                source_id=str(line.id),
                project_id=str(line.work),
                consultant_id=str(line.employee),
                spent_on=line.date,
                hours=hours,
                notes=_KEY.sub("", description).rstrip(),
                billable=False,
                external_reference=None if marker is None else marker["key"],
            )
        )
    return entries


def read_invoices(
    result: RpcValue, *, party_to_client: dict[int, str] | None = None
) -> list[Invoice]:
    """Map ``account.invoice`` records read with ``currency.code`` and ``lines.*`` (with
    ``lines.note``, which carries each line's `origin_id`).

    `client_id` is the party id, or the canonical id `party_to_client` gives for it.
    """
    invoices = []
    for index, record in enumerate(_records(result, wire.TrInvoice)):
        path = f"$.result[{index}]"
        state = _STATES.get(record.state)
        if state is None:
            raise DecodeError(SYSTEM, f"{path}.state", f"unknown state {record.state!r:.20}")
        currency = record.currency.code
        try:
            lines = tuple(
                InvoiceLine(
                    description=line.description or "",
                    quantity=line.quantity,
                    unit_amount=Money.from_decimal(line.unit_price, currency),
                    amount=Money.from_decimal(line.amount, currency),
                    origin_id=line.note,
                )
                for line in record.lines
            )
            total = Money.from_decimal(record.total_amount, currency)
            due = record.amount_to_pay if record.amount_to_pay is not None else record.total_amount
            invoices.append(
                Invoice(
                    source_system=SYSTEM,
                    source_id=str(record.id),
                    client_id=(party_to_client or {}).get(record.party, str(record.party)),
                    number=record.number,
                    status=state,
                    currency=currency,
                    lines=lines,
                    subtotal=Money.from_decimal(record.untaxed_amount, currency),
                    tax=Money.from_decimal(record.tax_amount, currency),
                    total=total,
                    amount_due=Money.from_decimal(due, currency),
                    issued_on=record.invoice_date,
                )
            )
        except ValueError as exc:
            raise DecodeError(SYSTEM, path, str(exc)) from exc
    return invoices
