"""Commands: the effects flows ask of system actors, in canonical terms, and their results.

A flow never speaks a vendor's wire format: it sends a canonical command (`PostTimesheetLine`)
to the system actor of the ERP, whose connector maps it to its own calls (Tryton's
``timesheet.line`` create), and gets a canonical result (`Recorded`) back. So a second ERP
is a second connector, not a second flow. Every command carries the idempotency key of the
journal entry that caused it and the attempt number, so a repeat finds the first write.
Vendor connectors also accept their own commands (`mediator.systems.<vendor>.commands`).
"""

from __future__ import annotations

import msgspec

from mediator.codecs.work import TimeEntry

__all__ = ["Command", "PostTimesheetLine", "Recorded", "effect_reference"]


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """An effect on an external system, with the key that makes repeating it harmless.

    `idempotency_key` is derived from the journal entry that caused the command, so a retry
    after a lost response finds the first write instead of making a second. `attempt` counts
    from 1 across in-process retries and journal retries alike.
    """

    idempotency_key: str
    attempt: int = 1


class PostTimesheetLine(Command, frozen=True, kw_only=True):
    """Record `entry`'s hours in the ERP, on the ERP's `project` for its `employee`.

    `project` and `employee` are the ERP's own ids (from the xref map); `revision` counts the
    entry's corrections. The line is found by `effect_reference(entry, revision)` before it is
    made, so a repeat never posts the hours twice. The result is a `Recorded`.
    """

    entry: TimeEntry
    project: str
    employee: str
    revision: int = 0


class Recorded(msgspec.Struct, frozen=True, kw_only=True):
    """What a system made (or found) for a command: its id there and the reference it carries.

    `existed` is True when the look-up by reference found it: made earlier, by another command
    with the same reference, or by this command's own attempt whose answer was lost.
    """

    system: str
    id: str
    reference: str
    existed: bool


def effect_reference(entry: TimeEntry, revision: int = 0) -> str:
    """The reference that marks the effect of `entry` at `revision` in a target system."""
    return f"{entry.source_system}:{entry.source_id}:r{revision}"
