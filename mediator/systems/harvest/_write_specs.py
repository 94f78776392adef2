"""How each Harvest write is identified, looked up and sent: one `Kind` per command type.

A kind says which listing finds a command's record (its scope, one call for the whole batch)
and under which key, and what request creates or updates it. The connector runs the rest.
"""

from __future__ import annotations

import datetime
from collections.abc import Hashable, Mapping
from typing import Any

import msgspec

from mediator.codecs import harvest_wire as wire
from mediator.systems.connector import Command
from mediator.systems.harvest.commands import (
    AssignTask,
    AssignUser,
    CreateClient,
    CreateProject,
    CreateTimeEntry,
)

__all__ = ["KINDS", "Kind", "Listing"]


class Listing(msgspec.Struct, frozen=True, kw_only=True):
    """A list request: path, filters and the page type it answers with."""

    path: str
    params: dict[str, str]
    page: type[wire.HvPage]


class Kind:
    """Look-up and write rules of one command type (subclasses per resource)."""

    endpoint: str = ""
    updates_existing = False

    def scope(self, command: Any) -> Hashable:
        """What one listing covers (commands with the same scope share it)."""
        raise NotImplementedError

    def listing(self, commands: list[Any]) -> Listing:
        """The listing that finds the records of `commands` (all of one scope)."""
        raise NotImplementedError

    def key(self, command: Any) -> str:
        """The identity of a command's record, as `keys_of` reports it."""
        raise NotImplementedError

    def keys_of(self, page: wire.HvPage) -> dict[str, int]:
        """Key → Harvest id of every record on one page."""
        raise NotImplementedError

    def create(self, command: Any) -> tuple[str, dict[str, object]]:
        """Path and body of the POST that creates the command's record."""
        raise NotImplementedError

    def update(self, command: Any, record_id: int) -> tuple[str, dict[str, object]]:
        """Path and body of the PATCH that brings an existing record up to date."""
        raise NotImplementedError


def _text(value: object) -> str:
    return str(value or "").strip().lower()


class _Clients(Kind):
    endpoint = "/v2/clients"

    def scope(self, command: CreateClient) -> Hashable:
        return "clients"

    def listing(self, commands: list[CreateClient]) -> Listing:
        return Listing(path="/v2/clients", params={}, page=wire.HvClientPage)

    def key(self, command: CreateClient) -> str:
        return _text(command.fields.get("name"))

    def keys_of(self, page: wire.HvPage) -> dict[str, int]:
        assert isinstance(page, wire.HvClientPage)
        return {_text(c.name): c.id for c in page.clients}

    def create(self, command: CreateClient) -> tuple[str, dict[str, object]]:
        return "/v2/clients", dict(command.fields)


class _Projects(Kind):
    endpoint = "/v2/projects"

    def scope(self, command: CreateProject) -> Hashable:
        return command.client_id

    def listing(self, commands: list[CreateProject]) -> Listing:
        client = str(commands[0].client_id)
        return Listing(path="/v2/projects", params={"client_id": client}, page=wire.HvProjectPage)

    def key(self, command: CreateProject) -> str:
        code = _text(command.fields.get("code"))
        return f"code:{code}" if code else f"name:{_text(command.fields.get('name'))}"

    def keys_of(self, page: wire.HvPage) -> dict[str, int]:
        assert isinstance(page, wire.HvProjectPage)
        found = {f"name:{_text(p.name)}": p.id for p in page.projects}
        found.update({f"code:{_text(p.code)}": p.id for p in page.projects if p.code})
        return found

    def create(self, command: CreateProject) -> tuple[str, dict[str, object]]:
        return "/v2/projects", {**command.fields, "client_id": command.client_id}


class _UserAssignments(Kind):
    endpoint = "/v2/projects/*/user_assignments"
    updates_existing = True

    def scope(self, command: AssignUser) -> Hashable:
        return command.project_id

    def listing(self, commands: list[AssignUser]) -> Listing:
        path = f"/v2/projects/{commands[0].project_id}/user_assignments"
        return Listing(path=path, params={}, page=wire.HvUserAssignmentPage)

    def key(self, command: AssignUser) -> str:
        return str(command.fields.get("user_id"))

    def keys_of(self, page: wire.HvPage) -> dict[str, int]:
        assert isinstance(page, wire.HvUserAssignmentPage)
        return {str(a.user.id): a.id for a in page.user_assignments}

    def create(self, command: AssignUser) -> tuple[str, dict[str, object]]:
        return f"/v2/projects/{command.project_id}/user_assignments", dict(command.fields)

    def update(self, command: AssignUser, record_id: int) -> tuple[str, dict[str, object]]:
        path = f"/v2/projects/{command.project_id}/user_assignments/{record_id}"
        return path, {k: v for k, v in command.fields.items() if k != "user_id"}


class _TaskAssignments(Kind):
    endpoint = "/v2/projects/*/task_assignments"
    updates_existing = True

    def scope(self, command: AssignTask) -> Hashable:
        return command.project_id

    def listing(self, commands: list[AssignTask]) -> Listing:
        path = f"/v2/projects/{commands[0].project_id}/task_assignments"
        return Listing(path=path, params={}, page=wire.HvTaskAssignmentPage)

    def key(self, command: AssignTask) -> str:
        return str(command.fields.get("task_id"))

    def keys_of(self, page: wire.HvPage) -> dict[str, int]:
        assert isinstance(page, wire.HvTaskAssignmentPage)
        return {str(a.task.id): a.id for a in page.task_assignments}

    def create(self, command: AssignTask) -> tuple[str, dict[str, object]]:
        return f"/v2/projects/{command.project_id}/task_assignments", dict(command.fields)

    def update(self, command: AssignTask, record_id: int) -> tuple[str, dict[str, object]]:
        path = f"/v2/projects/{command.project_id}/task_assignments/{record_id}"
        return path, {k: v for k, v in command.fields.items() if k != "task_id"}


class _TimeEntries(Kind):
    endpoint = "/v2/time_entries"

    def scope(self, command: CreateTimeEntry) -> Hashable:
        return str(command.fields.get("project_id"))

    def listing(self, commands: list[CreateTimeEntry]) -> Listing:
        params = {"project_id": str(commands[0].fields.get("project_id"))}
        days = sorted(_day(c.fields.get("spent_date")) for c in commands)
        if days and days[0] and days[-1]:
            params.update({"from": days[0], "to": days[-1]})
        if len(commands) == 1:
            # Harvest filters on it; the key is checked on each entry all the same
            params["external_reference_id"] = commands[0].idempotency_key
        return Listing(path="/v2/time_entries", params=params, page=wire.HvTimeEntryPage)

    def key(self, command: CreateTimeEntry) -> str:
        return command.idempotency_key

    def keys_of(self, page: wire.HvPage) -> dict[str, int]:
        assert isinstance(page, wire.HvTimeEntryPage)
        return {
            e.external_reference.id: e.id
            for e in page.time_entries
            if e.external_reference is not None and e.external_reference.id
        }

    def create(self, command: CreateTimeEntry) -> tuple[str, dict[str, object]]:
        reference: dict[str, object] = {
            "id": command.idempotency_key,
            "group_id": command.reference_group,
        }
        if command.permalink:
            reference["permalink"] = command.permalink
        return "/v2/time_entries", {**command.fields, "external_reference": reference}


def _day(value: object) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value or "")[:10]


KINDS: Mapping[type[Command], Kind] = {
    CreateClient: _Clients(),
    CreateProject: _Projects(),
    AssignUser: _UserAssignments(),
    AssignTask: _TaskAssignments(),
    CreateTimeEntry: _TimeEntries(),
}
