"""Approved time → ERP timesheet lines: the ERP leg of flow 2 (DESIGN §5).

One `TimesheetPosting` actor per project entity receives that project's approved time entries
from the dispatcher, in journal order, and has the ERP system actor create one timesheet line
each. The ERP project and employee come from the xref map (PSA id → canonical id → ERP id),
which onboarding writes. The line carries the entry's key (``[mediator <key>]``), and the
create is looked up by that key before it is made, so a retry after a lost answer, a replay or
a duplicate delivery never posts the hours twice. The line's ERP id is recorded in the xref map.

Not here yet: an entry edited after its line was posted (a correction, reversal plus new line)
becomes a dead letter saying so, rather than a second line; billing's leg of flow 2 is separate.
The flow state remembers that dead letter with the facts it carries. Its reason asks for the line
to be adjusted in the ERP and the entry then released, so once it is released those facts are
what the line carries, and the entry's next version is judged against them (replayed, it is
judged again and remembered anew).
"""

from __future__ import annotations

import msgspec

from mediator.actors import Actor, ActorRef
from mediator.codecs import CANONICAL, Envelope
from mediator.codecs.canonical.commands import (
    Command,
    PostTimesheetLine,
    Recorded,
    effect_reference,
)
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.errors import BusinessRejected, MissingReference
from mediator.journal import Journal

__all__ = [
    "APPROVED_TIME",
    "FLOW",
    "PAYLOADS",
    "MissingReference",
    "TimesheetPosting",
    "forget_line",
]

#: The kind under which approved time entries are journaled.
APPROVED_TIME = "psa.time_entry.approved"
#: The canonical payloads, with approved time carried like any time entry (same version,
#: same upcasters).
PAYLOADS = CANONICAL.with_alias(APPROVED_TIME, like="time_entry")

#: the system whose ids the xref map holds for the ERP
_ERP = "tryton"
#: The flow-state name under which posted lines are remembered, per PSA time entry id.
FLOW = "approved_time.erp"


