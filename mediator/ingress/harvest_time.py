"""Polling Harvest for approved time entries into the journal (the PSA has no webhooks).

Each poll reads the approved entries updated since the watermark (`updated_since`, inclusive),
maps each to a canonical `TimeEntry`, and journals them in one transaction together with the
new watermark, so a crash can neither skip nor lose a page. The idempotency key is the entry's
id and its `updated_at`: re-reading the boundary records is a no-op, while an edit made after
approval arrives as a new entry (which the flow then treats as a correction). A record that
does not decode is journaled too, as a dead letter naming the field, never dropped.

Every version of a time entry is journaled under the entity key of its first version
(``project:<id>`` of the project it was first read on), remembered in the journal's flow state
before that version is appended. The dispatcher orders and parks by key, so an edit that moves
an entry to another project still waits behind its older version instead of racing it on the
new project's actor (which would post both, or judge the older one against the newer).
"""

from __future__ import annotations

import asyncio
import datetime

import msgspec

from mediator.codecs import Envelope, new_id
from mediator.codecs.harvest import time_entry_from_harvest
from mediator.codecs.work import TimeEntry
from mediator.errors import DecodeError
from mediator.flows.approved_time import APPROVED_TIME, PAYLOADS
from mediator.journal import Dispatcher, Journal, Watermark
from mediator.systems.harvest import HarvestConnector

__all__ = ["INVALID_TIME", "HarvestTimePoller", "PollReport"]

#: The kind under which time entries that could not be decoded are dead-lettered.
INVALID_TIME = "psa.time_entry.invalid"
_SOURCE = "harvest"
#: The flow-state name under which the entity key of each time entry's versions is kept.
_KEYS = "harvest_time.key"
_raw = msgspec.json.Encoder()


class PollReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one poll found: records read, newly journaled, already known, and rejected."""

    read: int
    journaled: int
    duplicates: int
    rejected: int
    watermark: str | None


class HarvestTimePoller:
    """Reads approved time entries from Harvest and hands them to the dispatcher durably."""

    def __init__(
        self,
        harvest: HarvestConnector,
        *,
        account_currency: str,
        name: str = "harvest.time_entries.approved",
    ) -> None:
        self.harvest = harvest
        self.account_currency = account_currency
        self.name = name

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> PollReport:
        """Run one poll; return once everything it read is durable (and queued for delivery)."""
        mark = await journal.get_watermark(self.name)
        since = datetime.datetime.fromisoformat(mark.value) if mark is not None else None
        changed = await self.harvest.approved_time_entries(since=since)
        entries: list[TimeEntry] = []
        rejected = 0
        for i, raw in enumerate(changed.records):
            try:
                entries.append(
                    time_entry_from_harvest(
                        raw, account_currency=self.account_currency, path=f"$.time_entries[{i}]"
                    )
                )
            except DecodeError as exc:
                await self._reject(journal, raw, exc)
                rejected += 1
        keys = await _keys_of(journal, entries)
        envelopes: list[Envelope] = []
        for entry, key in zip(entries, keys, strict=True):
            stamp = entry.updated_at or datetime.datetime.now(datetime.UTC)
            envelopes.append(
                PAYLOADS.envelope(
                    APPROVED_TIME,
                    entry,
                    key=key,
                    source=_SOURCE,
                    idempotency_key=f"harvest:time_entry:{entry.source_id}:{stamp.isoformat()}",
                    occurred_at=stamp,
                )
            )
        watermark = (
            None
            if changed.watermark is None
            else Watermark(name=self.name, value=changed.watermark.isoformat())
        )
        appended = await dispatcher.accept_many(envelopes, watermark=watermark)
        duplicates = sum(a.duplicate for a in appended)
        return PollReport(
            read=len(changed.records),
            journaled=len(appended) - duplicates,
            duplicates=duplicates,
            rejected=rejected,
            watermark=None if watermark is None else watermark.value,
        )

    async def _reject(self, journal: Journal, raw: msgspec.Struct, exc: DecodeError) -> None:
        source_id = str(getattr(raw, "id", "?"))
        # Keyed by the record's version, not by its place in this poll's page: the record at
        # the watermark is read again by the next poll, maybe at another index.
        stamp = getattr(raw, "updated_at", None)
        version = stamp.isoformat() if isinstance(stamp, datetime.datetime) else "unstamped"
        envelope = Envelope(
            id=new_id(),
            key=f"time_entry:{source_id}",
            kind=INVALID_TIME,
            source=_SOURCE,
            idempotency_key=f"harvest:time_entry:{source_id}:{version}:invalid",
            occurred_at=datetime.datetime.now(datetime.UTC),
            payload=msgspec.Raw(_raw.encode(raw)),
        )
        # appended and dead in one transaction: a crash between the two would leave it open,
        # to be delivered, and a second poll would find it a duplicate and leave it so
        await journal.append_dead(
            envelope, reason=str(exc), error_class="DecodeError", system=_SOURCE
        )


async def _keys_of(journal: Journal, entries: list[TimeEntry]) -> list[str]:
    # Concurrently, so that the writer reads and saves a page's keys in a few transactions
    # (2,000 new keys: 0.8 s one by one, 0.03 s together, on tmpfs).
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_key_of(journal, entry)) for entry in entries]
    except ExceptionGroup as failed:
        # Each task only calls the journal: its caller gets the first JournalError, not a group.
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _key_of(journal: Journal, entry: TimeEntry) -> str:
    # Saved before the entry is appended: a crash in between leaves a key for the next poll,
    # which reads the same versions again from the same watermark. A save that conflicts lost
    # to another save of the same entry's key (a repeat in one poll): read that one.
    key = f"project:{entry.project_id}"
    while True:
        saved = await journal.load_flow(_KEYS, entry.source_id)
        if saved is not None:
            return saved.state.decode()
        if await journal.save_flow(_KEYS, entry.source_id, key.encode(), expected_version=0):
            return key
