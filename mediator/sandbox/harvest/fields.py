"""The types of Harvest's writable fields, and how a request body's values are checked.

Harvest takes bodies as JSON or as form fields; either way a value is cast to its field's type
the way a Rails API casts it (``"12"`` is 12 for an id, ``"true"`` is true, ``"1.5"`` is 1.5
hours) and anything that does not cast is a 422 ``{"message": "<Field> is invalid"}`` naming the
field, before it reaches the store: a list for `project_id`, ``hours=abc``, ``25:99`` as a
started time. Times of day are ``8:00am`` (12-hour accounts) or ``08:00``/``14:30`` (24-hour);
both are taken, whatever the account's setting, and kept as sent. Unknown fields are ignored,
as Harvest ignores them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from mediator.sandbox.harvest.errors import HarvestError
from mediator.sandbox.harvest.times import clock_minutes

__all__ = ["MAX_ID", "check_body", "label"]

MAX_ID = 2**63 - 1  # Harvest ids are 64-bit; a longer one names no record
_MAX_TEXT = 65_535  # a TEXT column; longer notes are refused, not truncated
_MAX_NUMBER = Decimal("1e12")
_DIGITS = re.compile(r"^\s*\d{1,19}\s*$")

# field name → kind; a field not named here is ignored, as Harvest ignores unknown fields
_KINDS: dict[str, str] = {
    **dict.fromkeys(("client_id", "user_id", "task_id", "project_id", "expense_category_id"), "id"),
    **dict.fromkeys(
        (
            "is_active",
            "is_contractor",
            "billable_by_default",
            "is_default",
            "is_billable",
            "is_fixed_fee",
            "budget_is_monthly",
            "is_project_manager",
            "billable",
        ),
        "boolean",
    ),
    **dict.fromkeys(
        (
            "hours",
            "units",
            "total_cost",
            "hourly_rate",
            "budget",
            "fee",
            "cost_rate",
            "cost_budget",
            "default_hourly_rate",
            "unit_price",
        ),
        "number",
    ),
    **dict.fromkeys(("spent_date", "starts_on", "ends_on"), "date"),
    **dict.fromkeys(("started_time", "ended_time"), "clock"),
    **dict.fromkeys(
        (
            "name",
            "first_name",
            "last_name",
            "email",
            "address",
            "code",
            "notes",
            "unit_name",
            "timezone",
        ),
        "text",
    ),
    "weekly_capacity": "seconds",
    "currency": "currency",
    "bill_by": "bill_by",
    "budget_by": "budget_by",
    "roles": "texts",
    "access_roles": "texts",
    "external_reference": "reference",
}
_CHOICES = {
    "bill_by": ("Project", "Tasks", "People", "none"),
    "budget_by": ("project", "project_cost", "task", "task_fees", "person", "none"),
}
_REFERENCE_KEYS = ("id", "group_id", "account_id", "permalink")


def label(name: str) -> str:
    """Return the field as Harvest names it in messages: `project_id` → "Project"."""
    return name.removesuffix("_id").replace("_", " ").capitalize()


def check_body(body: Mapping[str, object], *, form: bool) -> dict[str, object]:
    """Return the body's known fields cast to their types; 422 naming the first bad one.

    `form` says the values came as form fields (strings), where an empty value is null.
    """
    out: dict[str, object] = {}
    for name, value in body.items():
        kind = _KINDS.get(name)
        if kind is None:
            continue  # unknown fields are ignored, as Harvest does
        if value is None or (form and value == ""):
            out[name] = None
            continue
        cast = _cast(kind, value)
        if cast is _INVALID:
            raise HarvestError(422, f"{label(name)} is invalid")
        out[name] = cast
    return out


_INVALID = object()


def _cast(kind: str, value: object) -> object:
    if kind == "id":
        number = _integer(value)
        return number if number is not None and 1 <= number <= MAX_ID else _INVALID
    if kind == "seconds":
        number = _integer(value)
        return number if number is not None and 0 <= number <= 7 * 86_400 else _INVALID
    if kind == "boolean":
        return _boolean(value)
    if kind == "number":
        return _number(value)
    if kind == "date":
        return _date(value)
    if kind == "clock":
        return (
            value.strip()
            if isinstance(value, str) and clock_minutes(value) is not None
            else _INVALID
        )
    if kind == "text":
        return value if isinstance(value, str) and len(value) <= _MAX_TEXT else _INVALID
    if kind == "currency":
        ok = isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()
        return value if ok else _INVALID
    if kind in _CHOICES:
        return value if isinstance(value, str) and value in _CHOICES[kind] else _INVALID
    if kind == "texts":
        ok = isinstance(value, list) and all(isinstance(v, str) and len(v) <= 255 for v in value)
        return value if ok and len(value) <= 100 else _INVALID  # type: ignore[arg-type]  # ok means value is a list
    if kind == "reference":
        return _reference(value)
    return _INVALID


def _integer(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    return None


def _boolean(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    return _INVALID


def _number(value: object) -> object:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 40:
        try:
            number = float(Decimal(value.strip()))
        except InvalidOperation:
            return _INVALID
    else:
        return _INVALID
    if not math.isfinite(number) or abs(number) >= _MAX_NUMBER:
        return _INVALID
    return number


def _date(value: object) -> object:
    if not isinstance(value, str) or len(value) != 10:
        return _INVALID
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return _INVALID


def _reference(value: object) -> object:
    if not isinstance(value, dict):
        return _INVALID
    out: dict[str, object] = {}
    for key, item in value.items():
        if key not in _REFERENCE_KEYS:
            continue
        if item is None:
            out[key] = None
        elif isinstance(item, str | int) and not isinstance(item, bool) and len(str(item)) <= 255:
            out[key] = str(item)
        else:
            return _INVALID
    return out
