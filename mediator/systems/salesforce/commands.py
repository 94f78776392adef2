"""What a flow asks of Salesforce: upserts by external id, updates by record id, and what comes
back from reads."""

from __future__ import annotations

import datetime
from typing import Generic, TypeVar

import msgspec

from mediator.codecs.records import Undecodable
from mediator.systems.connector import Command

__all__ = [
    "CRM_POLL",
    "CRM_WRITEBACK",
    "ChangedRecords",
    "UpdateRecord",
    "UpsertRecord",
    "Upserted",
]

#: The quota class of the flows' writes to the CRM (`UpdateRecord`/`UpsertRecord` `priority`).
CRM_WRITEBACK = "crm_writeback"
#: The quota class of the CRM pollers' reads: a lower share than `CRM_WRITEBACK` (the shipped
#: ``salesforce_daily`` policy declares both), so polling stops first when the day runs short.
CRM_POLL = "crm_poll"

R = TypeVar("R")


class UpsertRecord(Command, frozen=True, kw_only=True):
    """Create or update one `sobject` record found by its external id.

    The external id value is the command's `idempotency_key`, written to `external_id_field`
    (default: the connector's field for that object), so a retry after a lost response
    updates the record the first attempt created. `priority` is the quota class it spends.
    """

    sobject: str
    fields: dict[str, object]
    external_id_field: str | None = None
    priority: str | None = None


class UpdateRecord(Command, frozen=True, kw_only=True):
    """Change `fields` of the existing `sobject` record `id` (a write-back to a record read).

    Repeating it is harmless: it sets the same values again. Queued updates of one object are
    sent together through sObject Collections (``PATCH /composite/sobjects``, 200 records a
    call, ``allOrNone`` false), so each record's refusal is its own. The result is an
    `Upserted` with ``created=False``. `priority` is the quota class it spends.
    """

    sobject: str
    id: str
    fields: dict[str, object]
    priority: str | None = None


class Upserted(msgspec.Struct, frozen=True, kw_only=True):
    """The result of an `UpsertRecord`: the record's id and whether this call created it."""

    id: str
    created: bool


class ChangedRecords(msgspec.Struct, Generic[R], frozen=True, kw_only=True):
    """Records changed after a watermark, oldest change first, and the watermark to keep.

    `watermark` is the newest ``SystemModstamp`` read (the old one if nothing changed); the
    poller stores it (e.g. `Watermark(value=watermark.isoformat())`) with the records' entries.
    """

    records: list[R]
    watermark: datetime.datetime | None
    #: The records that did not decode, each with its error: for the caller to dead-letter.
    #: Their ``SystemModstamp``, when readable, counts toward the watermark like the others'.
    rejected: list[Undecodable] = msgspec.field(default_factory=list)
    #: Set when the daily allowance ran out part-way: the epoch time it resets. The records
    #: (and the watermark) are then those read before it; the rest come in a later read.
    resets_at: float | None = None
