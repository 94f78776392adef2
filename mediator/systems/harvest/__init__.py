"""The Harvest v2 connector: three headers, cursor pages, writes made idempotent by look-ups."""

from mediator.systems.harvest.commands import (
    AssignTask,
    AssignUser,
    ChangedEntries,
    CreateClient,
    CreateProject,
    CreateTimeEntry,
    HarvestWritten,
    UpdateProject,
)
from mediator.systems.harvest.connector import HarvestConnector

__all__ = [
    "AssignTask",
    "AssignUser",
    "ChangedEntries",
    "CreateClient",
    "CreateProject",
    "CreateTimeEntry",
    "HarvestConnector",
    "HarvestWritten",
    "UpdateProject",
]
