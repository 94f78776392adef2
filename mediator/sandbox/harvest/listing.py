"""Harvest's read side: records rendered with nested references, filters, and pagination.

Lists are newest first (time entries and expenses by `spent_date`, then newest created),
`per_page` defaults to and is capped at 2000 (more → 422), `page` numbers the pages, and
`links.next` is an opaque cursor that carries the sort key of the last row, so following it
neither repeats nor skips rows when entries are added between pages. As Harvest documents,
a cursor page reports `page`, `next_page` and `previous_page` only when it is the first or the
last page; those in between report null.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

from mediator.sandbox.harvest.errors import HarvestError
from mediator.sandbox.harvest.fields import MAX_ID
from mediator.sandbox.harvest.store import HarvestStore, lookup
from mediator.sandbox.harvest.times import parse_day, parse_instant

__all__ = ["list_page", "render"]

Record = dict[str, object]
MAX_PER_PAGE = 2000
_DIGITS = re.compile(r"^\d{1,19}$")

_FILTERS: dict[str, tuple[str, ...]] = {
    "clients": ("is_active",),
    "users": ("is_active",),
    "tasks": ("is_active",),
    "projects": ("is_active", "client_id"),
    "user_assignments": ("is_active", "project_id", "user_id"),
    "task_assignments": ("is_active", "project_id", "task_id"),
    "expense_categories": ("is_active",),
    "time_entries": (
        "user_id",
        "client_id",
        "project_id",
        "task_id",
        "is_billed",
        "is_running",
        "approval_status",
    ),
    "expenses": ("user_id", "client_id", "project_id", "is_billed", "approval_status"),
}


def _name(user: Record) -> str:
    return f"{user['first_name']} {user['last_name']}"


def render(store: HarvestStore, resource: str, record: Record) -> Record:
    """Return a record as the API shows it, with `{id, name}` objects for its references."""
    out = dict(record)
    tables = store.tables
    project = lookup(tables["projects"], out.pop("project_id", None))
    if "project_id" in record:
        out["project"] = project and {
            "id": project["id"],
            "name": project["name"],
            "code": project["code"],
        }
    client_id = out.pop("client_id", None) or (project or {}).get("client_id")
    client = lookup(tables["clients"], client_id)
    if resource in ("projects", "time_entries", "expenses"):
        out["client"] = client and {
            "id": client["id"],
            "name": client["name"],
            "currency": client["currency"],
        }
    if "user_id" in record:
        user = lookup(tables["users"], out.pop("user_id"))
        out["user"] = user and {"id": user["id"], "name": _name(user)}
    if "task_id" in record:
        task = lookup(tables["tasks"], out.pop("task_id"))
        out["task"] = task and {"id": task["id"], "name": task["name"]}
    if "expense_category_id" in record:
        category = lookup(tables["expense_categories"], out.pop("expense_category_id"))
        out["expense_category"] = category and {
            "id": category["id"],
            "name": category["name"],
            "unit_price": category["unit_price"],
            "unit_name": category["unit_name"],
        }
    if resource in ("time_entries", "expenses"):
        ua = store.assigned("user_assignments", record["project_id"], record["user_id"])
        out["user_assignment"] = ua and {
            k: ua[0][k]
            for k in (
                "id",
                "is_project_manager",
                "is_active",
                "budget",
                "hourly_rate",
                "created_at",
                "updated_at",
            )
        }
    if resource == "time_entries":
        ta = store.assigned("task_assignments", record["project_id"], record["task_id"])
        out["task_assignment"] = ta and {
            k: ta[0][k]
            for k in (
                "id",
                "billable",
                "is_active",
                "hourly_rate",
                "budget",
                "created_at",
                "updated_at",
            )
        }
        out["timer_started_at"] = None
    return out


def _sort_key(resource: str, record: Record) -> list[object]:
    if resource in ("time_entries", "expenses"):
        return [str(record["spent_date"]), int(record["id"])]  # type: ignore[call-overload]  # the store's ids are ints
    return [int(record["id"])]  # type: ignore[call-overload]  # the store's ids are ints


def list_page(
    store: HarvestStore,
    resource: str,
    query: Mapping[str, str],
    base_url: str,
    scope: Mapping[str, int] | None = None,
) -> Record:
    """Return one page of `resource` filtered by `query`, with Harvest's paging fields.

    Every parameter is checked before use (422 naming it): numbers in range, booleans,
    dates, ISO 8601 instants and the cursor, which must be one this sandbox issued.
    """
    per_page = _int(query.get("per_page", str(MAX_PER_PAGE)), "per_page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise HarvestError(422, f"per_page must be between 1 and {MAX_PER_PAGE}")
    wanted = _filters(resource, query)
    rows = [
        r for r in store.tables[resource].values() if _matches(store, resource, r, wanted, scope)
    ]
    rows.sort(key=lambda r: _sort_key(resource, r), reverse=True)
    total = len(rows)
    total_pages = max(1, -(-total // per_page))
    filters = {k: v for k, v in query.items() if k not in ("page", "cursor", "per_page", "ref")}
    cursor = query.get("cursor")
    if cursor:  # cursor wins over page, as Harvest documents
        after = _decode_cursor(cursor, resource)
        before = sum(1 for r in rows if _sort_key(resource, r) >= after)
        rest = rows[before:]
        chunk, more = rest[:per_page], len(rest) > per_page
        # Harvest numbers a cursor page only when it is the first or the last one
        page_no: int | None = None
        if not more:
            page_no = total_pages
        elif before == 0:
            page_no = 1
    else:
        page_no = _int(query.get("page", "1"), "page")
        if page_no < 1:
            raise HarvestError(422, "page must be 1 or more")
        chunk = rows[(page_no - 1) * per_page : page_no * per_page]
        more = page_no < total_pages

    def link(**params: object) -> str:
        return f"{base_url}?{urlencode({**filters, **params, 'per_page': per_page})}"

    next_link = None
    if more and chunk:
        next_cursor = _encode_cursor(_sort_key(resource, chunk[-1]))
        next_link = link(cursor=next_cursor, ref="next_cursor")
    previous_page = page_no - 1 if page_no is not None and page_no > 1 else None
    return {
        resource: [render(store, resource, r) for r in chunk],
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": total,
        "next_page": page_no + 1 if page_no is not None and more else None,
        "previous_page": previous_page,
        "page": page_no,
        "links": {
            "first": link(page=1, ref="first"),
            "next": next_link,
            "previous": link(page=previous_page, ref="previous") if previous_page else None,
            "last": link(page=total_pages, ref="last"),
        },
    }


class _Wanted:
    """The validated filters of one list request."""

    def __init__(self) -> None:
        self.equal: dict[str, object] = {}
        self.reference: str | None = None
        self.since: float | None = None
        self.start: str | None = None
        self.end: str | None = None


_BOOLEANS = ("is_active", "is_billed", "is_running")
_APPROVAL = ("unsubmitted", "submitted", "approved")


def _filters(resource: str, query: Mapping[str, str]) -> _Wanted:
    wanted = _Wanted()
    for name in _FILTERS[resource]:
        text = query.get(name)
        if text is None:
            continue
        if name.endswith("_id"):
            value: object = _int(text, name)
        elif name in _BOOLEANS:
            if text.lower() not in ("true", "false"):
                raise HarvestError(422, f"{name} must be true or false")
            value = text.lower() == "true"
        elif text not in _APPROVAL:
            raise HarvestError(422, f"{name} must be one of {', '.join(_APPROVAL)}")
        else:
            value = text
        wanted.equal[name] = value
    if resource == "time_entries":  # documented for time entries only; other lists ignore it
        wanted.reference = query.get("external_reference_id")
    if query.get("updated_since"):
        wanted.since = parse_instant(query["updated_since"], "updated_since")
    if resource in ("time_entries", "expenses"):
        if query.get("from"):
            wanted.start = parse_day(query["from"], "from")
        if query.get("to"):
            wanted.end = parse_day(query["to"], "to")
    return wanted


def _matches(
    store: HarvestStore,
    resource: str,
    record: Record,
    wanted: _Wanted,
    scope: Mapping[str, int] | None,
) -> bool:
    if scope and any(record.get(k) != v for k, v in scope.items()):
        return False
    for name, value in wanted.equal.items():
        actual = record.get(name)
        if name == "client_id" and resource != "projects":
            project = lookup(store.tables["projects"], record["project_id"])
            actual = project["client_id"] if project else None
        if actual != value:
            return False
    if wanted.reference is not None:
        external = record.get("external_reference")
        if not isinstance(external, dict) or str(external.get("id")) != wanted.reference:
            return False
    if wanted.since is not None and _instant(record["updated_at"]) < wanted.since:
        return False
    spent = str(record.get("spent_date"))
    if wanted.start is not None and spent < wanted.start:
        return False
    return not (wanted.end is not None and spent > wanted.end)


def _instant(stamp: object) -> float:
    # The store writes "…Z" stamps; a test that plants a broken one (to play a vendor's bug)
    # gets it listed as changed after every watermark, so the client meets it, never a 500.
    try:
        moment = datetime.fromisoformat(str(stamp))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError):
        return math.inf


def _int(text: str, name: str) -> int:
    if not _DIGITS.match(text):
        raise HarvestError(422, f"{name} must be an integer")
    number = int(text)
    if number > MAX_ID:
        raise HarvestError(422, f"{name} is out of range")
    return number


def _encode_cursor(key: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, resource: str) -> list[object]:
    """The sort key a cursor carries; 422 for anything this sandbox did not issue."""
    try:
        if len(cursor) > 200:
            raise ValueError("too long")
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise HarvestError(422, "cursor is invalid") from exc
    dated = resource in ("time_entries", "expenses")
    ok = isinstance(value, list) and len(value) == (2 if dated else 1)
    if ok and dated:
        ok = isinstance(value[0], str) and len(value[0]) <= 10
    if ok:
        last = value[-1]
        ok = isinstance(last, int) and not isinstance(last, bool) and 0 <= last <= MAX_ID
    if not ok:
        raise HarvestError(422, "cursor is invalid")
    return value  # type: ignore[no-any-return]  # checked above
