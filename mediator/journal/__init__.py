"""The durable log: group-committed appends, idempotency, retries, dead letters and replay,
the xref map, watermarks and flow state."""

from mediator.journal.delivery_counts import DeliveryCounts, KindOutcomes
from mediator.journal.dispatch import Dispatcher, DispatcherStatistics, Recipient, open_dispatcher
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
from mediator.journal.retry_or_dead import default_decider
from mediator.journal.sqlite import GIL_SWITCH_INTERVAL, SqliteJournal, open_journal

__all__ = [
    "GIL_SWITCH_INTERVAL",
    "OPEN_STATES",
    "Appended",
    "CompactionReport",
    "DeadLetterFilter",
    "DeliveryCounts",
    "Dispatcher",
    "DispatcherStatistics",
    "Entry",
    "EntryState",
    "FlowState",
    "Journal",
    "JournalStatistics",
    "KindOutcomes",
    "Recipient",
    "ReleaseReport",
    "ReplayReport",
    "SqliteJournal",
    "Watermark",
    "XrefRecord",
    "default_decider",
    "open_dispatcher",
    "open_journal",
]
