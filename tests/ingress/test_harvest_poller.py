"""The Harvest time poller against the Harvest sandbox: one bad record never stops a poll.

A poison record (``"hours": "NaN"``, an ``sNaN`` rate, a bug of ours while mapping) is
dead-lettered with its field path, once however often it is read again; the other records are
journaled and the watermark moves past it (issue #13).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediator.clock import SystemClock
from mediator.codecs import Envelope
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.codecs.harvest.mapping import time_entry_from_harvest
from mediator.flows import PAYLOADS
from mediator.ingress import INVALID_TIME, HarvestTimePoller, PollReport, harvest_time
from mediator.journal import (
    DeadLetterFilter,
    Dispatcher,
    SqliteJournal,
    open_dispatcher,
    open_journal,
)
from mediator.journal.records import Entry
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import generate_firm
from mediator.testing.sandbox_connectors import harvest_connector

_LATER = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=2)


class Sink:
    """A recipient that keeps what it was given."""

    def __init__(self) -> None:
        self.delivered: list[Envelope] = []

    async def ask(self, message: Envelope, *, timeout: float) -> object:
        self.delivered.append(message)
        return None


@dataclass
class Poller:
    boxes: Sandboxes
    journal: SqliteJournal
    dispatcher: Dispatcher
    poller: HarvestTimePoller
    sink: Sink

    def entry(self, index: int) -> dict[str, Any]:
        """The `index`-th approved time entry in the sandbox's store (a live record, Harvest's
        JSON, whose fields the test reads and edits)."""
        assert self.boxes.harvest is not None
        table = self.boxes.harvest.store.tables["time_entries"]
        records: list[dict[str, Any]] = [r for r in table.values() if r["is_closed"]]
        approved = sorted(records, key=lambda r: r["id"])
        return approved[index]

    async def poll(self) -> PollReport:
        report = await self.poller.poll(self.journal, self.dispatcher)
        await self.dispatcher.wait_idle()
        return report

    async def dead(self) -> list[Entry]:
        return await self.journal.list_dead(DeadLetterFilter(kind=INVALID_TIME), limit=100)

    async def watermark(self) -> str | None:
        mark = await self.journal.get_watermark(self.poller.name)
        return None if mark is None else mark.value

    def delivered_ids(self) -> set[str]:
        return {PAYLOADS.decode_as(e, TimeEntry).source_id for e in self.sink.delivered}


@pytest.fixture
async def harvest(tmp_path: Path) -> AsyncIterator[Poller]:
    clock = SystemClock()
    firm = generate_firm(seed=3, size=3)
    sink = Sink()
    async with (
        open_sandboxes(products=("harvest",), clock=clock, seed=3, firm=firm) as boxes,
        open_journal(tmp_path / "journal.sqlite", clock=clock) as journal,
        open_dispatcher(journal, lambda key: sink, clock=clock) as dispatcher,
    ):
        policies = PolicyRegistry(default_policy_config(), clock=clock)
        connector = harvest_connector(boxes, policies, clock)
        try:
            poller = HarvestTimePoller(connector, account_currency="USD")
            yield Poller(boxes, journal, dispatcher, poller, sink)
        finally:
            await connector.aclose()


def _stamp(at: datetime.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_nan_hours_record_is_dead_lettered_and_the_watermark_moves_past_it(
    harvest: Poller,
) -> None:
    # The record the issue names: before, every poll raised decimal.InvalidOperation, nothing
    # was dead-lettered and the watermark never moved.
    poison = harvest.entry(1)
    poison["hours"] = "NaN"
    poison["updated_at"] = _stamp(_LATER)  # the newest: the watermark must get past it
    first = await harvest.poll()
    assert first.rejected == 1
    assert first.journaled == first.read - 1 > 10
    [dead] = await harvest.dead()
    assert dead.reason is not None
    assert ".hours" in dead.reason
    assert "NaN" in dead.reason
    assert dead.error_class == "DecodeError"
    assert dead.envelope.key == f"time_entry:{poison['id']}"
    assert msgspec.json.decode(dead.envelope.payload)["hours"] == "NaN"  # kept as it came
    assert await harvest.watermark() == _LATER.isoformat()
    assert str(poison["id"]) not in harvest.delivered_ids()
    assert str(harvest.entry(0)["id"]) in harvest.delivered_ids()

    # Read again (the watermark is inclusive), the record is not a second dead letter; a
    # record updated later is journaled and delivered.
    later = harvest.entry(0)
    later["notes"] = "edited after the poison record"
    later["updated_at"] = _stamp(_LATER + datetime.timedelta(seconds=1))
    before = len(harvest.sink.delivered)
    second = await harvest.poll()
    assert (second.read, second.rejected, second.journaled) == (2, 1, 1)
    assert len(await harvest.dead()) == 1
    assert len(harvest.sink.delivered) == before + 1
    assert harvest.sink.delivered[-1].idempotency_key.endswith(later["updated_at"][:-1] + "+00:00")
    assert await harvest.watermark() == (_LATER + datetime.timedelta(seconds=1)).isoformat()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hours", "sNaN"),
        ("hours", "Infinity"),
        ("hours", msgspec.Raw(b"1e400")),
        ("hours", ""),
        ("hours", "abc"),
        ("hours", msgspec.Raw(b"1" * 5000)),
        ("billable_rate", "sNaN"),  # crashed the rate cache: "Cannot hash a signaling NaN"
        ("billable_rate", "-Infinity"),
        ("cost_rate", msgspec.Raw(b"1e400")),
        ("spent_date", "2026-13-45"),
        ("updated_at", "2026-11-26T10:00:00"),  # no offset: cannot be compared to a watermark
        ("updated_at", "9999-12-31T23:59:59-05:00"),  # beyond datetime's range once in UTC
        ("external_reference", {"id": "x" * 300}),
        ("is_locked", "yes"),
        ("notes", ["not", "text"]),
    ],
)
async def test_every_malformed_value_is_a_dead_letter_naming_its_field(
    harvest: Poller, field: str, value: object
) -> None:
    poison = harvest.entry(2)
    poison[field] = value
    report = await harvest.poll()
    assert report.rejected == 1
    assert report.journaled == report.read - 1
    [dead] = await harvest.dead()
    assert dead.reason is not None
    assert f".{field}" in dead.reason
    assert dead.envelope.key == f"time_entry:{poison['id']}"
    assert str(poison["id"]) not in harvest.delivered_ids()
    assert await harvest.watermark() is not None
    await harvest.poll()  # read again: the same dead letter, not a second one
    assert len(await harvest.dead()) == 1


async def test_a_fault_in_our_mapping_fails_that_record_not_the_poll(
    harvest: Poller, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Whatever the mapper raises (here a bug of ours for one record), the poll goes on.
    victim = harvest.entry(0)
    mapper = time_entry_from_harvest  # the mapper the poller calls, until patched below

    def buggy(entry: object, **kwargs: object) -> TimeEntry:
        if getattr(entry, "id", None) == victim["id"]:
            raise ZeroDivisionError("a bug of ours")
        return mapper(entry, **kwargs)  # type: ignore[arg-type]  # passes on what the poller gave

    monkeypatch.setattr(harvest_time, "time_entry_from_harvest", buggy)
    with caplog.at_level(logging.ERROR, logger="mediator.ingress"):
        report = await harvest.poll()
    assert report.rejected == 1
    assert report.journaled == report.read - 1
    [dead] = await harvest.dead()
    assert dead.error_class == "ZeroDivisionError"
    assert dead.reason is not None
    assert "ZeroDivisionError: a bug of ours" in dead.reason
    assert "$.time_entries[" in dead.reason
    assert dead.envelope.key == f"time_entry:{victim['id']}"
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)
    assert await harvest.watermark() is not None
    await harvest.poll()
    assert len(await harvest.dead()) == 1


async def test_a_record_with_invalid_utf8_is_dead_lettered_and_kept_readable(
    harvest: Poller,
) -> None:
    poison = harvest.entry(3)
    poison["notes"] = msgspec.Raw(b'"caf\xe9"')  # Latin-1 in a UTF-8 body
    report = await harvest.poll()
    assert report.rejected == 1
    assert report.journaled == report.read - 1
    [dead] = await harvest.dead()
    assert dead.reason is not None
    assert "UTF-8" in dead.reason
    assert "$.time_entries[" in dead.reason
    assert dead.envelope.key == f"time_entry:{poison['id']}"
    kept = msgspec.json.decode(dead.envelope.payload)  # the record, as text an operator can read
    assert isinstance(kept, str)
    assert "caf\\xe9" in kept
    await harvest.poll()
    assert len(await harvest.dead()) == 1
