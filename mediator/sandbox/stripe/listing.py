"""Stripe's list pages: newest first, `limit` 1..100, cursors, `created` ranges.

`starting_after`/`ending_before` name an object of the list; an id that is not in it is a
400 `resource_missing` naming the cursor (a parameter, not the URL, is wrong). `created`
takes a Unix timestamp or a hash of `gt`, `gte`, `lt`, `lte` bounds.
"""

from __future__ import annotations

from mediator.sandbox.stripe.errors import StripeError, unknown_parameter
from mediator.sandbox.stripe.params import Params, invalid, parse_integer
from mediator.sandbox.stripe.store import StripeObject

__all__ = ["LIST_PARAMS", "list_objects"]

LIST_PARAMS = ("limit", "starting_after", "ending_before", "created")
"""The parameters every list endpoint takes (each adds its own filters)."""

_BOUNDS = ("gt", "gte", "lt", "lte")


def list_objects(objects: list[StripeObject], params: Params, url: str, kind: str) -> StripeObject:
    """Return one page of `objects` (oldest first in storage) newest first, as Stripe lists."""
    limit = params.integer("limit", 10)
    assert limit is not None
    if not 1 <= limit <= 100:
        raise invalid(
            "limit",
            "This value must be less than or equal to 100 and greater than or equal to 1.",
        )
    bounds = _created(params)
    objects = [o for o in objects if _within(o.get("created"), bounds)]
    after = params.text("starting_after", max_length=255)
    before = params.text("ending_before", max_length=255)
    if after and before:
        raise StripeError(
            400, "You may only specify one of these parameters: ending_before, starting_after."
        )
    rows = list(reversed(objects))
    ids = [r["id"] for r in rows]
    if after:
        if after not in ids:
            raise _missing_cursor(kind, after, "starting_after")
        rest = rows[ids.index(after) + 1 :]
        page, more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise _missing_cursor(kind, before, "ending_before")
        rest = rows[: ids.index(before)]
        page, more = rest[-limit:], len(rest) > limit
    else:
        page, more = rows[:limit], len(rows) > limit
    return {"object": "list", "url": url, "has_more": more, "data": page}


def _missing_cursor(kind: str, object_id: str, param: str) -> StripeError:
    return StripeError(
        400, f"No such {kind}: '{object_id[:255]}'", code="resource_missing", param=param
    )


def _created(params: Params) -> dict[str, int]:
    # `created=<ts>` or `created[gt|gte|lt|lte]=<ts>`, as every Stripe list takes
    value = params.values.get("created")
    if value is None:
        return {}
    if isinstance(value, str):
        return {"eq": params.integer("created") or 0}
    if not isinstance(value, dict):
        raise invalid("created", "Invalid object: created")
    for op in value:
        if op not in _BOUNDS:
            raise unknown_parameter(f"created[{op[:80]}]")
    return {op: parse_integer(f"created[{op}]", raw) for op, raw in value.items()}


def _within(created: object, bounds: dict[str, int]) -> bool:
    if not bounds:
        return True
    if not isinstance(created, int):
        return False
    checks = {
        "eq": lambda limit: created == limit,
        "gt": lambda limit: created > limit,
        "gte": lambda limit: created >= limit,
        "lt": lambda limit: created < limit,
        "lte": lambda limit: created <= limit,
    }
    return all(checks[op](limit) for op, limit in bounds.items())
