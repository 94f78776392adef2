"""Model behaviour beyond generic storage: function fields, creation hooks, write locks.

- party.party: `code` from a sequence (unique), `email`, `tax_identifier`;
- project.work: `number` from a sequence; `timesheet_available` creates its timesheet.work
  (origin `project.work,<id>`);
- timesheet.line: a unique `uuid` (null unless given: RPC cannot set it, only the timesheet
  routes and the seeding do), and a duration within its domain (not negative);
- account.invoice: amounts from the lines and their taxes (`invoice_tax`); anything but a
  draft is read-only, and so are its lines, with trytond's own message.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING

from mediator.codecs.tryton import RpcValue
from mediator.sandbox.tryton.errors import user_error

if TYPE_CHECKING:
    from mediator.sandbox.tryton.database import Record, TrytonDatabase

__all__ = [
    "COMPUTED",
    "check_write",
    "invoice_tax",
    "invoice_total",
    "invoice_untaxed",
    "on_create",
]

_CENT = Decimal("0.01")


def _email(db: TrytonDatabase, party: Record) -> object:
    for mechanism in db.tables["party.contact_mechanism"].values():
        if mechanism["party"] == party["id"] and mechanism["type"] == "email":
            return mechanism["value"]
    return ""


def _tax_identifier(db: TrytonDatabase, party: Record) -> object:
    for identifier in db.tables["party.identifier"].values():
        if identifier["party"] == party["id"] and identifier["type"]:
            return identifier["id"]
    return None


def _template(name: str) -> Callable[[TrytonDatabase, Record], object]:
    def get(db: TrytonDatabase, product: Record) -> object:
        return db.record("product.template", product["template"]).get(name)

    return get


def _timesheet_works(db: TrytonDatabase, work: Record) -> object:
    origin = f"project.work,{work['id']}"
    return [w["id"] for w in db.tables["timesheet.work"].values() if w["origin"] == origin]


def _line_amount(db: TrytonDatabase, line: Record) -> Decimal:
    """Return quantity × unit price, rounded to the cent."""
    price = line.get("unit_price") or Decimal(0)
    quantity = Decimal(str(line.get("quantity") or 0))
    return (quantity * price).quantize(_CENT)  # type: ignore[operator]  # numeric is Decimal


def _lines(db: TrytonDatabase, invoice: Record) -> list[Record]:
    return [
        line
        for line in db.tables["account.invoice.line"].values()
        if line["invoice"] == invoice["id"]
    ]


def invoice_untaxed(db: TrytonDatabase, invoice: Record) -> Decimal:
    """Return the sum of the invoice's line amounts (`untaxed_amount`)."""
    return sum((_line_amount(db, line) for line in _lines(db, invoice)), Decimal("0.00"))


def invoice_tax(db: TrytonDatabase, invoice: Record) -> Decimal:
    """Return the invoice's `tax_amount`, as account_invoice's `_compute_taxes` makes it.

    Each line's taxes (`account.tax` of type ``percentage``: quantity × unit price × `rate`, a
    fraction; ``fixed``: quantity × `amount`; ``none``: nothing) are summed per tax, and
    rounded with the currency's digits (half even, as `currency.round` does) after each line
    when `account.configuration.tax_rounding` is ``line``, or once per tax on the whole
    document when it is ``document`` (trytond's default).
    """
    config = next(iter(db.tables["account.configuration"].values()), {})
    per_line = config.get("tax_rounding") == "line"
    unit = _currency_unit(db, invoice)
    taxes: dict[int, Decimal] = {}
    for line in _lines(db, invoice):
        price = line.get("unit_price") or Decimal(0)
        quantity = Decimal(str(line.get("quantity") or 0))
        touched = []
        for tax_id in line.get("taxes") or []:  # type: ignore[attr-defined]  # a list of ids
            tax = db.tables["account.tax"][tax_id]
            if tax["type"] == "percentage":
                amount = price * (tax.get("rate") or Decimal(0)) * quantity  # type: ignore[operator]  # numeric is Decimal
            elif tax["type"] == "fixed":
                amount = (tax.get("amount") or Decimal(0)) * quantity  # type: ignore[operator]  # numeric is Decimal
            else:
                continue
            taxes[tax_id] = taxes.get(tax_id, Decimal(0)) + amount
            touched.append(tax_id)
        if per_line:
            for tax_id in touched:
                taxes[tax_id] = taxes[tax_id].quantize(unit, ROUND_HALF_EVEN)
    return sum((t.quantize(unit, ROUND_HALF_EVEN) for t in taxes.values()), Decimal("0.00"))


