"""The `/v1/` routes: customers, invoice items, invoices (with their actions) and events.

Each handler reads its parameters through `Params` (typed, bounded, Stripe's errors) and
validates `expand` before it changes anything; lengths are those of Stripe's API reference
(customer name 256, email 512, phone 20, invoice prefix 3–12 upper-case letters or digits).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from aiohttp import web

from mediator.sandbox.base import json_response
from mediator.sandbox.stripe.customers import CUSTOMER_PARAMS, customer_fields
from mediator.sandbox.stripe.documented import (
    CUSTOMER_EXTRAS,
    INVOICE_EXTRAS,
    ITEM_EXTRAS,
    customer_extras,
    invoice_extras,
    item_extras,
    unit_amount_decimal,
)
from mediator.sandbox.stripe.errors import StripeError, missing
from mediator.sandbox.stripe.expand import expand, expansions
from mediator.sandbox.stripe.listing import LIST_PARAMS, list_objects
from mediator.sandbox.stripe.params import MAX_AMOUNT, Params, invalid, params_of
from mediator.sandbox.stripe.store import StripeObject
from mediator.sandbox.stripe.taxes import tax_rate_fields

if TYPE_CHECKING:
    from mediator.sandbox.stripe.app import StripeSandbox

__all__ = ["add_resource_routes"]

_STATUSES = ("draft", "open", "paid", "uncollectible", "void")
_COLLECTION = ("charge_automatically", "send_invoice")
_DAYS_ONLY_WHEN_SENT = (
    "days_until_due can only be set on invoices whose collection_method is send_invoice."
)
_MAX_DAYS = 36_500  # a century of payment terms; keeps `due_date` a sane timestamp

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_resource_routes(app: web.Application, box: StripeSandbox) -> None:
    """Add the resource routes of `box` to `app`."""
    store = box.store
    routes: list[tuple[str, str, Route]] = []

    def route(method: str, path: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            routes.append((method, path, handler))
            return handler

        return register

    def resolve(kind: str, object_id: str) -> StripeObject | None:
        if kind.startswith("+"):  # an includable list of a customer
            name = kind[1:]
            data = store.tax_ids.get(object_id, []) if name == "tax_ids" else []
            return {
                "object": "list",
                "data": data,
                "has_more": False,
                "url": f"/v1/customers/{object_id}/{name}",
            }
        if kind == "customer":
            found = store.customers.get(object_id)
            return found or {"id": object_id, "object": "customer", "deleted": True}
        if kind == "invoice":
            invoice = store.invoices.get(object_id)
            return box.render_invoice(invoice) if invoice is not None else None
        if kind == "invoiceitem":
            return store.invoiceitems.get(object_id)
        return None

    def answer(obj: StripeObject, kind: str, paths: list[list[str]]) -> web.Response:
        return json_response(expand(obj, kind, paths, resolve))

    def answer_list(page: StripeObject, kind: str, paths: list[list[str]]) -> web.Response:
        data = page["data"]
        assert isinstance(data, list)
        page["data"] = [expand(o, kind, paths, resolve) for o in data]
        return json_response(page)

    # -- customers --------------------------------------------------------------------------

    @route("POST", "/v1/customers")
    async def create_customer(request: web.Request) -> web.Response:
        p = params_of(request).only((*CUSTOMER_PARAMS, *CUSTOMER_EXTRAS))
        paths = expansions(p, "customer")
        fields = customer_fields(p) | customer_extras(p, None)
        metadata = fields.get("metadata")
        if isinstance(metadata, dict):  # on create, an empty value simply sets nothing
            fields["metadata"] = {k: v for k, v in metadata.items() if v != ""}
        return answer(store.create_customer(fields), "customer", paths)

    @route("GET", "/v1/customers")
    async def list_customers(request: web.Request) -> web.Response:
        p = params_of(request).only((*LIST_PARAMS, "email", "test_clock"))
        paths = expansions(p, "customer", listing=True)
        email = p.text("email", max_length=512)
        rows = [c for c in store.customers.values() if email is None or c["email"] == email]
        return answer_list(list_objects(rows, p, "/v1/customers", "customer"), "customer", paths)

    @route("GET", "/v1/customers/{id}")
    async def get_customer(request: web.Request) -> web.Response:
        p = params_of(request).only(())
        paths = expansions(p, "customer")
        customer_id = request.match_info["id"]
        if customer_id in store.deleted_customers:  # Stripe answers a deleted one's stub
            return json_response({"id": customer_id, "object": "customer", "deleted": True})
        return answer(store.customer(customer_id), "customer", paths)

    @route("POST", "/v1/customers/{id}")
    async def update_customer(request: web.Request) -> web.Response:
        updatable = [n for n in CUSTOMER_EXTRAS if n not in ("tax_id_data", "test_clock")]
        p = params_of(request).only((*CUSTOMER_PARAMS, *updatable))
        paths = expansions(p, "customer")
        customer = store.customer(request.match_info["id"])
        fields = customer_fields(p) | customer_extras(p, customer)
        merged = _merged_metadata(customer, p.metadata())
        if merged is not None:
            fields["metadata"] = merged
        store.update(customer, fields, "customer")
        if "tax_exempt" in fields:
            store.recompute_drafts(str(customer["id"]))
        return answer(customer, "customer", paths)

    @route("DELETE", "/v1/customers/{id}")
    async def delete_customer(request: web.Request) -> web.Response:
        params_of(request).only(())
        return json_response(store.delete_customer(request.match_info["id"]))

    # -- tax rates --------------------------------------------------------------------------

    @route("POST", "/v1/tax_rates")
    async def create_tax_rate(request: web.Request) -> web.Response:
        p = params_of(request)
        fields = tax_rate_fields(p)
        return json_response(store.create_tax_rate(fields))

    @route("GET", "/v1/tax_rates")
    async def list_tax_rates(request: web.Request) -> web.Response:
        p = params_of(request).only((*LIST_PARAMS, "active", "inclusive"))
        active = p.boolean("active")
        inclusive = p.boolean("inclusive")
        rows = [
            r
            for r in store.tax_rates.values()
            if (active is None or r["active"] == active)
            and (inclusive is None or r["inclusive"] == inclusive)
        ]
        return json_response(list_objects(rows, p, "/v1/tax_rates", "tax_rate"))

    @route("GET", "/v1/tax_rates/{id}")
    async def get_tax_rate(request: web.Request) -> web.Response:
        params_of(request).only(())
        return json_response(store.tax_rate(request.match_info["id"]))

    # -- invoice items ----------------------------------------------------------------------

    @route("POST", "/v1/invoiceitems")
    async def create_item(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "customer",
                "amount",
                "currency",
                "description",
                "quantity",
                "unit_amount",
                "invoice",
                "metadata",
                "period",
                *ITEM_EXTRAS,
            )
        )
        paths = expansions(p, "invoiceitem")
        extras = item_extras(p, store.tax_rates)
        decimal_unit = _decimal_unit(p)
        customer_id = p.text("customer", required=True, max_length=255) or ""
        amount = p.amount("amount")
        quantity = p.integer("quantity", 1, minimum=0, maximum=MAX_AMOUNT)
        assert quantity is not None
        unit = p.amount("unit_amount")
        currency = p.currency()
        description = p.text("description", max_length=5000)
        metadata = p.metadata() or {}
        period = p.timestamps("period", ("start", "end"))
        invoice_id = p.text("invoice", max_length=255)
        if decimal_unit is not None and amount is None:
            unit = int((decimal_unit * quantity).to_integral_value(ROUND_HALF_UP))
            quantity, decimal_quantity = 1, quantity
        else:
            decimal_quantity = None
        if amount is None and unit is None:
            raise invalid("amount", "You must specify either `amount` or `unit_amount`.")
        if amount is None and abs((unit or 0) * quantity) > MAX_AMOUNT:
            raise _too_large()
        _check_period(period)
        customer = store.customer(customer_id, "customer")
        currency = currency or _text(customer.get("currency"))
        if currency is None:
            raise StripeError(
                400, "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        fields: StripeObject = {
            "customer": customer["id"],
            "currency": currency,
            "amount": amount if amount is not None else (unit or 0) * quantity,
            "quantity": 1 if amount is not None else quantity,
            "unit_amount": unit if unit is not None else amount,
            "unit_amount_decimal": str(unit if unit is not None else amount),
            "description": description,
            "metadata": {k: v for k, v in metadata.items() if v != ""},
        }
        if period is not None:
            fields["period"] = period
        if decimal_unit is not None and decimal_quantity is not None:
            fields.update(
                quantity=decimal_quantity,
                unit_amount=None,
                unit_amount_decimal=str(decimal_unit),
            )
        item = store.create_invoiceitem(fields | extras, invoice_id)
        return answer(item, "invoiceitem", paths)

    @route("GET", "/v1/invoiceitems")
    async def list_items(request: web.Request) -> web.Response:
        p = params_of(request).only((*LIST_PARAMS, "customer", "invoice", "pending"))
        paths = expansions(p, "invoiceitem", listing=True)
        customer = p.text("customer", max_length=255)
        invoice = p.text("invoice", max_length=255)
        pending = p.boolean("pending")
        rows = [
            i
            for i in store.invoiceitems.values()
            if (customer is None or i["customer"] == customer)
            and (invoice is None or i["invoice"] == invoice)
            and (pending is None or (i["invoice"] is None) == pending)
        ]
        page = list_objects(rows, p, "/v1/invoiceitems", "invoiceitem")
        return answer_list(page, "invoiceitem", paths)

    @route("GET", "/v1/invoiceitems/{id}")
    async def get_item(request: web.Request) -> web.Response:
        p = params_of(request).only(())
        paths = expansions(p, "invoiceitem")
        return answer(store.invoiceitem(request.match_info["id"]), "invoiceitem", paths)

    @route("POST", "/v1/invoiceitems/{id}")
    async def update_item(request: web.Request) -> web.Response:
        # Stripe: amount, description, quantity, unit_amount(_decimal), metadata, period and
        # the tax and discount fields may change while the item's invoice is a draft.
        p = params_of(request).only(
            (
                "amount",
                "description",
                "quantity",
                "unit_amount",
                "metadata",
                "period",
                *(n for n in ITEM_EXTRAS if n not in ("subscription", "price")),
            )
        )
        paths = expansions(p, "invoiceitem")
        extras = item_extras(p, store.tax_rates)
        decimal_unit = _decimal_unit(p)
        amount = p.amount("amount")
        quantity = p.integer("quantity", minimum=0, maximum=MAX_AMOUNT)
        unit = p.amount("unit_amount")
        description = p.text("description", max_length=5000)
        period = p.timestamps("period", ("start", "end"))
        _check_period(period)
        item = store.invoiceitem(request.match_info["id"])
        fields: StripeObject = dict(extras)
        fields.pop("unit_amount_decimal", None)
        if amount is not None:  # an amount makes the item one unit of that amount
            fields.update(amount=amount, quantity=1, unit_amount=amount)
            fields["unit_amount_decimal"] = str(amount)
        elif unit is not None or decimal_unit is not None or quantity is not None:
            units = quantity if quantity is not None else int(str(item["quantity"]))
            if decimal_unit is not None:
                price = decimal_unit
                fields["unit_amount_decimal"] = str(decimal_unit)
                fields["unit_amount"] = None
            else:
                whole = unit if unit is not None else int(str(item["unit_amount"]))
                price = Decimal(whole)
                fields["unit_amount"] = whole
                fields["unit_amount_decimal"] = str(whole)
            total = int((price * Decimal(str(units))).to_integral_value(ROUND_HALF_UP))
            if abs(total) > MAX_AMOUNT:
                raise _too_large()
            fields.update(amount=total, quantity=units)
        if p.has("description"):
            fields["description"] = description
        if period is not None:
            fields["period"] = period
        merged = _merged_metadata(item, p.metadata())
        if merged is not None:
            fields["metadata"] = merged
        return answer(store.update_invoiceitem(str(item["id"]), fields), "invoiceitem", paths)

    # -- invoices ---------------------------------------------------------------------------

    @route("POST", "/v1/invoices")
    async def create_invoice(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "customer",
                "auto_advance",
                "collection_method",
                "days_until_due",
                "description",
                "metadata",
                "currency",
                "pending_invoice_items_behavior",
                *INVOICE_EXTRAS,
            )
        )
        paths = expansions(p, "invoice")
        extras = invoice_extras(p, store.tax_rates)
        metadata = p.metadata() or {}
        fields: StripeObject = {
            "customer": p.text("customer", required=True, max_length=255),
            "auto_advance": p.boolean("auto_advance", False),
            "collection_method": p.choice("collection_method", _COLLECTION, _COLLECTION[0]),
            "metadata": {k: v for k, v in metadata.items() if v != ""},
        }
        if p.has("days_until_due"):
            fields["days_until_due"] = p.integer("days_until_due", minimum=0, maximum=_MAX_DAYS)
        if fields["collection_method"] != "send_invoice" and fields.get("days_until_due"):
            raise invalid("days_until_due", _DAYS_ONLY_WHEN_SENT)
        if (
            fields["collection_method"] == "send_invoice"
            and fields.get("days_until_due") is None
            and extras.get("due_date") is None
        ):
            raise StripeError(
                400,
                "Missing required param: days_until_due.",
                code="parameter_missing",
                param="days_until_due",
            )
        if p.has("description"):
            fields["description"] = p.text("description", max_length=1500) or None
        if p.has("currency"):
            fields["currency"] = p.currency()
        _check_due(fields["collection_method"], fields.get("days_until_due"), extras)
        behavior = p.choice("pending_invoice_items_behavior", ("include", "exclude"), "exclude")
        invoice = store.create_invoice(fields | extras, include_pending=behavior == "include")
        return answer(box.render_invoice(invoice), "invoice", paths)

    @route("GET", "/v1/invoices")
    async def list_invoices(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (*LIST_PARAMS, "customer", "status", "collection_method", "subscription", "due_date")
        )
        paths = expansions(p, "invoice", listing=True)
        customer = p.text("customer", max_length=255)
        status = p.choice("status", _STATUSES)
        method = p.choice("collection_method", _COLLECTION)
        if p.has("subscription") or p.has("due_date"):
            p.text("subscription", max_length=255)  # no subscriptions here: nothing matches
            rows: list[StripeObject] = []
        else:
            rows = [
                box.render_invoice(i)
                for i in store.invoices.values()
                if (customer is None or i["customer"] == customer)
                and (status is None or i["status"] == status)
                and (method is None or i["collection_method"] == method)
            ]
        return answer_list(list_objects(rows, p, "/v1/invoices", "invoice"), "invoice", paths)

    @route("GET", "/v1/invoices/{id}")
    async def get_invoice(request: web.Request) -> web.Response:
        p = params_of(request).only(())
        paths = expansions(p, "invoice")
        invoice = box.render_invoice(store.invoice(request.match_info["id"]))
        return answer(invoice, "invoice", paths)

    @route("POST", "/v1/invoices/{id}")
    async def update_invoice(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "metadata",
                "description",
                "auto_advance",
                "days_until_due",
                *(n for n in INVOICE_EXTRAS if n != "subscription"),
            )
        )
        paths = expansions(p, "invoice")
        extras = invoice_extras(p, store.tax_rates)
        metadata = p.metadata()
        description = p.text("description", max_length=1500)
        auto_advance = p.boolean("auto_advance")
        days = p.integer("days_until_due", minimum=0, maximum=_MAX_DAYS)
        invoice = store.invoice(request.match_info["id"])
        fields: StripeObject = {}
        merged = _merged_metadata(invoice, metadata)
        if merged is not None:
            fields["metadata"] = merged
        if days and invoice["collection_method"] != "send_invoice":
            raise invalid("days_until_due", _DAYS_ONLY_WHEN_SENT)
        _check_due(str(invoice["collection_method"]), days, extras)
        if extras and invoice["status"] != "draft":
            name = next(iter(extras))
            raise invalid(name, f"You can only update {name} on a draft invoice.")
        fields.update(extras)
        for name, value in (
            ("description", description or None),
            ("auto_advance", auto_advance),
            ("days_until_due", days),
        ):
            if p.has(name):
                if invoice["status"] != "draft":
                    raise invalid(name, f"You can only update {name} on a draft invoice.")
                fields[name] = value
        store.update(invoice, fields, "invoice")
        if "default_tax_rates" in fields:
            store.recompute(invoice)
        return answer(box.render_invoice(invoice), "invoice", paths)

    @route("DELETE", "/v1/invoices/{id}")
    async def delete_invoice(request: web.Request) -> web.Response:
        params_of(request).only(())
        return json_response(store.delete_invoice(request.match_info["id"]))

    @route("POST", "/v1/invoices/{id}/{action:finalize|pay|void|mark_uncollectible|send}")
    async def invoice_action(request: web.Request) -> web.Response:
        p = params_of(request)
        invoice_id, action = request.match_info["id"], request.match_info["action"]
        if action == "finalize":
            p.only(("auto_advance",))
            p.boolean("auto_advance")
        elif action == "pay":
            p.only(("paid_out_of_band", "payment_method", "source", "off_session", "forgive"))
            for name in ("off_session", "forgive"):
                p.boolean(name)
            for name in ("payment_method", "source"):
                p.text(name, max_length=255)
        else:
            p.only(())
        paths = expansions(p, "invoice")
        if action == "finalize":
            invoice = store.finalize(invoice_id)
        elif action == "pay":
            invoice = store.pay(invoice_id, out_of_band=bool(p.boolean("paid_out_of_band")))
        elif action == "void":
            invoice = store.void(invoice_id)
        elif action == "send":
            invoice = store.invoice(invoice_id)
            if invoice["status"] != "open":
                raise StripeError(400, "You can only send an open invoice.")
            store.emit("invoice.sent", invoice)
        else:
            invoice = store.mark_uncollectible(invoice_id)
        return answer(box.render_invoice(invoice), "invoice", paths)

    @route("GET", "/v1/invoices/{id}/lines")
    async def invoice_lines(request: web.Request) -> web.Response:
        p = params_of(request).only(("limit", "starting_after", "ending_before"))
        paths = expansions(p, "line_item", listing=True)
        invoice = store.invoice(request.match_info["id"])
        lines = list(reversed(store.lines(invoice)))  # lines list in invoice order
        page = list_objects(lines, p, f"/v1/invoices/{invoice['id']}/lines", "line_item")
        return answer_list(page, "line_item", paths)

    # -- events -----------------------------------------------------------------------------

    @route("GET", "/v1/events")
    async def list_events(request: web.Request) -> web.Response:
        p = params_of(request).only((*LIST_PARAMS, "type", "types", "delivery_success"))
        paths = expansions(p, "event", listing=True)
        kinds = p.strings("types", max_items=20, max_length=200)
        kind = p.text("type", max_length=200)
        if kinds is not None and kind is not None:
            raise invalid("types", "You may only specify one of these parameters: type, types.")
        p.boolean("delivery_success")
        wanted = set(kinds) if kinds is not None else None
        rows = [
            e
            for e in store.events.values()
            if (wanted is None or e["type"] in wanted)
            and (kind is None or _type_matches(str(e["type"]), kind))
        ]
        return answer_list(list_objects(rows, p, "/v1/events", "event"), "event", paths)

    @route("GET", "/v1/events/{id}")
    async def get_event(request: web.Request) -> web.Response:
        p = params_of(request).only(())
        paths = expansions(p, "event")
        event = store.events.get(request.match_info["id"])
        if event is None:
            raise missing("event", request.match_info["id"][:255])
        return answer(event, "event", paths)

    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


def _check_due(method: object, days: object, extras: StripeObject) -> None:
    # due_date: a send_invoice invoice's alternative to days_until_due, never both
    if extras.get("due_date") is None:
        return
    if method != "send_invoice":
        raise invalid("due_date", _DAYS_ONLY_WHEN_SENT.replace("days_until_due", "due_date"))
    if days is not None:
        raise invalid(
            "due_date", "You may only specify one of these parameters: days_until_due, due_date."
        )


def _merged_metadata(obj: StripeObject, update: dict[str, str] | None) -> dict[str, str] | None:
    # Stripe merges metadata key by key: "" unsets a key, `metadata=""` unsets them all; the
    # result must still hold at most 50 keys.
    if update is None:
        return None
    if not update:
        return {}
    current = obj.get("metadata")
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > 50:
        raise invalid(
            "metadata", f"Invalid metadata: metadata can have at most 50 keys, got {len(merged)}."
        )
    return merged


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _type_matches(kind: str, pattern: str) -> bool:
    # Stripe accepts a trailing wildcard: `invoice.*`.
    if pattern.endswith(".*"):
        return kind.startswith(pattern[:-1])
    return kind == pattern


def _decimal_unit(p: Params) -> Decimal | None:
    # an item's `unit_amount_decimal`, which Stripe takes only instead of `unit_amount`
    decimal_unit = unit_amount_decimal(p)
    if decimal_unit is not None and p.has("unit_amount"):
        raise invalid(
            "unit_amount_decimal",
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
        )
    return decimal_unit


def _check_period(period: dict[str, int] | None) -> None:
    # an item's service period, whose end may not come before its start
    if period is not None and period["end"] < period["start"]:
        raise invalid("period[end]", "The period end must be on or after its start.")


def _too_large() -> StripeError:
    return invalid(
        "quantity",
        f"The amount (unit_amount × quantity) must be at most {MAX_AMOUNT}.",
        "amount_too_large",
    )
