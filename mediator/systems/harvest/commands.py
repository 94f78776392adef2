"""What a flow asks of Harvest: set-up writes made idempotent by a look-up, and read results.

Harvest has no idempotency key, so every write names what identifies its record at Harvest,
and the connector looks for it before creating (shared/reference/apis.md §3.1):

- a client by its name (Harvest keeps client names unique within an account);
- a project by its `code` within its client (by name when it has no code);
- a user or task assignment by its project and user or task (at most one each; a second
  write updates the rate, which is how a change order reaches Harvest);
- a time entry by ``external_reference.id``, which carries the command's `idempotency_key`
  (Harvest stores the reference as given and filters on ``external_reference_id``).

`UpdateProject` needs no look-up: it names the project by id and sets absolute values, so a
repeat writes the same values again.
"""

from __future__ import annotations

import datetime
from typing import Generic, TypeVar

import msgspec

from mediator.codecs.records import Undecodable
from mediator.systems.connector import Command

__all__ = [
    "AssignTask",
    "AssignUser",
    "ChangedEntries",
    "CreateClient",
    "CreateProject",
    "CreateTimeEntry",
    "HarvestWritten",
    "UpdateProject",
]

R = TypeVar("R")


class CreateClient(Command, frozen=True, kw_only=True):
    """Create a client (`fields` as `client_to_harvest` makes them) unless its name exists."""

    fields: dict[str, object]


class CreateProject(Command, frozen=True, kw_only=True):
    """Create a project under `client_id` unless one with its code (or name) exists there."""

    client_id: int
    fields: dict[str, object]


class UpdateProject(Command, frozen=True, kw_only=True):
    """Set `fields` of the existing project `project_id` (``PATCH /v2/projects/{id}``).

    The values are absolute (a budget of 12,000, never "plus 2,000"), so repeating the command
    after a lost answer changes nothing. The result is a `HarvestWritten` (``created=False``).
    """

    project_id: int
    fields: dict[str, object]


class AssignUser(Command, frozen=True, kw_only=True):
    """Put a user on `project_id` (`fields` hold ``user_id`` and the rate); update if there."""

    project_id: int
    fields: dict[str, object]


class AssignTask(Command, frozen=True, kw_only=True):
    """Put a task on `project_id` (`fields` hold ``task_id``, billable, rate); update if there."""

    project_id: int
    fields: dict[str, object]


class CreateTimeEntry(Command, frozen=True, kw_only=True):
    """Create a time entry (project_id, task_id, spent_date, hours...) once per key.

    `reference_group` and `permalink` fill the rest of ``external_reference``.
    """

    fields: dict[str, object]
    reference_group: str = "mediator"
    permalink: str | None = None


class HarvestWritten(msgspec.Struct, frozen=True, kw_only=True):
    """The Harvest id of the record a write made or found, and whether it made it."""

    id: int
    created: bool


class ChangedEntries(msgspec.Struct, Generic[R], frozen=True, kw_only=True):
    """Entries updated since a watermark, and the watermark to keep (newest ``updated_at``).

    ``updated_since`` includes its bound, so the newest entries of one poll are read again by
    the next: the journal's idempotency (id and ``updated_at``) makes that harmless, and
    nothing updated in the same second is ever skipped.
    """

    records: list[R]
    watermark: datetime.datetime | None
    #: The records that did not decode, each with its error: for the caller to dead-letter.
    #: Their `updated_at`, when readable, counts toward the watermark like the others'.
    rejected: list[Undecodable] = msgspec.field(default_factory=list)
