"""Credit notes: ``POST /v1/credit_notes``, ``GET /v1/credit_notes/{id}``, ``GET /v1/credit_notes``.

As Stripe's API reference documents them: a credit note adjusts a finalized invoice, so it is
issued only on an ``open`` or ``paid`` invoice (400 otherwise). Its total is `amount`, or the
sum of its `lines`: here ``type=custom_line_item`` lines (`description`, `unit_amount` ×
`quantity`) — ``invoice_line_item`` lines are refused, which no flow of mediator sends. The
total may not exceed what the invoice still has to credit (its total less earlier credit
notes). It first reduces the invoice's `amount_remaining` and `amount_due`, never below zero:
that part is its `pre_payment_amount` and adds to the invoice's
`pre_payment_credit_notes_amount`; an open invoice brought to zero is paid. The excess is its
`post_payment_amount` (the invoice's `post_payment_credit_notes_amount`), which must equal
`credit_amount` + `out_of_band_amount` (customer balance, or credited outside Stripe); this
sandbox has no charges, so `refund_amount` is refused. Every credit note emits
``credit_note.created``, and the invoice it changes ``invoice.updated``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from mediator.sandbox.base import json_response
from mediator.sandbox.stripe.errors import StripeError, missing
from mediator.sandbox.stripe.listing import LIST_PARAMS, list_objects
from mediator.sandbox.stripe.params import MAX_AMOUNT, Params, invalid, params_of
from mediator.sandbox.stripe.store import StripeObject, StripeStore

if TYPE_CHECKING:
    from mediator.sandbox.stripe.app import StripeSandbox

__all__ = ["CreditNotes", "add_credit_note_routes"]

_REASONS = ("duplicate", "fraudulent", "order_change", "product_unsatisfactory")
_MAX_LINES = 100
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CreditNotes:
    """The credit notes of one sandbox account, by id, in creation order."""

    def __init__(self, store: StripeStore) -> None:
        self.store = store
        self.notes: dict[str, StripeObject] = {}
        self._numbers: dict[str, int] = {}

    def create(
        self,
        invoice_id: str,
        *,
        amount: int | None,
        lines: list[tuple[str | None, int, int]],
        memo: str | None,
        metadata: dict[str, str],
        reason: str | None,
        credit_amount: int | None,
        out_of_band_amount: int | None,
    ) -> StripeObject:
        """Issue a credit note on `invoice_id`; `lines` are (description, unit_amount, quantity)."""
        invoice = self.store.invoice(invoice_id, "invoice")
        status = invoice["status"]
        if status not in ("open", "paid"):
            raise StripeError(
                400,
                f"Invoice {invoice_id} is {status}: credit notes can only be issued on open or "
                "paid invoices.",
                code="invoice_not_open" if status == "draft" else "invoice_not_editable",
                param="invoice",
                store=True,
            )
        total = sum(unit * quantity for _, unit, quantity in lines)
        if amount is not None and lines and amount != total:
            raise invalid("amount", f"The amount ({amount}) must equal the lines' total ({total}).")
        if amount is not None and not lines:
            total = amount
        if total <= 0:
            raise invalid("amount", "A credit note must credit a positive amount.")
        pre_before = _int(invoice.get("pre_payment_credit_notes_amount"))
        post_before = _int(invoice.get("post_payment_credit_notes_amount"))
        creditable = _int(invoice["total"]) - pre_before - post_before
        if total > creditable:
            raise StripeError(
                400,
                f"The credit note's total ({total}) is greater than what invoice {invoice_id} "
                f"can still be credited ({creditable}).",
                param="amount" if not lines else "lines",
                store=True,
            )
        remaining = _int(invoice["amount_remaining"]) if status == "open" else 0
        pre = min(total, remaining)
        post = total - pre
        credited = (credit_amount or 0) + (out_of_band_amount or 0)
        if credited != post:
            raise invalid(
                "credit_amount",
                f"The sum of credit_amount, refund_amount and out_of_band_amount ({credited}) "
                f"must equal the credit note's post-payment amount ({post}).",
            )
        note_id = self.store.new_id("cn")
        prefix = str(invoice["number"]).rsplit("-", 1)[0] if invoice.get("number") else "CN"
        self._numbers[prefix] = self._numbers.get(prefix, 0) + 1
        line_objects: list[StripeObject] = [
            {
                "id": self.store.new_id("cnli"),
                "object": "credit_note_line_item",
                "amount": unit * quantity,
                "description": description,
                "invoice_line_item": None,
                "livemode": False,
                "quantity": quantity,
                "type": "custom_line_item",
                "unit_amount": unit,
                "unit_amount_decimal": str(unit),
            }
            for description, unit, quantity in lines
        ]
        note: StripeObject = {
            "id": note_id,
            "object": "credit_note",
            "amount": total,
            "amount_shipping": 0,
            "created": self.store.now(),
            "currency": invoice["currency"],
            "customer": invoice["customer"],
            "customer_balance_transaction": None,
            "discount_amount": 0,
            "effective_at": self.store.now(),
            "invoice": invoice_id,
            "lines": {
                "object": "list",
                "data": line_objects,
                "has_more": False,
                "total_count": len(line_objects),
                "url": f"/v1/credit_notes/{note_id}/lines",
            },
            "livemode": False,
            "memo": memo,
            "metadata": metadata,
            "number": f"{prefix}-CN-{self._numbers[prefix]:02d}",
            "out_of_band_amount": out_of_band_amount,
            "pdf": f"https://pay.stripe.com/credit_notes/sandbox/{note_id}/pdf",
            "post_payment_amount": post,
            "pre_payment_amount": pre,
            "reason": reason,
            "refunds": [],
            "status": "issued",
            "subtotal": total,
            "total": total,
            "type": "pre_payment" if post == 0 else "post_payment" if pre == 0 else "mixed",
            "voided_at": None,
        }
        self.notes[note_id] = note
        self.store.emit("credit_note.created", note)
        changes: StripeObject = {
            "pre_payment_credit_notes_amount": pre_before + pre,
            "post_payment_credit_notes_amount": post_before + post,
        }
        if pre:
            changes["amount_remaining"] = remaining - pre
            changes["amount_due"] = _int(invoice["amount_due"]) - pre
        self.store.update(invoice, changes, "invoice")
        if status == "open" and pre and remaining == pre:
            self.store.settle(invoice_id)  # credited to zero: Stripe marks it paid
        return note

    def get(self, note_id: str) -> StripeObject:
        """Return a credit note or raise 404."""
        found = self.notes.get(note_id)
        if found is None:
            raise missing("credit_note", note_id)
        return found


def add_credit_note_routes(app: web.Application, box: StripeSandbox) -> None:
    """Add the credit note routes of `box` to `app`."""
    notes = box.credit_notes

    async def create(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "invoice",
                "amount",
                "lines",
                "memo",
                "metadata",
                "reason",
                "credit_amount",
                "out_of_band_amount",
                "refund_amount",
                "email_type",
                "effective_at",
            )
        )
        invoice_id = p.text("invoice", required=True, max_length=255) or ""
        if p.has("refund_amount"):
            raise invalid("refund_amount", "This account has no charges to refund.")
        p.choice("email_type", ("credit_note", "none"))
        p.integer("effective_at", minimum=0)
        metadata = p.metadata() or {}
        note = notes.create(
            invoice_id,
            amount=p.amount("amount"),
            lines=_lines(p),
            memo=p.text("memo", max_length=5000),
            metadata={k: v for k, v in metadata.items() if v != ""},
            reason=p.choice("reason", _REASONS),
            credit_amount=p.amount("credit_amount"),
            out_of_band_amount=p.amount("out_of_band_amount"),
        )
        return json_response(note)

    async def listing(request: web.Request) -> web.Response:
        p = params_of(request).only((*LIST_PARAMS, "invoice", "customer"))
        invoice = p.text("invoice", max_length=255)
        customer = p.text("customer", max_length=255)
        rows = [
            n
            for n in notes.notes.values()
            if (invoice is None or n["invoice"] == invoice)
            and (customer is None or n["customer"] == customer)
        ]
        return json_response(list_objects(rows, p, "/v1/credit_notes", "credit_note"))

    async def get(request: web.Request) -> web.Response:
        params_of(request).only(())
        return json_response(notes.get(request.match_info["id"]))

    routes: list[tuple[str, str, Route]] = [
        ("POST", "/v1/credit_notes", create),
        ("GET", "/v1/credit_notes", listing),
        ("GET", "/v1/credit_notes/{id}", get),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


def _lines(p: Params) -> list[tuple[str | None, int, int]]:
    out = []
    for line in p.hashes("lines", max_items=_MAX_LINES) or []:
        line.only(("type", "description", "unit_amount", "quantity", "amount", "invoice_line_item"))
        kind = line.choice("type", ("custom_line_item", "invoice_line_item"))
        if kind is None:
            line.text("type", required=True)
        if kind != "custom_line_item":
            raise invalid(f"{line.prefix}[type]", "Only custom_line_item lines are supported here.")
        if line.has("amount") or line.has("invoice_line_item"):
            name = "amount" if line.has("amount") else "invoice_line_item"
            raise invalid(
                f"{line.prefix}[{name}]", f"{name} is only valid when type is invoice_line_item."
            )
        unit = line.amount("unit_amount")
        if unit is None:
            line.text("unit_amount", required=True)
        quantity = line.integer("quantity", 1, minimum=1, maximum=MAX_AMOUNT)
        assert unit is not None
        assert quantity is not None
        if unit * quantity > MAX_AMOUNT:
            raise invalid(f"{line.prefix}[quantity]", "The line's amount is too large.")
        out.append((line.text("description", max_length=5000), unit, quantity))
    return out


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0
