"""Harvest's read side: records rendered with nested references, filters, and pagination.

Lists are newest first (time entries and expenses by `spent_date`, then newest created),
`per_page` defaults to and is capped at 2000 (more → 422), `page` numbers the pages, and
`links.next` is an opaque cursor that carries the sort key of the last row, so following it
neither repeats nor skips rows when entries are added between pages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date
from urllib.parse import urlencode

from mediator.sandbox.harvest.store import HarvestError, HarvestStore, lookup

__all__ = ["list_page", "render"]

Record = dict[str, object]
MAX_PER_PAGE = 2000

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
        return [str(record["spent_date"]), int(record["id"])]  # type: ignore[call-overload]
    return [int(record["id"])]  # type: ignore[call-overload]


def list_page(
    store: HarvestStore,
    resource: str,
    query: Mapping[str, str],
    base_url: str,
    scope: Mapping[str, int] | None = None,
) -> Record:
    """Return one page of `resource` filtered by `query`, with Harvest's paging fields."""
    per_page = _int(query.get("per_page", str(MAX_PER_PAGE)), "per_page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise HarvestError(422, f"per_page must be between 1 and {MAX_PER_PAGE}")
    rows = [
        r for r in store.tables[resource].values() if _matches(store, resource, r, query, scope)
    ]
    rows.sort(key=lambda r: _sort_key(resource, r), reverse=True)
    total = len(rows)
    total_pages = max(1, -(-total // per_page))
    filters = {k: v for k, v in query.items() if k not in ("page", "cursor", "per_page", "ref")}
    cursor = query.get("cursor")
    if cursor:
        after = _decode_cursor(cursor)
        rows = [r for r in rows if _sort_key(resource, r) < after]
        page_no: int | None = None
        chunk = rows[:per_page]
        more = len(rows) > per_page
    else:
        page_no = _int(query.get("page", "1"), "page")
        chunk = rows[(page_no - 1) * per_page : page_no * per_page]
        more = page_no < total_pages

    def link(**params: object) -> str:
        return f"{base_url}?{urlencode({**filters, **params, 'per_page': per_page})}"

    next_link = None
    if more and chunk:
        next_cursor = _encode_cursor(_sort_key(resource, chunk[-1]))
        next_link = link(cursor=next_cursor, ref="next_cursor")
    return {
        resource: [render(store, resource, r) for r in chunk],
        "per_page": per_page,
        "total_pages": total_pages,
        "total_entries": total,
        "next_page": page_no + 1 if page_no is not None and more else None,
        "previous_page": page_no - 1 if page_no is not None and page_no > 1 else None,
        "page": page_no,
        "links": {
            "first": link(page=1),
            "next": next_link,
            "previous": link(page=page_no - 1) if page_no is not None and page_no > 1 else None,
            "last": link(page=total_pages),
        },
    }


def _matches(
    store: HarvestStore,
    resource: str,
    record: Record,
    query: Mapping[str, str],
    scope: Mapping[str, int] | None,
) -> bool:
    if scope and any(record.get(k) != v for k, v in scope.items()):
        return False
    for name in _FILTERS[resource]:
        wanted = query.get(name)
        if wanted is None:
            continue
        value = record.get(name)
        if name == "client_id" and resource != "projects":
            project = lookup(store.tables["projects"], record["project_id"])
            value = project["client_id"] if project else None
        if str(value).lower() != wanted.lower():
            return False
    reference = query.get("external_reference_id") if resource == "time_entries" else None
    if reference is not None:  # documented for time entries only; other lists ignore it
        external = record.get("external_reference")
        if not isinstance(external, dict) or str(external.get("id")) != reference:
            return False
    since = query.get("updated_since")
    if since and str(record["updated_at"]) < since.replace("+00:00", "Z"):
        return False
    spent = record.get("spent_date")
    if spent is not None:
        if query.get("from") and str(spent) < _day(query["from"]):
            return False
        if query.get("to") and str(spent) > _day(query["to"]):
            return False
    return True


def _day(text: str) -> str:
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise HarvestError(422, f"invalid date: {text}") from exc


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise HarvestError(422, f"{name} must be an integer") from exc


def _encode_cursor(key: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> list[object]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as exc:
        raise HarvestError(422, "cursor is invalid") from exc
    if not isinstance(value, list):
        raise HarvestError(422, "cursor is invalid")
    return value
