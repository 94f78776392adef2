"""The `Journal` role: what the runtime asks of any durable log backend (SQLite, PostgreSQL).

Nothing here names a storage engine. Every write returns only once it is durable; backends are
free to gather concurrent writes into one transaction (the SQLite backend does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mediator.codecs.canonical.envelope import Envelope
from mediator.journal.records import (
    Appended,
    CompactionReport,
    DeadLetterFilter,
    Entry,
    FlowState,
    JournalStatistics,
    ReleaseReport,
    ReplayReport,
    Watermark,
    XrefRecord,
)

__all__ = ["Journal"]


class Journal(Protocol):
    """A durable, idempotent log of envelopes with their delivery states."""

    # -- appending ---------------------------------------------------------------------------

    async def append(self, envelope: Envelope) -> Appended:
        """Journal one envelope; return once durable. A known idempotency key is a duplicate."""
        ...

    async def append_many(
        self, envelopes: Sequence[Envelope], *, watermark: Watermark | None = None
    ) -> list[Appended]:
        """Journal a batch in one transaction, advancing `watermark` in that same transaction."""
        ...

    async def append_dead(
        self,
        envelope: Envelope,
        *,
        reason: str,
        error_class: str,
        system: str | None = None,
        error: str | None = None,
    ) -> Appended:
        """Journal an envelope that can never be delivered (a record that does not decode,
        say) as a dead letter at once, in one transaction: never journaled but open. A known
        idempotency key is a duplicate, and its entry is left as it is."""
        ...

    # -- delivery states ---------------------------------------------------------------------

    async def mark_in_flight(self, ids: Sequence[str]) -> None:
        """Record that delivery of these entries begins (counts an attempt each)."""
        ...

    async def mark_done(self, ids: Sequence[str]) -> list[Entry]:
        """Record these entries as delivered; return the entries this unparks, oldest first.

        Entries parked behind a dead letter are unparked when its replay is done, if the entity
        has no other open dead letter or replay.
        """
        ...

    async def mark_retry(self, entry_id: str, *, at: float, error: str, error_class: str) -> None:
        """Record a failed attempt to be retried at epoch time `at`."""
        ...

    async def mark_dead(
        self,
        entry_id: str,
        *,
        reason: str,
        error_class: str,
        system: str | None = None,
        error: str | None = None,
    ) -> None:
        """Make the entry a dead letter with a readable `reason`; `error` is the failure's own
        text (the reason when None)."""
        ...

    async def park(self, ids: Sequence[str]) -> None:
        """Hold these entries behind their entity's dead letter."""
        ...

    async def get(self, entry_id: str) -> Entry | None:
        """Return one entry (any state), or None if there is none with that id."""
        ...

    async def recover(self) -> list[Entry]:
        """Return every entry still to dispatch (accepted, in-flight, retry), oldest first."""
        ...

    async def due(self, now: float) -> list[Entry]:
        """Return the retries whose time has come by `now`, soonest first."""
        ...

    async def held_keys(self) -> set[str]:
        """Return the entity keys whose new entries must wait: those with an open dead letter,
        an open replay, or parked entries."""
        ...

    async def open_entries(self, keys: Sequence[str], kinds: Sequence[str]) -> list[Entry]:
        """Return the open entries (accepted, in flight, due for retry, parked, dead or
        quarantined) of these entity keys and kinds, oldest first: what has not reached its
        flow yet (a period close asks this before it finalizes an invoice)."""
        ...

    # -- dead letters ------------------------------------------------------------------------

    async def list_dead(self, where: DeadLetterFilter, *, limit: int = 100) -> list[Entry]:
        """List dead and quarantined entries matching `where`, oldest death first."""
        ...

    async def replay(
        self, where: DeadLetterFilter, *, dry_run: bool = True, max_replays: int = 3
    ) -> ReplayReport:
        """Send matching dead letters again as new entries (a dry run by default).

        Replays keep their original's idempotency key, so external systems deduplicate.
        """
        ...

    async def release(self, entry_id: str, *, reason: str, by: str) -> ReleaseReport:
        """Close a dead letter without sending it, recording why and who; the report lists the
        entries this unparks. Raises `LookupError` if `entry_id` is no open dead letter."""
        ...

    # -- xref, watermarks, flows ---------------------------------------------------------------

    async def record_xref(
        self, entity_type: str, canonical_id: str, system: str, system_id: str
    ) -> XrefRecord:
        """Record that the entity is `system_id` in `system` (replacing an older mapping)."""
        ...

    async def xref_to(self, entity_type: str, canonical_id: str, system: str) -> XrefRecord | None:
        """Look up the entity's id in `system`."""
        ...

    async def xref_all(self, entity_type: str, canonical_id: str) -> list[XrefRecord]:
        """Look up the entity's ids in every system."""
        ...

    async def xref_from(self, system: str, entity_type: str, system_id: str) -> XrefRecord | None:
        """Look up which canonical entity `system_id` in `system` is."""
        ...

    async def set_watermark(self, watermark: Watermark) -> None:
        """Advance a named cursor on its own (prefer `append_many(watermark=...)`)."""
        ...

    async def get_watermark(self, name: str) -> Watermark | None:
        """Return a named cursor, or None if it was never set."""
        ...

    async def load_flow(self, flow: str, entity: str) -> FlowState | None:
        """Return the saved state of `flow` for `entity`, or None."""
        ...

    async def save_flow(
        self, flow: str, entity: str, state: bytes, *, expected_version: int
    ) -> FlowState | None:
        """Save if the stored version is `expected_version` (0: none yet); None on a conflict."""
        ...

    # -- housekeeping ------------------------------------------------------------------------

    async def compact(self, *, done_older_than: float, keep_keys_for: float) -> CompactionReport:
        """Drop payloads of entries closed longer ago than `done_older_than` seconds and forget
        their idempotency keys once accepted longer ago than `keep_keys_for` seconds."""
        ...

    def statistics(self) -> JournalStatistics:
        """Return counters of the writer."""
        ...
