"""What mediator knows of the records a run compares: xrefs, and the journal entries about them.

The xref map says which records are one entity across the systems; the journal says what
mediator was told and what became of it. A record the target lacks is *in flight* while its
entry is open (queued, in delivery, retrying, parked), a *missing* effect with a dead letter
to replay when its entry died, and a missing effect to re-drive when its entry was delivered
and the target lost it since. All reads go through the journal's read-only connection.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable
from typing import Final

import msgspec

from mediator.journal import Entry, EntryState
from mediator.journal.reads import JournalReader

__all__ = ["DEAD_STATES", "Fate", "Known", "dead_letters_among"]

#: the states of a dead letter (an operator's to replay or release)
DEAD_STATES: Final = frozenset({EntryState.DEAD, EntryState.QUARANTINED})


def dead_letters_among(entries: Iterable[Entry]) -> tuple[str, ...]:
    """The ids of the dead letters among `entries` (an entity's open entries)."""
    return tuple(e.id for e in entries if e.state in DEAD_STATES)


class Fate(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one message: its latest generation (the original or its newest replay
    or re-drive) and the ids of every generation."""

    latest: Entry
    ids: tuple[str, ...]

    @property
    def open(self) -> bool:
        """Still on its way: queued, in delivery, retrying or parked."""
        return self.latest.state < EntryState.DEAD or self.latest.state is EntryState.PARKED

    @property
    def dead(self) -> bool:
        """A dead letter (or quarantined)."""
        return self.latest.state in DEAD_STATES

    @property
    def done(self) -> bool:
        """Delivered by its flow (not settled by hand): what a re-drive can send again."""
        return self.latest.state is EntryState.DONE

    @property
    def delivered(self) -> bool:
        """Delivered (or released by an operator who settled it by hand)."""
        return self.latest.state in (EntryState.DONE, EntryState.RELEASED)


class Known:
    """Reads of the journal for one run, each kind of question asked once per run."""

    def __init__(self, reader: JournalReader) -> None:
        self.reader = reader

    async def xrefs(self, entity_type: str) -> dict[str, dict[str, str]]:
        """Every entity of `entity_type`: canonical id → {system: id}."""
        found: dict[str, dict[str, str]] = {}
        for xref in await self.reader.xrefs_of_type(entity_type):
            found.setdefault(xref.canonical_id, {})[xref.system] = xref.system_id
        return found

    async def fates(self, idempotency_keys: Collection[str]) -> dict[str, Fate]:
        """What became of each message with these idempotency keys that the journal holds."""
        fates: dict[str, Fate] = {}
        originals = await self.reader.originals(idempotency_keys)
        followed = [
            e.id for e in originals.values() if e.state in (EntryState.REPLAYED, EntryState.DONE)
        ]
        # a replayed dead letter, or a delivered entry re-driven by a repair, has a later
        # generation: the few that do are followed to their newest
        later = await self.reader.replays_of(followed)
        for key, original in originals.items():
            if original.id not in later:
                fates[key] = Fate(latest=original, ids=(original.id,))
                continue
            generations = await self.reader.lineage(original)
            fates[key] = Fate(latest=generations[-1], ids=tuple(e.id for e in generations))
        return fates

    async def read_up_to(self, poller: str) -> datetime.datetime | None:
        """How far `poller` has read its source (its watermark, a change time), or None if it
        never read anything: a change after it is not journaled yet, and so in flight."""
        value = await self.reader.watermark(poller)
        if value is None:
            return None
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)

    async def pending_approvals(self) -> set[str]:
        """The entity keys with an approval request still waiting for a person."""
        pending = await self.reader.approvals(state="pending", limit=1_000_000)
        return {a.entity for a in pending}

    async def open_entries(self, keys: Collection[str]) -> dict[str, list[Entry]]:
        """The open entries of these entity keys (in flight or dead)."""
        return await self.reader.open_by_keys(keys)