def invoice_total(db: TrytonDatabase, invoice: Record) -> Decimal:
    """Return the invoice's `total_amount`: its untaxed amount plus its tax."""
    return invoice_untaxed(db, invoice) + invoice_tax(db, invoice)


def _currency_unit(db: TrytonDatabase, invoice: Record) -> Decimal:
    currency = db.tables["currency.currency"].get(invoice.get("currency"))  # type: ignore[call-overload]  # an id
    digits = currency.get("digits") if currency else None
    return Decimal(1).scaleb(-(digits if isinstance(digits, int) else 2))


def _timesheet_lines(db: TrytonDatabase, work: Record) -> list[Record]:
    origin = f"project.work,{work['id']}"
    works = {w["id"] for w in db.tables["timesheet.work"].values() if w["origin"] == origin}
    return [line for line in db.tables["timesheet.line"].values() if line["work"] in works]


def _timesheet_duration(db: TrytonDatabase, work: Record) -> object:
    durations = [line["duration"] for line in _timesheet_lines(db, work)]
    return sum((d for d in durations if isinstance(d, timedelta)), timedelta(0))


def _amount_to_invoice(db: TrytonDatabase, work: Record) -> object:
    # project_invoice's "timesheet" method: uninvoiced hours at the project's list price
    if work.get("project_invoice_method") != "timesheet":
        return Decimal("0.00")
    price = work.get("list_price") or Decimal(0)
    hours = sum(
        (
            Decimal(str(line["duration"].total_seconds())) / 3600  # type: ignore[attr-defined]  # a line's duration is a timedelta (checked on write)
            for line in _timesheet_lines(db, work)
            if line.get("invoice_line") is None
        ),
        Decimal(0),
    )
    return (hours * price).quantize(_CENT)  # type: ignore[operator]  # numeric is Decimal


def _amount_to_pay(db: TrytonDatabase, invoice: Record) -> object:
    if invoice["state"] != "posted":
        return Decimal("0")
    paid = invoice.get("paid_amount") or Decimal("0.00")
    return invoice_total(db, invoice) - paid  # type: ignore[operator]  # Decimal


COMPUTED: dict[tuple[str, str], Callable[[TrytonDatabase, Record], object]] = {
    ("party.party", "email"): _email,
    ("party.party", "tax_identifier"): _tax_identifier,
    ("product.product", "name"): _template("name"),
    ("product.product", "default_uom"): _template("default_uom"),
    ("product.product", "list_price"): _template("list_price"),
    ("project.work", "timesheet_works"): _timesheet_works,
    ("project.work", "timesheet_duration"): _timesheet_duration,
    ("project.work", "amount_to_invoice"): _amount_to_invoice,
    ("account.invoice", "untaxed_amount"): invoice_untaxed,
    ("account.invoice", "tax_amount"): invoice_tax,
    ("account.invoice", "total_amount"): invoice_total,
    ("account.invoice", "amount_to_pay"): _amount_to_pay,
    ("account.invoice.line", "amount"): _line_amount,
}
"""Function fields, by (model, field)."""


