"""What the journal hands back: entries and their states, receipts, reports and small records.

These are plain frozen Structs with no storage detail in them, so every backend (SQLite now,
PostgreSQL later) returns the same things.
"""

from __future__ import annotations

import enum

import msgspec

from mediator.codecs.canonical.envelope import Envelope

__all__ = [
    "OPEN_STATES",
    "Appended",
    "CompactionReport",
    "DeadLetterFilter",
    "Entry",
    "EntryState",
    "FlowState",
    "JournalStatistics",
    "ReleaseReport",
    "ReplayReport",
    "Watermark",
    "XrefRecord",
]


class EntryState(enum.IntEnum):
    """Where an entry is in its life; the values below `DONE` are open, the rest closed.

    accepted → in-flight → done | retry (at a time) | dead. A dead letter parks its entity's
    later entries (`PARKED`) until it is replayed (→ `REPLAYED`, a new entry carries on) or
    released (→ `RELEASED`) or discarded (→ `DISCARDED`, see `OperatorStore.discard`); one
    replayed too often is `QUARANTINED` and can only be released or discarded.
    `COMPACTED` entries keep only what idempotency needs.
    """

    ACCEPTED = 0
    IN_FLIGHT = 1
    RETRY = 2
    PARKED = 3
    DEAD = 4
    QUARANTINED = 5
    DONE = 6
    RELEASED = 7
    REPLAYED = 8
    COMPACTED = 9
    DISCARDED = 10


OPEN_STATES = frozenset(s for s in EntryState if s < EntryState.DONE)


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    """One journaled envelope with its state and history.

    `attempts` counts deliveries begun (persisted before each one, so a crash does not reset
    it). `due_at` is set for `RETRY`. `error`, `error_class` and `system` say what failed last;
    `reason` is the readable reason of a dead letter. `replay_of` links a replay to the entry it
    replays; `replay_count` is how many replays deep it is. Times are epoch seconds.
    """

    envelope: Envelope
    state: EntryState
    accepted_at: float
    updated_at: float
    attempts: int = 0
    due_at: float | None = None
    error: str | None = None
    error_class: str | None = None
    system: str | None = None
    reason: str | None = None
    replay_of: str | None = None
    replay_count: int = 0
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def id(self) -> str:
        """The entry's id: its envelope's id."""
        return self.envelope.id

    @property
    def key(self) -> str:
        """The entity key the entry is about (what orders and parks it)."""
        return self.envelope.key


class Appended(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The receipt of an append: durable by the time you hold it.

    `duplicate` says the idempotency key was already journaled; `envelope` is then the entry
    that was there first (its payload is ``null`` if that entry has since been compacted).
    """

    # gc=False: one is made per append, and a frozen envelope and a flag can form no reference
    # cycle, so the cycle collector need not track them (bench/journal: the collector's passes
    # stalled the event loop for tens of milliseconds at 1,000 producers).

    envelope: Envelope
    duplicate: bool


class Watermark(msgspec.Struct, frozen=True, kw_only=True):
    """A named cursor of a poller (`value` is opaque to the journal)."""

    name: str
    value: str


class XrefRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One mapping of a canonical entity to its id in one system, and when it was recorded."""

    entity_type: str
    canonical_id: str
    system: str
    system_id: str
    recorded_at: float


class FlowState(msgspec.Struct, frozen=True, kw_only=True):
    """The saved state of one flow for one entity; `version` grows by one per save."""

    flow: str
    entity: str
    state: bytes
    version: int
    updated_at: float


class DeadLetterFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which dead letters to list or replay; unset fields match everything.

    `older_than` and `newer_than` are ages in seconds (time since the entry died) measured
    with the journal's clock. `ids` restricts to those entries.
    """

    ids: tuple[str, ...] = ()
    entity: str | None = None
    kind: str | None = None
    system: str | None = None
    error_class: str | None = None
    older_than: float | None = None
    newer_than: float | None = None


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay sent (or, in a dry run, would send).

    `sent` are the new entries, each with `replay_of` and `replay_count`; in a dry run their
    envelope ids are empty, since ids are assigned only when written. `quarantined` are the dead
    letters the `max_replays` guard moved aside instead. Entries parked behind a replayed dead
    letter stay parked until its replay is done (see `Journal.mark_done`).
    """

    dry_run: bool
    sent: tuple[Entry, ...]
    quarantined: tuple[Entry, ...]


class ReleaseReport(msgspec.Struct, frozen=True, kw_only=True):
    """The dead letter that was closed without sending, and the entries it no longer parks."""

    released: Entry
    unparked: tuple[Entry, ...]


class CompactionReport(msgspec.Struct, frozen=True, kw_only=True):
    """How many closed entries lost their payload, and how many kept keys were forgotten."""

    compacted: int
    forgotten: int


class JournalStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of the group-commit writer since open.

    `keys_in_memory` counts the idempotency keys held in memory (appended since the last merge
    into the file's key table, or being merged); `key_merges` counts merges completed;
    `keys_looked_up` counts keys looked up in the file's key table (those neither in memory nor
    ruled out by its filter).
    """

    transactions: int
    appends: int
    duplicates: int
    largest_batch: int
    waiting: int
    keys_in_memory: int = 0
    key_merges: int = 0
    keys_looked_up: int = 0
