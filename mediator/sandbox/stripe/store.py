"""The in-memory Stripe account: customers, invoice items, invoices and their state machine.

Every change appends an event (`customer.created`, `invoice.finalized`, …) carrying a snapshot
of the object and, for updates, `previous_attributes`; the app lists them at `/v1/events` and
the webhook sender delivers them.

Invoice lifecycle, as Stripe documents it: `draft` → finalize → `open` (a zero total is paid
at once) → pay → `paid`; `open` → void → `void`; `open` → mark_uncollectible →
`uncollectible` (which can still be paid or voided); only drafts can be deleted or take items.
"""

from __future__ import annotations

import copy
import random
import string
from collections.abc import Callable

from mediator.clock import Clock
from mediator.sandbox.stripe.errors import StripeError, missing
from mediator.sandbox.stripe.taxes import line_taxes, total_taxes

__all__ = ["StripeObject", "StripeStore"]

StripeObject = dict[str, object]
EventSink = Callable[[str, StripeObject, StripeObject | None], None]

_ALPHABET = string.ascii_letters + string.digits


class StripeStore:
    """Objects by id, in creation order, with ids drawn from a seeded generator."""

    def __init__(self, clock: Clock, *, seed: int = 0) -> None:
        self._clock = clock
        self._rng = random.Random(seed)
        self.customers: dict[str, StripeObject] = {}
        self.invoiceitems: dict[str, StripeObject] = {}
        self.invoices: dict[str, StripeObject] = {}
        self.tax_rates: dict[str, StripeObject] = {}
        self._frozen_taxes: dict[str, list[StripeObject]] = {}  # by item, once finalized
        self.events: dict[str, StripeObject] = {}
        self.deleted_customers: set[str] = set()  # retrieving one answers its stub
        self.tax_ids: dict[str, list[StripeObject]] = {}  # by customer; `expand[]=tax_ids`
        self._sinks: list[EventSink] = []
        self._invoice_numbers: dict[str, int] = {}

    def new_id(self, prefix: str) -> str:
        """Return a fresh id like `cus_NffrFeUfNV2Hib`."""
        return prefix + "_" + "".join(self._rng.choice(_ALPHABET) for _ in range(14))

    def now(self) -> int:
        """Return the clock's epoch seconds, as Stripe's `created` fields carry."""
        return int(self._clock.time())

    def on_event(self, sink: EventSink) -> None:
        """Call `sink(type, object, previous_attributes)` for every change."""
        self._sinks.append(sink)

    def emit(self, kind: str, obj: StripeObject, previous: StripeObject | None = None) -> None:
        """Announce a change to every sink (the event log, the webhook sender)."""
        for sink in self._sinks:
            sink(kind, copy.deepcopy(obj), previous)

    # -- customers --------------------------------------------------------------------------

    def create_customer(self, fields: StripeObject, *, announce: bool = True) -> StripeObject:
        """Create a customer; its invoice prefix is 8 upper-case characters.

        `announce=False` (seeding pre-existing data) records no event and sends no webhook.
        """
        customer_id = self.new_id("cus")
        customer: StripeObject = {
            "id": customer_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": self.now(),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": None,
            "discount": None,
            "email": None,
            "invoice_prefix": "".join(self._rng.choice(string.ascii_uppercase) for _ in range(8)),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": {},
            "name": None,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        tax_ids = fields.pop("tax_ids", None)
        customer.update(fields)
        self.customers[customer_id] = customer
        if isinstance(tax_ids, list):
            self.tax_ids[customer_id] = [
                {
                    "id": self.new_id("txi"),
                    **tax_id,
                    "country": None,
                    "created": self.now(),
                    "customer": customer_id,
                    "livemode": False,
                    "verification": None,
                }
                for tax_id in tax_ids
            ]
        if announce:
            self.emit("customer.created", customer)
        return customer

    def update(self, obj: StripeObject, fields: StripeObject, kind: str) -> StripeObject:
        """Apply `fields` to `obj` and emit `<kind>.updated` with what changed.

        Values replace what is there (the routes merge metadata key by key beforehand).
        """
        previous: StripeObject = {}
        for key, value in fields.items():
            if obj.get(key) != value:
                previous[key] = copy.deepcopy(obj.get(key))
                obj[key] = value
        if previous:
            self.emit(f"{kind}.updated", obj, previous)
        return obj

    def customer(self, customer_id: str, param: str = "id") -> StripeObject:
        """Return a live customer or raise 404 resource_missing."""
        found = self.customers.get(customer_id)
        if found is None or found.get("deleted"):
            raise missing("customer", customer_id, param)
        return found

    def delete_customer(self, customer_id: str) -> StripeObject:
        """Delete a customer; return Stripe's deletion stub."""
        customer = self.customer(customer_id)
        del self.customers[customer_id]
        self.deleted_customers.add(customer_id)
        self.emit("customer.deleted", customer)
        return {"id": customer_id, "object": "customer", "deleted": True}

    # -- tax rates --------------------------------------------------------------------------

    def create_tax_rate(self, fields: StripeObject) -> StripeObject:
        """Create a tax rate (`tax_rate.created`)."""
        rate: StripeObject = {
            "id": self.new_id("txr"),
            "object": "tax_rate",
            "created": self.now(),
            "livemode": False,
        }
        rate.update(fields)
        self.tax_rates[str(rate["id"])] = rate
        self.emit("tax_rate.created", rate)
        return rate

    def tax_rate(self, rate_id: str) -> StripeObject:
        """Return a tax rate or raise 404."""
        found = self.tax_rates.get(rate_id)
        if found is None:
            raise missing("tax_rate", rate_id)
        return found

    # -- invoice items ----------------------------------------------------------------------

    def create_invoiceitem(self, fields: StripeObject, invoice_id: str | None) -> StripeObject:
        """Create a pending item, or attach it to `invoice_id`, which must be a draft."""
        customer = self.customer(str(fields["customer"]), "customer")
        invoice = self.invoice(invoice_id, "invoice") if invoice_id else None
        if invoice is not None:
            if invoice["status"] != "draft":
                raise StripeError(
                    400, "You can only add invoice items to draft invoices.", param="invoice"
                )
            if invoice["customer"] != customer["id"]:
                raise StripeError(400, "The invoice belongs to another customer.", param="invoice")
        item_id = self.new_id("ii")
        item: StripeObject = {
            "id": item_id,
            "object": "invoiceitem",
            "date": self.now(),
            "discountable": True,
            "discounts": [],
            "invoice": invoice_id,
            "livemode": False,
            "metadata": {},
            "period": {"start": self.now(), "end": self.now()},
            "proration": False,
            "tax_rates": [],
            "test_clock": None,
            "description": None,
        }
        item.update(fields)
        self.invoiceitems[item_id] = item
        self.emit("invoiceitem.created", item)
        if invoice is not None:
            self.recompute(invoice)
        return item

    def update_invoiceitem(self, item_id: str, fields: StripeObject) -> StripeObject:
        """Change an item (`invoiceitem.updated`); its invoice's totals follow.

        Stripe edits an item only while the invoice it is on is a draft: on any other invoice
        the item is part of a sent document, and the update is refused with
        `invoice_not_editable` (corrections go on a later invoice or a credit note).
        """
        item = self.invoiceitem(item_id)
        invoice = self.invoices.get(str(item["invoice"])) if item["invoice"] else None
        if invoice is not None and invoice["status"] != "draft":
            raise StripeError(
                400,
                f"The invoice item {item_id} is on invoice {invoice['id']}, which is "
                f"{invoice['status']}; only items of a draft invoice (or pending items) can be "
                "updated.",
                code="invoice_not_editable",
            )
        self.update(item, fields, "invoiceitem")
        if invoice is not None:
            self.recompute(invoice)
        return item

    def invoiceitem(self, item_id: str) -> StripeObject:
        """Return an invoice item or raise 404."""
        found = self.invoiceitems.get(item_id)
        if found is None:
            raise missing("invoiceitem", item_id)
        return found

    # -- invoices ---------------------------------------------------------------------------

    def create_invoice(self, fields: StripeObject, *, include_pending: bool) -> StripeObject:
        """Create a draft invoice; with `include_pending`, pending items of the customer join."""
        customer = self.customer(str(fields["customer"]), "customer")
        invoice_id = self.new_id("in")
        now = self.now()
        invoice: StripeObject = {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": False,
            "collection_method": "charge_automatically",
            "created": now,
            "currency": customer.get("currency") or "usd",
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "description": None,
            "due_date": None,
            "days_until_due": None,
            "ending_balance": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "livemode": False,
            "metadata": {},
            "number": None,
            "paid": False,
            "paid_out_of_band": False,
            "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0,
            "period_end": now,
            "period_start": now,
            "status": "draft",
            "subtotal": 0,
            "total": 0,
            "total_excluding_tax": 0,
            "total_taxes": [],
            "default_tax_rates": [],
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
        }
        invoice.update(fields)
        self.invoices[invoice_id] = invoice
        if include_pending:
            for item in self.invoiceitems.values():
                if item["customer"] == customer["id"] and item["invoice"] is None:
                    item["invoice"] = invoice_id
        self.recompute(invoice)
        self.emit("invoice.created", invoice)
        return invoice

    def invoice(self, invoice_id: str, param: str = "id") -> StripeObject:
        """Return an invoice or raise 404."""
        found = self.invoices.get(invoice_id)
        if found is None:
            raise missing("invoice", invoice_id, param)
        return found

    def finalize(self, invoice_id: str) -> StripeObject:
        """draft → open: assign the number and hosted URL; a zero total is paid at once."""
        invoice = self._in_state(invoice_id, ("draft",), "finalize")
        # a sent invoice's line taxes are those of its finalization, whatever changes later
        for item in self.invoiceitems.values():
            if item["invoice"] == invoice_id:
                self._frozen_taxes[str(item["id"])] = self._item_taxes(item, invoice)
        customer = self.customers.get(str(invoice["customer"]))
        prefix = str(customer["invoice_prefix"]) if customer else "SANDBOX0"
        self._invoice_numbers[prefix] = self._invoice_numbers.get(prefix, 0) + 1
        now = self.now()
        invoice.update(
            status="open",
            number=f"{prefix}-{self._invoice_numbers[prefix]:04d}",
            hosted_invoice_url=f"https://invoice.stripe.com/i/sandbox/{invoice_id}",
            invoice_pdf=f"https://pay.stripe.com/invoice/sandbox/{invoice_id}/pdf",
            ending_balance=0,
        )
        if invoice["collection_method"] == "send_invoice" and invoice["days_until_due"]:
            invoice["due_date"] = now + 86_400 * int(invoice["days_until_due"])  # type: ignore[call-overload]  # validated as an integer on create
        self._transition(invoice, "finalized_at", now)
        self.emit("invoice.finalized", invoice, {"status": "draft"})
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice, out_of_band=False)
        return invoice

    def pay(self, invoice_id: str, *, out_of_band: bool) -> StripeObject:
        """open/uncollectible → paid; a customer marked to decline gets 402 card_declined."""
        invoice = self._in_state(invoice_id, ("open", "uncollectible"), "pay")
        customer = self.customers.get(str(invoice["customer"]))
        declines = customer is not None and customer["metadata"].get("sandbox_payment") == "decline"  # type: ignore[attr-defined]  # a customer's metadata is always a dict
        invoice["attempted"] = True
        invoice["attempt_count"] = int(invoice["attempt_count"]) + 1  # type: ignore[call-overload]  # an invoice's attempt_count is an int
        if declines and not out_of_band:
            self.emit("invoice.payment_failed", invoice)
            raise StripeError(
                402, "Your card was declined.", type="card_error", code="card_declined", store=True
            )
        self._mark_paid(invoice, out_of_band=out_of_band)
        return invoice

    def receive_transfer(self, invoice_id: str, amount: int) -> StripeObject:
        """A bank transfer of `amount` funds part of an open invoice (Stripe's customer balance
        transfers do so): `amount_paid` grows and `invoice.updated` says so; the transfer that
        funds the rest pays it (`invoice.paid`). More than is due is refused (Stripe keeps an
        excess on the customer's cash balance, not on the invoice)."""
        invoice = self._in_state(invoice_id, ("open", "uncollectible"), "pay")
        remaining = int(invoice["amount_remaining"])  # type: ignore[call-overload]  # an int
        if not 0 < amount <= remaining:
            raise StripeError(400, f"A transfer must fund 1 to {remaining} of this invoice.")
        if amount == remaining:
            self._mark_paid(invoice, out_of_band=False)
            return invoice
        paid = int(invoice["amount_paid"])  # type: ignore[call-overload]  # an int
        return self.update(
            invoice,
            {"amount_paid": paid + amount, "amount_remaining": remaining - amount},
            "invoice",
        )

    def settle(self, invoice_id: str) -> StripeObject:
        """open → paid with nothing more to pay: credit notes brought its amount remaining to
        zero (its `amount_due` is now what was paid), and Stripe marks such an invoice paid."""
        invoice = self._in_state(invoice_id, ("open",), "settle")
        self._mark_paid(invoice, out_of_band=False)
        return invoice

    def void(self, invoice_id: str) -> StripeObject:
        """open/uncollectible → void."""
        invoice = self._in_state(invoice_id, ("open", "uncollectible"), "void")
        previous = invoice["status"]
        invoice.update(status="void", amount_remaining=0)
        self._transition(invoice, "voided_at", self.now())
        self.emit("invoice.voided", invoice, {"status": previous})
        return invoice

    def mark_uncollectible(self, invoice_id: str) -> StripeObject:
        """open → uncollectible."""
        invoice = self._in_state(invoice_id, ("open",), "mark uncollectible")
        invoice["status"] = "uncollectible"
        self._transition(invoice, "marked_uncollectible_at", self.now())
        self.emit("invoice.marked_uncollectible", invoice, {"status": "open"})
        return invoice

    def delete_invoice(self, invoice_id: str) -> StripeObject:
        """Delete a draft invoice (its items become pending again)."""
        invoice = self._in_state(invoice_id, ("draft",), "delete")
        del self.invoices[invoice_id]
        for item in self.invoiceitems.values():
            if item["invoice"] == invoice_id:
                item["invoice"] = None
        self.emit("invoice.deleted", invoice)
        return {"id": invoice_id, "object": "invoice", "deleted": True}

    def lines(self, invoice: StripeObject) -> list[StripeObject]:
        """Return the invoice's line items as `line_item` objects."""
        return [
            {
                "id": "il_" + str(item["id"])[3:],
                "object": "line_item",
                "amount": item["amount"],
                "currency": item["currency"],
                "description": item["description"],
                "invoice": invoice["id"],
                "invoice_item": item["id"],
                "livemode": False,
                "metadata": item["metadata"],
                "period": item["period"],
                "quantity": item["quantity"],
                "taxes": self._item_taxes(item, invoice),
                "type": "invoiceitem",
            }
            for item in self.invoiceitems.values()
            if item["invoice"] == invoice["id"]
        ]

    def _in_state(self, invoice_id: str, states: tuple[str, ...], action: str) -> StripeObject:
        invoice = self.invoice(invoice_id)
        if invoice["status"] not in states:
            raise StripeError(
                400,
                f"You can only {action} an invoice whose status is "
                f"{' or '.join(states)}; this invoice is {invoice['status']}.",
                code="invoice_not_editable" if action == "delete" else None,
            )
        return invoice

    def _mark_paid(self, invoice: StripeObject, *, out_of_band: bool) -> None:
        previous = invoice["status"]
        invoice.update(
            status="paid",
            paid=True,
            paid_out_of_band=out_of_band,
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
        )
        self._transition(invoice, "paid_at", self.now())
        self.emit("invoice.paid", invoice, {"status": previous})
        self.emit("invoice.payment_succeeded", invoice)

    def _transition(self, invoice: StripeObject, name: str, at: int) -> None:
        transitions = dict(invoice["status_transitions"])  # type: ignore[call-overload]  # status_transitions is always a dict
        transitions[name] = at
        invoice["status_transitions"] = transitions

    def recompute(self, invoice: StripeObject) -> None:
        """Bring a draft's amounts in line with its items and tax rates: `subtotal` is the sum
        of the lines, `total_taxes` their taxes (rounded per line), `total = subtotal + tax`."""
        items = [i for i in self.invoiceitems.values() if i["invoice"] == invoice["id"]]
        subtotal = sum(int(str(i["amount"])) for i in items)
        taxes = total_taxes([self._item_taxes(i, invoice) for i in items])
        tax = sum(int(str(t["amount"])) for t in taxes)
        total = subtotal + tax
        invoice.update(
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal,
            total_excluding_tax=subtotal,
            total_taxes=taxes,
            total=total,
            amount_due=total,
            amount_remaining=total,
        )

    def recompute_drafts(self, customer_id: str) -> None:
        """Recompute the customer's drafts (its `tax_exempt` changed: Stripe re-taxes them)."""
        for invoice in self.invoices.values():
            if invoice["customer"] == customer_id and invoice["status"] == "draft":
                self.recompute(invoice)

    def _item_taxes(self, item: StripeObject, invoice: StripeObject) -> list[StripeObject]:
        # an item's own rates, else the invoice's defaults (Stripe's precedence); once the
        # invoice is finalized, the taxes it was sent with
        frozen = self._frozen_taxes.get(str(item["id"]))
        if frozen is not None and invoice["status"] != "draft":
            return frozen
        own = item.get("tax_rates")
        rates = own if isinstance(own, list) and own else invoice.get("default_tax_rates")
        if not isinstance(rates, list) or not rates:
            return []
        customer = self.customers.get(str(invoice["customer"])) or {}
        exempt = str(customer.get("tax_exempt") or "none")
        return line_taxes(int(str(item["amount"])), [str(r) for r in rates], self.tax_rates, exempt)
