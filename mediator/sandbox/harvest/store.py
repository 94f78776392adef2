"""The in-memory Harvest account: clients, users, tasks, projects, assignments, time, expenses.

Records are stored flat (references as ids) and rendered with the nested `{id, name}` objects
Harvest returns, so a renamed client shows its new name everywhere. Every change moves
`updated_at`, because `updated_since` polling is the only change feed Harvest has.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

from mediator.clock import Clock
from mediator.sandbox.harvest.errors import HarvestError
from mediator.sandbox.harvest.times import clock_minutes

__all__ = ["RESOURCES", "HarvestError", "HarvestStore", "format_timestamp", "lookup"]

Record = dict[str, object]

RESOURCES = (
    "clients",
    "users",
    "tasks",
    "projects",
    "user_assignments",
    "task_assignments",
    "expense_categories",
    "time_entries",
    "expenses",
)

# Writable fields per resource, with defaults; anything else in a body is ignored, as Harvest does.
_FIELDS: dict[str, dict[str, object]] = {
    "clients": {"name": None, "is_active": True, "address": None, "currency": "USD"},
    "users": {
        "first_name": None,
        "last_name": None,
        "email": None,
        "is_active": True,
        "is_contractor": False,
        "weekly_capacity": 144000,
        "default_hourly_rate": None,
        "cost_rate": None,
        "roles": [],
        "access_roles": ["member"],
        "timezone": "UTC",
    },
    "tasks": {
        "name": None,
        "billable_by_default": True,
        "default_hourly_rate": None,
        "is_default": False,
        "is_active": True,
    },
    "projects": {
        "client_id": None,
        "name": None,
        "code": None,
        "is_active": True,
        "is_billable": True,
        "is_fixed_fee": False,
        "bill_by": "Project",
        "hourly_rate": None,
        "budget": None,
        "budget_by": "none",
        "budget_is_monthly": False,
        "cost_budget": None,
        "fee": None,
        "notes": None,
        "starts_on": None,
        "ends_on": None,
    },
    "user_assignments": {
        "project_id": None,
        "user_id": None,
        "is_active": True,
        "is_project_manager": False,
        "hourly_rate": None,
        "budget": None,
    },
    "task_assignments": {
        "project_id": None,
        "task_id": None,
        "is_active": True,
        "billable": True,
        "hourly_rate": None,
        "budget": None,
    },
    "expense_categories": {"name": None, "unit_name": None, "unit_price": None, "is_active": True},
    "time_entries": {
        "project_id": None,
        "task_id": None,
        "user_id": None,
        "spent_date": None,
        "hours": None,
        "started_time": None,
        "ended_time": None,
        "notes": None,
        "external_reference": None,
    },
    "expenses": {
        "project_id": None,
        "expense_category_id": None,
        "user_id": None,
        "spent_date": None,
        "units": None,
        "total_cost": None,
        "notes": None,
        "billable": True,
    },
}

_REQUIRED = {
    "clients": ("name",),
    "users": ("first_name", "last_name", "email"),
    "tasks": ("name",),
    "projects": ("client_id", "name", "is_billable", "bill_by", "budget_by"),
    "user_assignments": ("project_id", "user_id"),
    "task_assignments": ("project_id", "task_id"),
    "expense_categories": ("name",),
    "time_entries": ("project_id", "task_id", "spent_date"),
    "expenses": ("project_id", "expense_category_id", "spent_date"),
}

_REFERENCES = {
    "client_id": "clients",
    "user_id": "users",
    "task_id": "tasks",
    "project_id": "projects",
    "expense_category_id": "expense_categories",
}


def format_timestamp(epoch: float) -> str:
    """Format epoch seconds as Harvest does: `2017-06-26T22:32:52Z`."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HarvestStore:
    """Tables of records by resource name, with Harvest's validation and derived fields."""

    def __init__(self, clock: Clock, *, first_id: int = 1_000_000) -> None:
        self._clock = clock
        self.tables: dict[str, dict[int, Record]] = {name: {} for name in RESOURCES}
        self._next_id = first_id
        # (project, user|task) → assignments; rebuilt after any change to assignments
        self._assignments: dict[str, dict[tuple[object, object], list[Record]]] = {}

    def create(self, resource: str, body: Record, *, user_id: int | None = None) -> Record:
        """Validate and insert a record from a request body; return the stored record."""
        fields = _FIELDS[resource]
        record: Record = {k: body.get(k, v) for k, v in fields.items()}
        if resource in ("time_entries", "expenses") and record["user_id"] is None:
            record["user_id"] = user_id
        self._validate(resource, record)
        self._next_id += 1
        now = format_timestamp(self._clock.time())
        record.update(id=self._next_id, created_at=now, updated_at=now)
        if resource in ("time_entries", "expenses"):
            record.update(
                is_locked=False,
                locked_reason=None,
                is_closed=False,
                is_billed=False,
                invoice=None,
                approval_status="unsubmitted",
            )
        self._derive(resource, record)
        self.tables[resource][self._next_id] = record
        self._assignments.pop(resource, None)
        return record

    def update(self, resource: str, record_id: int, body: Record) -> Record:
        """Apply a PATCH body; locked time entries and expenses refuse with 422."""
        record = self.get(resource, record_id)
        if record.get("is_locked"):
            raise HarvestError(422, f"This entry is locked: {record['locked_reason']}")
        changed = dict(record)
        changed.update({k: v for k, v in body.items() if k in _FIELDS[resource]})
        if "hours" not in body and ("started_time" in body or "ended_time" in body):
            changed["hours"] = None
        self._validate(resource, changed)
        record.update(changed)
        self._assignments.pop(resource, None)
        record["updated_at"] = format_timestamp(self._clock.time())
        self._derive(resource, record)
        return record

    def delete(self, resource: str, record_id: int) -> None:
        """Delete a record; locked entries refuse with 422."""
        record = self.get(resource, record_id)
        if record.get("is_locked"):
            raise HarvestError(422, f"This entry is locked: {record['locked_reason']}")
        del self.tables[resource][record_id]
        self._assignments.pop(resource, None)

    def get(self, resource: str, record_id: int) -> Record:
        """Return a stored record or raise 404."""
        record = self.tables[resource].get(record_id)
        if record is None:
            raise HarvestError(404, "Not Found")
        return record

    def approve(self, resource: str, record_id: int) -> Record:
        """Approve a time entry or expense: it becomes closed and locked (edits then give 422)."""
        record = self.get(resource, record_id)
        record.update(
            is_closed=True,
            is_locked=True,
            approval_status="approved",
            locked_reason="Item Approved and Locked for this Time Period",
            updated_at=format_timestamp(self._clock.time()),
        )
        return record

    def mark_billed(self, resource: str, record_id: int, invoice: Record) -> Record:
        """Mark an entry invoiced (`is_billed`, `invoice`), which also locks it."""
        record = self.get(resource, record_id)
        record.update(
            is_billed=True,
            invoice=invoice,
            is_locked=True,
            locked_reason="Item Invoiced and Locked for this Time Period",
            updated_at=format_timestamp(self._clock.time()),
        )
        return record

    def assigned(self, resource: str, project_id: object, other_id: object) -> list[Record]:
        """Return the user or task assignments of a project for one user or task (indexed)."""
        index = self._assignments.get(resource)
        if index is None:
            index = {}
            other = "user_id" if resource == "user_assignments" else "task_id"
            for row in self.tables[resource].values():
                index.setdefault((row["project_id"], row[other]), []).append(row)
            self._assignments[resource] = index
        return index.get((project_id, other_id), [])

    def find(self, resource: str, **where: object) -> list[Record]:
        """Return the records whose fields equal every given value."""
        return [
            r
            for r in self.tables[resource].values()
            if all(r.get(k) == v for k, v in where.items())
        ]

    def _validate(self, resource: str, record: Record) -> None:
        for name in _REQUIRED[resource]:
            if record.get(name) in (None, ""):
                label = name.removesuffix("_id").replace("_", " ").capitalize()
                raise HarvestError(422, f"{label} can't be blank")
        for name, table in _REFERENCES.items():
            value = record.get(name)
            if name in record and value is not None and value not in self.tables[table]:
                label = name.removesuffix("_id").replace("_", " ").capitalize()
                raise HarvestError(422, f"{label} not found")
        for name in ("spent_date", "starts_on", "ends_on"):
            value = record.get(name)
            if value is not None:
                try:
                    date.fromisoformat(str(value))
                except ValueError as exc:
                    raise HarvestError(422, f"{name} is not a valid date") from exc
        if resource == "time_entries":
            self._validate_time(record)

    def _validate_time(self, record: Record) -> None:
        project, task, user = record["project_id"], record["task_id"], record["user_id"]
        if not any(a["is_active"] for a in self.assigned("task_assignments", project, task)):
            raise HarvestError(422, "Task is not assigned to the project")
        if user is not None and not any(
            a["is_active"] for a in self.assigned("user_assignments", project, user)
        ):
            raise HarvestError(422, "User is not assigned to the project")
        hours = record.get("hours")
        started, ended = record.get("started_time"), record.get("ended_time")
        if hours is None and started and ended:
            start, end = (
                _clock_minutes(started, "Started time"),
                _clock_minutes(ended, "Ended time"),
            )
            if end < start:
                raise HarvestError(422, "Ended time must be after the started time")
            hours = (end - start) / 60
        if hours is None:
            hours = 0.0
        if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 <= hours <= 24:
            raise HarvestError(422, "Hours must be a number between 0 and 24")
        record["hours"] = round(float(hours), 2)

    def _derive(self, resource: str, record: Record) -> None:
        if resource != "time_entries":
            return
        hours = float(record["hours"])  # type: ignore[arg-type]  # validated above
        record["hours_without_timer"] = hours
        record["rounded_hours"] = math.ceil(hours * 4 - 1e-9) / 4  # quarter-hour rounding
        project = self.tables["projects"][record["project_id"]]  # type: ignore[index]  # project_id was validated as a project's id
        assignment = self.assigned("task_assignments", project["id"], record["task_id"])[0]
        user_assignment = self.assigned("user_assignments", project["id"], record["user_id"])
        user = lookup(self.tables["users"], record["user_id"])
        record["billable"] = bool(project["is_billable"] and assignment["billable"])
        rate: object = None
        if record["billable"]:
            by = project["bill_by"]
            if by == "Project":
                rate = project["hourly_rate"]
            elif by == "Tasks":
                rate = assignment["hourly_rate"]
            elif by == "People" and user_assignment:
                rate = user_assignment[0]["hourly_rate"]
        record["billable_rate"] = rate
        record["cost_rate"] = user["cost_rate"] if user else None
        record["is_running"] = False
        record["budgeted"] = project["budget_by"] != "none"


def lookup(table: dict[int, Record], key: object) -> Record | None:
    """Return the record with id `key` from `table`, or None (also for a non-integer key)."""
    return table.get(key) if isinstance(key, int) else None


def _clock_minutes(value: object, name: str) -> int:
    """Minutes after midnight of a validated ``8:00am`` or ``14:30``; 422 if it is not one."""
    minutes = clock_minutes(value) if isinstance(value, str) else None
    if minutes is None:
        raise HarvestError(422, f"{name} is invalid")
    return minutes
