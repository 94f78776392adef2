"""The `/v1/` routes: customers, invoice items, invoices (with their actions) and events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from mediator.sandbox.base import json_response
from mediator.sandbox.stripe.errors import StripeError, missing
from mediator.sandbox.stripe.params import Params, params_of
from mediator.sandbox.stripe.store import StripeObject

if TYPE_CHECKING:
    from mediator.sandbox.stripe.app import StripeSandbox

__all__ = ["add_resource_routes", "list_objects"]

_CUSTOMER_FIELDS = ("name", "email", "description", "phone", "currency", "invoice_prefix")
_TAX_EXEMPT = ("none", "exempt", "reverse")


def list_objects(objects: list[StripeObject], params: Params, url: str, kind: str) -> StripeObject:
    """Return one page of `objects` (oldest first in storage) newest first, as Stripe lists."""
    limit = params.integer("limit", 10)
    assert limit is not None
    if not 1 <= limit <= 100:
        raise StripeError(
            400,
            "This value must be less than or equal to 100 and greater than or equal to 1.",
            param="limit",
        )
    objects = [o for o in objects if _created_matches(o, params)]
    after, before = params.text("starting_after"), params.text("ending_before")
    if after and before:
        raise StripeError(
            400, "You may only specify one of these parameters: ending_before, starting_after."
        )
    rows = list(reversed(objects))
    ids = [r["id"] for r in rows]
    if after:
        if after not in ids:
            raise missing(kind, after, "starting_after")
        rest = rows[ids.index(after) + 1 :]
        page, more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise missing(kind, before, "ending_before")
        rest = rows[: ids.index(before)]
        page, more = rest[-limit:], len(rest) > limit
    else:
        page, more = rows[:limit], len(rows) > limit
    return {"object": "list", "url": url, "has_more": more, "data": page}


def add_resource_routes(app: web.Application, box: StripeSandbox) -> None:
    """Add the resource routes of `box` to `app`."""
    store = box.store
    Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
    routes: list[tuple[str, str, Route]] = []

    def route(method: str, path: str) -> Callable[[Route], Route]:
        def register(handler: Route) -> Route:
            routes.append((method, path, handler))
            return handler

        return register

    # -- customers --------------------------------------------------------------------------

    def customer_fields(p: Params) -> StripeObject:
        fields: StripeObject = {k: p.text(k) for k in _CUSTOMER_FIELDS if p.has(k)}
        if p.has("tax_exempt"):
            fields["tax_exempt"] = p.choice("tax_exempt", _TAX_EXEMPT)
        for name in ("metadata", "address"):
            if p.has(name):
                fields[name] = p.mapping(name)
        return fields

    allowed_customer = (*_CUSTOMER_FIELDS, "tax_exempt", "metadata", "address")

    @route("POST", "/v1/customers")
    async def create_customer(request: web.Request) -> web.Response:
        p = params_of(request).only(allowed_customer)
        return json_response(store.create_customer(customer_fields(p)))

    @route("GET", "/v1/customers")
    async def list_customers(request: web.Request) -> web.Response:
        p = params_of(request).only(
            ("limit", "starting_after", "ending_before", "email", "created")
        )
        email = p.text("email")
        rows = [c for c in store.customers.values() if email is None or c["email"] == email]
        return json_response(list_objects(rows, p, "/v1/customers", "customer"))

    @route("GET", "/v1/customers/{id}")
    async def get_customer(request: web.Request) -> web.Response:
        return json_response(store.customer(request.match_info["id"]))

    @route("POST", "/v1/customers/{id}")
    async def update_customer(request: web.Request) -> web.Response:
        p = params_of(request).only(allowed_customer)
        customer = store.customer(request.match_info["id"])
        return json_response(store.update(customer, customer_fields(p), "customer"))

    @route("DELETE", "/v1/customers/{id}")
    async def delete_customer(request: web.Request) -> web.Response:
        return json_response(store.delete_customer(request.match_info["id"]))

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
            )
        )
        customer = store.customer(p.text("customer", required=True) or "", "customer")
        amount = p.integer("amount")
        quantity = p.integer("quantity", 1, minimum=0) or 0
        unit = p.integer("unit_amount")
        if amount is None and unit is None:
            raise StripeError(
                400, "You must specify either `amount` or `unit_amount`.", param="amount"
            )
        currency = p.text("currency") or customer.get("currency")
        if currency is None:
            raise StripeError(
                400, "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        fields: StripeObject = {
            "customer": customer["id"],
            "currency": str(currency).lower(),
            "amount": amount if amount is not None else (unit or 0) * quantity,
            "quantity": 1 if amount is not None else quantity,
            "unit_amount": unit if unit is not None else amount,
            "unit_amount_decimal": str(unit if unit is not None else amount),
            "description": p.text("description"),
            "metadata": p.mapping("metadata") or {},
        }
        period = p.mapping("period")
        if period:
            fields["period"] = {k: int(v) for k, v in period.items()}
        return json_response(store.create_invoiceitem(fields, p.text("invoice")))

    @route("GET", "/v1/invoiceitems")
    async def list_items(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "limit",
                "starting_after",
                "ending_before",
                "customer",
                "invoice",
                "pending",
                "created",
            )
        )
        customer, invoice, pending = p.text("customer"), p.text("invoice"), p.boolean("pending")
        rows = [
            i
            for i in store.invoiceitems.values()
            if (customer is None or i["customer"] == customer)
            and (invoice is None or i["invoice"] == invoice)
            and (pending is None or (i["invoice"] is None) == pending)
        ]
        return json_response(list_objects(rows, p, "/v1/invoiceitems", "invoiceitem"))

    @route("GET", "/v1/invoiceitems/{id}")
    async def get_item(request: web.Request) -> web.Response:
        return json_response(store.invoiceitem(request.match_info["id"]))

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
            )
        )
        fields: StripeObject = {
            "customer": p.text("customer", required=True),
            "auto_advance": p.boolean("auto_advance", False),
            "collection_method": p.choice(
                "collection_method",
                ("charge_automatically", "send_invoice"),
                "charge_automatically",
            ),
            "metadata": p.mapping("metadata") or {},
        }
        if p.has("days_until_due"):
            fields["days_until_due"] = p.integer("days_until_due", minimum=0)
        if fields["collection_method"] == "send_invoice" and not p.has("days_until_due"):
            raise StripeError(
                400,
                "Missing required param: days_until_due.",
                code="parameter_missing",
                param="days_until_due",
            )
        if p.has("description"):
            fields["description"] = p.text("description")
        if p.has("currency"):
            fields["currency"] = (p.text("currency") or "").lower()
        behavior = p.choice("pending_invoice_items_behavior", ("include", "exclude"), "exclude")
        invoice = store.create_invoice(fields, include_pending=behavior == "include")
        return json_response(box.render_invoice(invoice))

    @route("GET", "/v1/invoices")
    async def list_invoices(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "limit",
                "starting_after",
                "ending_before",
                "customer",
                "status",
                "collection_method",
                "created",
            )
        )
        customer, status = p.text("customer"), p.text("status")
        rows = [
            box.render_invoice(i)
            for i in store.invoices.values()
            if (customer is None or i["customer"] == customer)
            and (status is None or i["status"] == status)
        ]
        return json_response(list_objects(rows, p, "/v1/invoices", "invoice"))

    @route("GET", "/v1/invoices/{id}")
    async def get_invoice(request: web.Request) -> web.Response:
        return json_response(box.render_invoice(store.invoice(request.match_info["id"])))

    @route("POST", "/v1/invoices/{id}")
    async def update_invoice(request: web.Request) -> web.Response:
        p = params_of(request).only(("metadata", "description", "auto_advance", "days_until_due"))
        invoice = store.invoice(request.match_info["id"])
        fields: StripeObject = {}
        if p.has("metadata"):
            fields["metadata"] = p.mapping("metadata")
        for name in ("description", "auto_advance", "days_until_due"):
            if p.has(name):
                if invoice["status"] != "draft":
                    raise StripeError(
                        400, f"You can only update {name} on a draft invoice.", param=name
                    )
                fields[name] = (
                    p.boolean(name)
                    if name == "auto_advance"
                    else p.integer(name)
                    if name == "days_until_due"
                    else p.text(name)
                )
        store.update(invoice, fields, "invoice")
        return json_response(box.render_invoice(invoice))

    @route("DELETE", "/v1/invoices/{id}")
    async def delete_invoice(request: web.Request) -> web.Response:
        return json_response(store.delete_invoice(request.match_info["id"]))

    @route("POST", "/v1/invoices/{id}/{action:finalize|pay|void|mark_uncollectible|send}")
    async def invoice_action(request: web.Request) -> web.Response:
        p = params_of(request)
        invoice_id, action = request.match_info["id"], request.match_info["action"]
        if action == "finalize":
            p.only(("auto_advance",))
            invoice = store.finalize(invoice_id)
        elif action == "pay":
            p.only(("paid_out_of_band", "payment_method", "source", "off_session", "forgive"))
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
        return json_response(box.render_invoice(invoice))

    @route("GET", "/v1/invoices/{id}/lines")
    async def invoice_lines(request: web.Request) -> web.Response:
        invoice = store.invoice(request.match_info["id"])
        p = params_of(request).only(("limit", "starting_after", "ending_before"))
        lines = list(reversed(store.lines(invoice)))  # lines list in invoice order
        return json_response(
            list_objects(lines, p, f"/v1/invoices/{invoice['id']}/lines", "line_item")
        )

    # -- events -----------------------------------------------------------------------------

    @route("GET", "/v1/events")
    async def list_events(request: web.Request) -> web.Response:
        p = params_of(request).only(
            (
                "limit",
                "starting_after",
                "ending_before",
                "type",
                "types",
                "delivery_success",
                "created",
            )
        )
        kinds = p.values.get("types")
        wanted = set(kinds) if isinstance(kinds, list) else None
        kind = p.text("type")
        rows = [
            e
            for e in store.events.values()
            if (wanted is None or e["type"] in wanted)
            and (kind is None or _type_matches(str(e["type"]), kind))
        ]
        return json_response(list_objects(rows, p, "/v1/events", "event"))

    @route("GET", "/v1/events/{id}")
    async def get_event(request: web.Request) -> web.Response:
        event = store.events.get(request.match_info["id"])
        if event is None:
            raise missing("event", request.match_info["id"])
        return json_response(event)

    for method, path, handler in routes:
        app.router.add_route(method, path, handler)


def _created_matches(obj: StripeObject, params: Params) -> bool:
    # `created=<ts>` or `created[gt|gte|lt|lte]=<ts>`, as every Stripe list takes
    value = params.values.get("created")
    if value is None:
        return True
    bounds = value if isinstance(value, dict) else {"eq": value}
    created = obj.get("created")
    for op, raw in bounds.items():
        if not isinstance(raw, str) or not raw.lstrip("-").isdigit():
            raise StripeError(400, f"Invalid integer: {raw}", param=f"created[{op}]")
        limit = int(raw)
        ok = {
            "eq": created == limit,
            "gt": isinstance(created, int) and created > limit,
            "gte": isinstance(created, int) and created >= limit,
            "lt": isinstance(created, int) and created < limit,
            "lte": isinstance(created, int) and created <= limit,
        }.get(op)
        if ok is None:
            raise StripeError(
                400,
                f"Received unknown parameter: created[{op}]",
                code="parameter_unknown",
                param=f"created[{op}]",
            )
        if not ok:
            return False
    return True


def _type_matches(kind: str, pattern: str) -> bool:
    # Stripe accepts a trailing wildcard: `invoice.*`.
    if pattern.endswith(".*"):
        return kind.startswith(pattern[:-1])
    return kind == pattern
