"""Harvest API v2 resources as they arrive: only the fields the flows read.

Unknown fields are skipped (msgspec's default), so Harvest adding a field breaks nothing and
costs nothing. Numbers that are money or hours decode straight into `Decimal` from the JSON
text, never through a float, and `WireStruct` checks them (finite, bounded) and the timestamps
(with an offset) on decode, naming the field. ``gc=False``: immutable and acyclic, so left
untracked (faster).
Shapes from Harvest's API reference (shared/reference/apis.md §3.1) and the sandbox in
mediator/sandbox/harvest.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from mediator.codecs.validation import Identifier, Name, Text, Timestamp, WireStruct

__all__ = [
    "HvClient",
    "HvClientPage",
    "HvClientRef",
    "HvExpense",
    "HvExpensePage",
    "HvExternalReference",
    "HvLinks",
    "HvPage",
    "HvProject",
    "HvProjectPage",
    "HvProjectRef",
    "HvRawExpensePage",
    "HvRawTimeEntryPage",
    "HvRef",
    "HvTask",
    "HvTaskAssignment",
    "HvTaskAssignmentPage",
    "HvTaskPage",
    "HvTimeEntry",
    "HvTimeEntryPage",
    "HvUser",
    "HvUserAssignment",
    "HvUserAssignmentPage",
    "HvUserPage",
]

HvId = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class HvRef(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A nested ``{id, name}`` reference (user, task)."""

    id: HvId
    name: Name = ""


class HvClientRef(HvRef, frozen=True, kw_only=True):
    """The client nested in a project, time entry or expense; carries the billing currency."""

    currency: Identifier | None = None


class HvProjectRef(HvRef, frozen=True, kw_only=True):
    """The project nested in a time entry or expense."""

    code: Identifier | None = None


class HvClient(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/clients`` item."""

    id: HvId
    name: Name
    is_active: bool = True
    address: Text | None = None
    currency: Identifier = "USD"
    updated_at: Timestamp | None = None


class HvProject(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/projects`` item: how it bills (`bill_by`, `fee`) and its budget."""

    id: HvId
    client: HvClientRef
    name: Name
    code: Identifier | None = None
    is_active: bool = True
    is_billable: bool = True
    is_fixed_fee: bool = False
    bill_by: Name = "none"
    hourly_rate: Decimal | None = None
    budget: Decimal | None = None
    budget_by: Name = "none"
    cost_budget: Decimal | None = None
    fee: Decimal | None = None
    notes: Text | None = None
    starts_on: datetime.date | None = None
    ends_on: datetime.date | None = None
    updated_at: Timestamp | None = None


class HvUser(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/users`` item: a consultant, with their default rates."""

    id: HvId
    first_name: Name
    last_name: Name
    email: Name | None = None
    is_active: bool = True
    is_contractor: bool = False
    default_hourly_rate: Decimal | None = None
    cost_rate: Decimal | None = None
    roles: list[Name] = msgspec.field(default_factory=list)
    updated_at: Timestamp | None = None


class HvUserAssignment(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/user_assignments`` item: a user on a project at an hourly rate."""

    id: HvId
    project: HvProjectRef
    user: HvRef
    is_active: bool = True
    is_project_manager: bool = False
    hourly_rate: Decimal | None = None
    budget: Decimal | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


class HvTask(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/tasks`` item: a kind of work the account's projects can be assigned."""

    id: HvId
    name: Name
    billable_by_default: bool = True
    is_active: bool = True


class HvTaskAssignment(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/task_assignments`` item: a task on a project, billable or not, at a rate."""

    id: HvId
    project: HvProjectRef
    task: HvRef
    is_active: bool = True
    billable: bool = True
    hourly_rate: Decimal | None = None
    budget: Decimal | None = None
    updated_at: Timestamp | None = None


class HvExternalReference(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The link of a time entry to an item in another tool (``{id, group_id, permalink}``)."""

    id: Identifier | None = None
    group_id: Identifier | None = None
    permalink: Text | None = None


class HvTimeEntry(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/time_entries`` item. `is_closed` is "approved"; approval locks the entry."""

    id: HvId
    spent_date: datetime.date
    hours: Decimal
    notes: Text | None = None
    is_locked: bool = False
    locked_reason: Text | None = None
    is_closed: bool = False
    approval_status: Name | None = None
    is_billed: bool = False
    is_running: bool = False
    billable: bool = True
    billable_rate: Decimal | None = None
    cost_rate: Decimal | None = None
    user: HvRef
    client: HvClientRef | None = None
    project: HvProjectRef
    task: HvRef | None = None
    external_reference: HvExternalReference | None = None
    updated_at: Timestamp | None = None


class HvExpense(WireStruct, frozen=True, kw_only=True, gc=False):
    """``GET /v2/expenses`` item: `total_cost` in the project's client currency."""

    id: HvId
    spent_date: datetime.date
    total_cost: Decimal
    units: Decimal | None = None
    notes: Text | None = None
    billable: bool = True
    is_locked: bool = False
    is_closed: bool = False
    approval_status: Name | None = None
    is_billed: bool = False
    user: HvRef
    client: HvClientRef | None = None
    project: HvProjectRef
    expense_category: HvRef
    updated_at: Timestamp | None = None


class HvLinks(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Pagination links; follow `next` (an opaque cursor URL) until it is null."""

    first: Text | None = None
    next: Text | None = None
    previous: Text | None = None
    last: Text | None = None


class HvPage(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Harvest's paging fields around every list (the records sit under the resource name)."""

    per_page: int = 2000
    total_pages: int | None = None
    total_entries: int | None = None
    next_page: int | None = None
    previous_page: int | None = None
    page: int | None = None
    links: HvLinks = HvLinks()


class HvClientPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/clients``."""

    clients: list[HvClient]


class HvProjectPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/projects``."""

    projects: list[HvProject]


class HvUserPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/users``."""

    users: list[HvUser]


class HvUserAssignmentPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/user_assignments``."""

    user_assignments: list[HvUserAssignment]


class HvTaskPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/tasks``."""

    tasks: list[HvTask]


class HvTaskAssignmentPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/task_assignments``."""

    task_assignments: list[HvTaskAssignment]


class HvTimeEntryPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/time_entries``."""

    time_entries: list[HvTimeEntry]


class HvExpensePage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/expenses``."""

    expenses: list[HvExpense]


class HvRawTimeEntryPage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/time_entries`` whose entries are left as JSON, to decode one by one."""

    time_entries: list[msgspec.Raw]


class HvRawExpensePage(HvPage, frozen=True, kw_only=True):
    """A page of ``GET /v2/expenses`` whose expenses are left as JSON, to decode one by one."""

    expenses: list[msgspec.Raw]
