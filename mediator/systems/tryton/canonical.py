"""The canonical commands Tryton understands, mapped to its own: what a flow sends the ERP.

`PostTimesheetLine` becomes a ``timesheet.line`` `CreateRecord` filled in from the
connector's `ErpSetup` (the company and accounting ids of this database, from
`[systems.tryton.erp]`), and the `RecordRef` that comes back a canonical `Recorded`. The flow
knows neither the model nor the fields; a second ERP maps the same command its own way.
"""

from __future__ import annotations

import msgspec

from mediator.codecs.canonical.commands import PostTimesheetLine, Recorded
from mediator.codecs.tryton.mapping import ErpSetup, timesheet_line_to_tryton
from mediator.systems.tryton.commands import CreateRecord, RecordRef

__all__ = ["CANONICAL_COMMANDS", "recorded", "timesheet_line_create"]

#: the canonical commands this connector maps to its own
CANONICAL_COMMANDS = (PostTimesheetLine,)


def timesheet_line_create(
    command: PostTimesheetLine, setup: ErpSetup, *, work: int
) -> CreateRecord:
    """The ``timesheet.line`` create of `command` on `work` (the ``timesheet.work`` of its
    ``project.work``, `command.project`), looked up by the entry's reference first."""
    employee = int(command.employee)
    line_setup = msgspec.structs.replace(
        setup, employee_by_consultant={command.entry.consultant_id: employee}
    )
    values = timesheet_line_to_tryton(
        command.entry, work=work, setup=line_setup, revision=command.revision
    )
    return CreateRecord(
        idempotency_key=command.idempotency_key,
        attempt=command.attempt,
        model="timesheet.line",
        values=values,
        # Tryton looks the line up by its whole description, which ends in the entry's key.
        reference=str(values["description"]),
    )


def recorded(result: object) -> object:
    """A `RecordRef` as the canonical `Recorded`; an error (or anything else) as it is."""
    if isinstance(result, RecordRef):
        return Recorded(
            system="tryton", id=str(result.id), reference=result.reference, existed=result.existed
        )
    return result