def on_create(db: TrytonDatabase, model: str, record: Record) -> None:
    """Fill what trytond fills on creation (sequences, uuids, linked timesheet works)."""
    if model == "party.party":
        if not record.get("code"):
            db.sequences["party"] = db.sequences.get("party", 0) + 1
            record["code"] = str(db.sequences["party"])
        if _taken(db, model, "code", record):
            raise user_error("The code on party must be unique.")
    elif model == "project.work":
        if not record.get("number"):
            db.sequences["project.work"] = db.sequences.get("project.work", 0) + 1
            record["number"] = str(db.sequences["project.work"])
        if record.get("timesheet_available"):
            _timesheet_work(db, record)
    elif model == "timesheet.line":
        if record.get("uuid") is not None and _taken(db, model, "uuid", record):
            raise user_error("The UUID of timesheet line must be unique.")
        _check_duration(db, record, record.get("duration"))


def _timesheet_work(db: TrytonDatabase, work: Record) -> None:
    """Create the timesheet.work of a project.work available on timesheets."""
    db.create(
        "timesheet.work",
        [
            {
                "name": work["name"],
                "origin": f"project.work,{work['id']}",
                "company": work["company"],
            }
        ],
    )


def _taken(db: TrytonDatabase, model: str, field: str, record: Record) -> bool:
    """Whether another record of `model` holds `record`'s value of `field`; index it if not."""
    index = db.unique.setdefault((model, field), {})
    value = record.get(field)
    owner = index.get(value)
    if owner is not None and owner != record["id"]:
        other = db.tables[model].get(owner)
        if other is not None and other.get(field) == value:
            return True
        # a stale entry: look properly, once
        if any(r.get(field) == value and r is not record for r in db.tables[model].values()):
            return True
    index[value] = int(str(record["id"]))
    return False


def check_write(db: TrytonDatabase, model: str, record: Record, values: Record | None) -> None:
    """Refuse changes to invoices that left draft (and to their lines), and bad durations."""
    invoice: Record | None = None
    if model == "account.invoice":
        invoice = record
    elif model == "account.invoice.line" and record.get("invoice"):
        invoice = db.tables["account.invoice"].get(int(str(record["invoice"])))
    if invoice is not None and invoice["state"] != "draft":
        label = invoice.get("number") or f"({invoice['id']})"
        raise user_error(
            f'You cannot modify invoice "{label}" because it is posted, paid or cancelled.'
        )
    unique = {"timesheet.line": "uuid", "party.party": "code"}.get(model)
    if (
        unique is not None
        and values is not None
        and values.get(unique) is not None
        and _taken(db, model, unique, {**record, unique: values[unique]})
    ):
        what = "UUID of timesheet line" if unique == "uuid" else "code on party"
        raise user_error(f"The {what} must be unique.")
    if model == "timesheet.line" and values is not None:
        _check_duration(db, record, values.get("duration"))


def _check_duration(db: TrytonDatabase, line: Record, duration: object) -> None:
    """Refuse a negative duration as trytond's domain validation does, domain and all."""
    if not isinstance(duration, timedelta) or duration >= timedelta(0):
        return
    raise user_error(
        f'The value "{duration}" for field "Duration" in record '
        f'"{db.rec_name("timesheet.line", line)}" of "Timesheet Line" is not valid according '
        "to its domain.",
        "",
        [[["duration", ">=", timedelta(0)]], {"duration": _duration_definition()}],
    )


def _duration_definition() -> dict[str, RpcValue]:
    """timesheet.line's `fields_get` for duration, as trytond 8.2 puts it in the error."""
    return {
        "context": "{}",
        "loading": "eager",
        "name": "duration",
        "on_change": [],
        "on_change_with": [],
        "readonly": False,
        "required": True,
        "states": "{}",
        "type": "timedelta",
        # the field's domain in PYSON's own encoding, as a string, as trytond sends it
        "domain": '[["duration", ">=", {"__class__": "TimeDelta", "d": 0, "s": 0, "m": 0}]]',
        "searchable": True,
        "sortable": True,
        "string": "Duration",
        "help": "",
        "converter": "company_work_time",
        "create": True,
        "delete": True,
    }
