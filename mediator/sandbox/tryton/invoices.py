"""The customer invoice workflow and the pay wizard of account_invoice.

Buttons act as trytond's `@Workflow.transition` does: records not in a state the transition
starts from are skipped silently. draft → validate_invoice → validated → post → posted (number
`INV<year>-<n>`, invoice date defaulted, a move created); draft/validated → cancel →
cancelled; validated/cancelled → draft. Payment goes through `wizard.account.invoice.pay`
(create, execute with the amount, delete); a posted invoice paid in full becomes `paid`. A
customer invoice with a negative total (a credit note, negative quantities) posts like any
other and is paid with negative amounts, as trytond's `pay_invoice` books them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from mediator.codecs.tryton import TrytonFault
from mediator.sandbox.tryton.computed import invoice_total
from mediator.sandbox.tryton.errors import RpcFault, user_error

if TYPE_CHECKING:
    from mediator.sandbox.tryton.database import Record, TrytonDatabase

__all__ = ["BUTTONS", "PayWizard", "run_button"]

_FROM = {
    "validate_invoice": (("draft",), "validated"),
    "post": (("draft", "validated"), "posted"),
    "cancel": (("draft", "validated"), "cancelled"),
    "draft": (("validated", "cancelled"), "draft"),
}
BUTTONS = tuple(_FROM)


def run_button(db: TrytonDatabase, button: str, ids: object) -> None:
    """Apply an invoice workflow button to `ids`."""
    sources, target = _FROM[button]
    for invoice_id in ids if isinstance(ids, list) else []:
        invoice = db.record("account.invoice", invoice_id)
        if invoice["state"] not in sources:
            continue
        db.remember(invoice)
        if button == "post":
            _post(db, invoice)
        invoice["state"] = target
        invoice["write_date"] = dt.datetime.fromtimestamp(db.clock.time(), dt.UTC).replace(
            tzinfo=None
        )


def _post(db: TrytonDatabase, invoice: Record) -> None:
    today = dt.datetime.fromtimestamp(db.clock.time(), dt.UTC).date()
    if invoice.get("invoice_date") is None:
        invoice["invoice_date"] = today
    _check_period(db, invoice["invoice_date"])  # type: ignore[arg-type]  # a date (checked on write)
    if not any(
        line["invoice"] == invoice["id"] for line in db.tables["account.invoice.line"].values()
    ):
        raise user_error(f'To post invoice "({invoice["id"]})", you must add lines.')
    if not invoice.get("number"):
        year = invoice["invoice_date"].year  # type: ignore[attr-defined]  # a date
        key = f"invoice-{year}"
        db.sequences[key] = db.sequences.get(key, 0) + 1
        invoice["number"] = f"INV{year}-{db.sequences[key]}"
    db.sequences["move"] = db.sequences.get("move", 0) + 1
    invoice["move"] = db.sequences["move"]
    invoice["paid_amount"] = Decimal("0.00")


def _check_period(db: TrytonDatabase, day: dt.date) -> None:
    # The move of a posted invoice needs an open period for its date (trytond's
    # `account.period.find`). A database without any period is the sandbox's default and posts
    # on any date; once periods exist, they rule, as in Tryton.
    periods = list(db.tables["account.period"].values())
    if not periods:
        return
    covering = [p for p in periods if p["start_date"] <= day <= p["end_date"]]  # type: ignore[operator]  # dates
    if any(p["state"] == "open" for p in covering):
        return
    company = next(iter(db.tables["company.company"].values()), None)
    party = db.tables["party.party"].get(company["party"]) if company else None  # type: ignore[call-overload]  # an id
    name = party["name"] if party else ""
    if covering:  # worded as trytond 8.2 words it (tests/tryton_real/test_receivable_paid.py)
        raise user_error(
            f'To continue, you must reopen the period "{covering[0]["name"]}" of company '
            f'"{name}" for the date "{day.strftime("%m/%d/%Y")}".'
        )
    raise user_error(
        f'To create a move on date "{day.isoformat()}" of company "{name}", '
        "you must create a period."
    )


def _company_currency(db: TrytonDatabase) -> object:
    company = next(iter(db.tables["company.company"].values()), None)
    return None if company is None else company["currency"]


class PayWizard:
    """`wizard.account.invoice.pay`: sessions holding the invoice being paid."""

    def __init__(self) -> None:
        self._sessions: dict[int, int | None] = {}
        self._next = 0

    def create(self) -> list[object]:
        """Start a wizard session: `[session_id, start_state, end_state]`."""
        self._next += 1
        self._sessions[self._next] = None
        return [self._next, "start", "end"]

    def delete(self, session_id: object) -> None:
        """End a wizard session."""
        if isinstance(session_id, int):
            self._sessions.pop(session_id, None)

    def execute(
        self, db: TrytonDatabase, session_id: object, data: object, state: object, context: Record
    ) -> dict[str, object]:
        """Run a wizard state: `start` shows the defaults, `choice`/`pay` pays the amount."""
        if session_id not in self._sessions:
            raise RpcFault(TrytonFault.server_error(f"Unknown wizard session {session_id!r}"))
        invoice = db.record("account.invoice", context.get("active_id"))
        if invoice["state"] != "posted":
            label = invoice.get("number") or f"({invoice['id']})"
            raise user_error(f'You cannot pay invoice "{label}" because it is not posted.')
        due = invoice_total(db, invoice) - (invoice.get("paid_amount") or Decimal(0))  # type: ignore[operator]  # paid_amount is a Decimal; rows hold objects
        if state == "start":
            return {
                "view": {
                    "state": "start",
                    "defaults": {
                        "amount": due,
                        "currency": invoice["currency"],
                        "description": invoice.get("number"),
                        "date": invoice.get("invoice_date"),
                    },
                    "buttons": [
                        {"state": "end", "string": "Cancel"},
                        {"state": "choice", "string": "OK", "default": True},
                    ],
                }
            }
        form = data.get("start") if isinstance(data, dict) else None
        amount = form.get("amount") if isinstance(form, dict) else None
        method = form.get("payment_method") if isinstance(form, dict) else None
        if not isinstance(amount, Decimal) or amount == 0:
            raise user_error('A value is required for field "Amount" in "Pay Invoice".')
        if (amount < 0) != (due < 0):  # trytond: more than is due is an overpayment to ask about
            label = invoice.get("number") or f"({invoice['id']})"
            raise user_error(
                f'You cannot pay "{amount}" on invoice "{label}": its amount to pay is "{due}".'
            )
        if method not in db.tables["account.invoice.payment.method"]:
            raise user_error('A value is required for field "Payment Method" in "Pay Invoice".')
        if form.get("currency") not in (invoice["currency"], _company_currency(db)):  # type: ignore[union-attr]  # a dict: checked with the amount
            # trytond asserts it (get_reconcile_lines_for_amount): a bare AssertionError
            raise RpcFault(TrytonFault.server_error(""))
        db.remember(invoice)
        invoice["paid_amount"] = (invoice.get("paid_amount") or Decimal(0)) + amount  # type: ignore[operator]  # paid_amount is a Decimal; rows hold objects
        if abs(amount) >= abs(due):  # a credit note's amounts are negative
            invoice["state"] = "paid"
        return {"actions": []}
