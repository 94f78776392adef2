"""The time check: each approved Harvest time entry of the period ↔ its Tryton timesheet line.

A line mediator posted carries its entry's reference (``[mediator harvest:<id>:r<revision>]``),
so lines are matched to entries by that tag, not by the xref map alone: a line deleted,
doubled or edited in the ERP, or made for an entry since unapproved, is found whatever the map
says. Hours and day are compared. When they differ, the journal says who changed: if Harvest's
current version of the entry was delivered, the line was edited in the ERP (*divergent*); if
that version is a dead letter (the flow refuses to correct a posted line by itself) or was
never delivered, the entry *changed after delivery*, a person's to settle.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal

from mediator.codecs.harvest import wire as hv
from mediator.codecs.harvest.mapping import is_approved
from mediator.ingress.harvest_time import POLLER_NAME as POLLER
from mediator.reconciliation.known import Fate
from mediator.reconciliation.model import FieldDiff
from mediator.reconciliation.reads import ErpLine
from mediator.reconciliation.run import Run

__all__ = ["check_time", "entry_version", "sum_hours", "time_entry_key"]


def entry_version(entry: hv.HvTimeEntry) -> str:
    """The version the Harvest poller journals an entry under (its ``updated_at``)."""
    return "" if entry.updated_at is None else entry.updated_at.isoformat()


def time_entry_key(entry_id: str, version: str) -> str:
    """The idempotency key of an approved time entry's version (the poller's)."""
    return f"harvest:time_entry:{entry_id}:{version}"


async def check_time(run: Run) -> None:
    """Match the period's approved entries with the ERP's lines; record what differs."""
    entries = await run.reads.time_entries(run.period)
    approved = [e for e in entries if is_approved(e)]
    lines = await run.reads.erp_lines(run.period)
    by_entry: dict[str, list[ErpLine]] = {}
    for line in lines:
        by_entry.setdefault(line.entry_id, []).append(line)
    current = {str(e.id): time_entry_key(str(e.id), entry_version(e)) for e in approved}
    fates = await run.known.fates(current.values())
    read_up_to = await run.known.read_up_to(POLLER)
    run.total(
        "harvest", "approved time entries", len(approved), sum_hours(e.hours for e in approved)
    )
    run.total("tryton", "timesheet lines", len(lines), sum_hours(line.hours for line in lines))
    for entry in approved:
        entry_id = str(entry.id)
        key = current[entry_id]
        fate = fates.get(key)
        theirs = by_entry.pop(entry_id, [])
        changed_at = None if entry.updated_at is None else entry.updated_at.timestamp()
        unread = fate is None and _unread(entry, read_up_to)  # journaled: read, whatever the mark
        entity = f"time_entry:{entry_id}"
        if len(theirs) > 1:
            run.found(
                "time", "duplicate", entity=entity, system="tryton", source="harvest",
                detail=f"{len(theirs)} ERP timesheet lines for one time entry: "
                + ", ".join(str(line.id) for line in theirs),
                fate=fate,
            )  # fmt: skip
            continue
        if not theirs:
            if (fate is not None and fate.open) or run.recent(changed_at) or unread:
                run.count("time", "in_flight")
            elif fate is None:
                run.found(
                    "time", "missing", entity=entity, system="tryton", source="harvest",
                    detail=f"approved {entry.hours} h on {entry.spent_date} were never journaled "
                    "(the poller has not read this version)",
                    since=changed_at,
                )  # fmt: skip
            else:
                run.found(
                    "time", "missing", entity=entity, system="tryton", source="harvest",
                    key=fate.latest.key,
                    detail=f"no ERP timesheet line for {entry.hours} h on {entry.spent_date}"
                    + _why_missing(fate),
                    since=changed_at, fate=fate, repair="redrive" if fate.done else None,
                )  # fmt: skip
            continue
        line = theirs[0]
        diffs = _diffs(entry, line)
        if not diffs:
            run.count("time", "matched")
        elif fate is None or not fate.delivered:
            if (fate is not None and fate.open) or run.recent(changed_at) or unread:
                run.count("time", "in_flight")
                continue
            run.found(
                "time", "changed_after_delivery", entity=entity, system="tryton",
                source="harvest", key=None if fate is None else fate.latest.key,
                detail=f"the entry changed in Harvest after ERP line {line.id} was posted",
                diffs=diffs, since=changed_at, fate=fate,
            )  # fmt: skip
        else:
            run.found(
                "time", "divergent", entity=entity, system="tryton", source="harvest",
                key=None if fate is None else fate.latest.key,
                detail=f"ERP line {line.id} differs from the approved entry",
                diffs=diffs, since=changed_at,
            )  # fmt: skip
    for entry_id, theirs in by_entry.items():
        for line in theirs:
            run.found(
                "time", "orphan", entity=f"time_entry:{entry_id}", system="tryton",
                source="harvest",
                detail=f"ERP line {line.id} ({line.hours} h on {line.date}) is for a time entry "
                f"Harvest has not approved in {run.period}",
            )  # fmt: skip


def _why_missing(fate: Fate) -> str:
    if fate.dead:
        return " (its delivery is a dead letter)"
    if fate.done:
        return " (delivered, then gone from the ERP)"
    return f" (released by {fate.latest.released_by}: settled by hand, but with no tagged line)"


def _unread(entry: hv.HvTimeEntry, read_up_to: datetime.datetime | None) -> bool:
    # changed after the approved-time poller last read: not journaled yet, so in flight
    if entry.updated_at is None:
        return False
    return read_up_to is None or entry.updated_at > read_up_to


def sum_hours(hours: Iterable[Decimal]) -> Decimal:
    """The sum of some hours."""
    return sum(hours, Decimal(0))


def _diffs(entry: hv.HvTimeEntry, line: ErpLine) -> tuple[FieldDiff, ...]:
    diffs = []
    if line.hours != entry.hours.quantize(Decimal("0.01")):
        diffs.append(FieldDiff(field="hours", expected=str(entry.hours), found=str(line.hours)))
    if line.date != entry.spent_date:
        diffs.append(FieldDiff(field="date", expected=str(entry.spent_date), found=str(line.date)))
    return tuple(diffs)
