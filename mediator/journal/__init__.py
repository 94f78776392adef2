"""The durable log: group-committed appends, idempotency, retries, dead letters and replay,
the xref map, watermarks and flow state."""

from mediator.journal.protocol import Journal
from mediator.journal.records import (
    OPEN_STATES,
    Appended,
    CompactionReport,
    DeadLetterFilter,
    Entry,
    EntryState,
    FlowState,
    JournalStatistics,
    ReleaseReport,
    ReplayReport,
    Watermark,
    XrefRecord,
)
from mediator.journal.sqlite import SqliteJournal, open_journal

__all__ = [
    "OPEN_STATES",
    "Appended",
    "CompactionReport",
    "DeadLetterFilter",
    "Entry",
    "EntryState",
    "FlowState",
    "Journal",
    "JournalStatistics",
    "ReleaseReport",
    "ReplayReport",
    "SqliteJournal",
    "Watermark",
    "XrefRecord",
    "open_journal",
]
