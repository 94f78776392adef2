"""Stripe's `expand[]`: replace an object's id fields with the objects they name.

`expand[]=customer` on an invoice answers the customer object in place of its id; a list
takes `expand[]=data.customer`; paths nest (`invoice.customer` on an invoice item) up to four
levels, as Stripe allows. A path that does not name an expandable field is refused with
Stripe's "This property cannot be expanded (…)" before the request does anything, so a
create with a bad `expand` creates nothing. A null field stays null; a deleted customer
expands to its deletion stub. `tax_ids`, `sources` and `subscriptions` on a customer are
"includable": left out of the object unless expanded, then answered as lists.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from mediator.sandbox.stripe.errors import StripeError
from mediator.sandbox.stripe.params import Params, invalid
from mediator.sandbox.stripe.store import StripeObject

__all__ = ["MAX_DEPTH", "expand", "expansions"]

MAX_DEPTH = 4

# type → {field: type of the object it expands to}; "-" names a plain hash to walk through,
# "+" a list the object leaves out unless asked for (Stripe's "includable" fields).
_EXPANDABLE: dict[str, dict[str, str]] = {
    "customer": {
        "tax_ids": "+tax_ids",
        "sources": "+sources",
        "subscriptions": "+subscriptions",
        "default_source": "source",
        "test_clock": "test_clock",
        "invoice_settings": "-customer_invoice_settings",
    },
    "-customer_invoice_settings": {"default_payment_method": "payment_method"},
    "invoice": {
        "customer": "customer",
        "default_payment_method": "payment_method",
        "default_source": "source",
        "test_clock": "test_clock",
    },
    "invoiceitem": {"customer": "customer", "invoice": "invoice", "test_clock": "test_clock"},
    "line_item": {"invoice_item": "invoiceitem"},
    "event": {},
}

Resolve = Callable[[str, str], StripeObject | None]
"""(type, id) → the object to put in place of the id, or None if there is none."""


def expansions(params: Params, kind: str, *, listing: bool = False) -> list[list[str]]:
    """Validate `expand` for a response of `kind` (a list of them if `listing`).

    Returns each path split on dots; raises `StripeError` 400 for a malformed `expand` or a
    path that cannot be expanded.
    """
    paths = params.strings("expand", max_items=20, max_length=500) or []
    out: list[list[str]] = []
    for index, path in enumerate(paths):
        parts = path.split(".")
        if len(parts) - (1 if listing else 0) > MAX_DEPTH:
            raise invalid(
                f"expand[{index}]",
                f"You cannot expand more than {MAX_DEPTH} levels of a property. "
                f"Property: {path[:200]}",
            )
        walk = parts
        if listing:
            if parts[0] != "data" or len(parts) == 1:
                hint = (
                    f" You may want to try expanding 'data.{path[:200]}' instead."
                    if _walk(kind, parts) is None
                    else ""
                )
                raise StripeError(
                    400, f"This property cannot be expanded ({parts[0][:200]}).{hint}"
                )
            walk = parts[1:]
        failed = _walk(kind, walk)
        if failed is not None:
            raise StripeError(400, f"This property cannot be expanded ({failed[:200]}).")
        out.append(walk)
    return out


def _walk(kind: str, parts: list[str]) -> str | None:
    # Return the first part that is not expandable from `kind`, or None if all are.
    current = kind
    for index, part in enumerate(parts):
        target = _EXPANDABLE.get(current, {}).get(part)
        if target is None:
            return part
        current = target
        if current.startswith("+") and index + 1 < len(parts):
            return parts[index + 1]  # nothing expands inside those lists here
    return None if not current.startswith("-") else parts[-1]


def expand(obj: StripeObject, kind: str, paths: list[list[str]], resolve: Resolve) -> StripeObject:
    """Return a copy of `obj` (of type `kind`) with every path in `paths` expanded."""
    if not paths:
        return obj
    out = copy.deepcopy(obj)
    for path in paths:
        _expand_one(out, kind, path, resolve)
    return out


def _expand_one(obj: StripeObject, kind: str, path: list[str], resolve: Resolve) -> None:
    field, rest = path[0], path[1:]
    target = _EXPANDABLE[kind][field]
    value = obj.get(field)
    if target.startswith("+"):
        obj[field] = resolve(target, str(obj.get("id")))
        return
    if target.startswith("-"):
        if isinstance(value, dict) and rest:
            _expand_one(value, target, rest, resolve)
        return
    if isinstance(value, str):
        found = resolve(target, value)
        value = copy.deepcopy(found) if found is not None else value
        obj[field] = value
    if rest and isinstance(value, dict) and not value.get("deleted"):
        _expand_one(value, target, rest, resolve)