class TimesheetPosting(Actor[Envelope]):
    """Posts one project's approved time entries to the ERP as timesheet lines.

    Projects and consultants are resolved to the ERP's ids through the journal's xref map;
    the ERP system actor gets a canonical `PostTimesheetLine` (its connector knows the
    ERP's own model and ids). Replies with the line's `Recorded`.
    """

    def __init__(
        self,
        key: str,
        *,
        erp: ActorRef[Command],
        journal: Journal,
        timeout: float = 60.0,
    ) -> None:
        self.key = key
        self.erp = erp
        self.journal = journal
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}  # per incarnation: xref answers do not change

    async def receive(self, message: Envelope) -> object:
        """Create (or find) the ERP timesheet line of one approved time entry."""
        entry = PAYLOADS.decode_as(message, TimeEntry)
        work = await self._erp_id(entry.source_system, "project", entry.project_id)
        employee = await self._erp_id(entry.source_system, "consultant", entry.consultant_id)
        facts = _Posted(
            line=0,
            spent_on=entry.spent_on.isoformat(),
            hours=str(entry.hours),
            consultant=entry.consultant_id,
            project=entry.project_id,
        )
        forgotten = 0  # the version of a memory a repair cleared (see `forget_line`)
        while (saved := await self.journal.load_flow(FLOW, entry.source_id)) is not None:
            known = _decode_posted(saved.state)
            if known.line == _FORGOTTEN:
                forgotten = saved.version
                break  # the line went missing in the ERP: find it by its key or make it again
            posted = await self._corrected(known)
            changed = msgspec.structs.replace(posted, line=0, correction=None) != facts
            if changed:
                revised = msgspec.structs.replace(facts, line=posted.line)
                posted = msgspec.structs.replace(
                    posted, correction=_Correction(entry=message.id, facts=revised)
                )
            if posted != known and not await self.journal.save_flow(
                FLOW, entry.source_id, _encode(posted), expected_version=saved.version
            ):
                continue  # saved meanwhile by another delivery of this entry: judge again
            if changed:
                raise BusinessRejected(
                    "correction",
                    f"time entry {entry.source_id} changed after ERP line {posted.line} was "
                    "posted; corrections are not automated yet: adjust the line in the ERP, "
                    "then release this entry",
                )
            return Recorded(
                system=_ERP, id=str(posted.line), reference=effect_reference(entry), existed=True
            )
        command = PostTimesheetLine(
            idempotency_key=message.idempotency_key,
            attempt=message.attempt + 1,
            entry=entry,
            project=str(work),
            employee=str(employee),
        )
        result = await self.erp.ask(command, timeout=self.timeout)
        if not isinstance(result, Recorded):
            raise TypeError(f"the ERP actor answered {type(result).__name__}, not Recorded")
        # A crash between the create and these writes is harmless: the next delivery's create
        # finds the line by its reference instead of making another. The xref goes first: once
        # the flow state is saved, a redelivery returns early and would never write it.
        await self.journal.record_xref("time_entry", entry.source_id, _ERP, result.id)
        # the flow state keeps the line as a number: the ERP it was written for numbers them
        posted = msgspec.structs.replace(facts, line=int(result.id))
        await self.journal.save_flow(
            FLOW, entry.source_id, _encode(posted), expected_version=forgotten
        )
        return result

    async def _corrected(self, posted: _Posted) -> _Posted:
        # Released, the correction's dead letter is done by hand (as its reason asks). Gone, it
        # was closed long ago (compaction forgets closed entries) and not by a replay: a replay
        # is delivered here before the entry's later versions, and remembered in its place.
        pending = posted.correction
        if pending is None:
            return posted
        dead = await self.journal.get(pending.entry)
        if dead is not None and dead.released_by is None:
            return posted  # still open, or replayed
        return pending.facts

    async def _erp_id(self, system: str, entity_type: str, system_id: str) -> int:
        found = self._ids.get((entity_type, system_id))
        if found is not None:
            return found
        canonical = await self.journal.xref_from(system, entity_type, system_id)
        target = (
            None
            if canonical is None
            else await self.journal.xref_to(entity_type, canonical.canonical_id, _ERP)
        )
        if target is None:
            raise MissingReference(
                entity_type, f"{system} {entity_type} {system_id} has no ERP record (not onboarded)"
            )
        erp_id = self._ids[(entity_type, system_id)] = int(target.system_id)
        return erp_id


async def forget_line(journal: Journal, entry_id: str) -> bool:
    """Make the next delivery of PSA time entry `entry_id` ask the ERP for its line again
    instead of trusting what it remembers: a reconciliation found the line gone from the ERP,
    and re-drives the entry with its original idempotency key, so the line is looked up by that
    key and made again only if it is absent (never twice). False if nothing was remembered."""
    while (saved := await journal.load_flow(FLOW, entry_id)) is not None:
        known = _decode_posted(saved.state)
        if known.line == _FORGOTTEN:
            return True
        cleared = msgspec.structs.replace(known, line=_FORGOTTEN, correction=None)
        if await journal.save_flow(
            FLOW, entry_id, _encode(cleared), expected_version=saved.version
        ):
            return True
    return False


#: the line number of a memory cleared by `forget_line` (ERP ids start at 1)
_FORGOTTEN = 0


class _Posted(msgspec.Struct, frozen=True, kw_only=True):
    """What was posted for one time entry: the ERP line and the facts it carries, and the
    correction of those facts that is a dead letter now, if any."""

    line: int
    spent_on: str
    hours: str
    consultant: str
    project: str
    correction: _Correction | None = None


class _Correction(msgspec.Struct, frozen=True, kw_only=True):
    """A version of the entry whose facts differ from its line's: the dead letter (entry id)
    it became, and the facts the line carries once that is released."""

    entry: str
    facts: _Posted


_encode = msgspec.json.Encoder().encode
_decode_posted = msgspec.json.Decoder(_Posted).decode
