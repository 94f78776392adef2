"""Retention, the xref map and flow state."""

from __future__ import annotations

from mediator.journal import EntryState, Journal
from mediator.testing import FakeClock
from tests.journal.support import envelope

DAY = 86_400.0


async def test_retention_drops_payloads_but_keeps_keys_for_the_window(
    journal: Journal, clock: FakeClock
) -> None:
    old = (await journal.append(envelope("evt_old"))).envelope
    open_one = (await journal.append(envelope("evt_open"))).envelope
    await journal.mark_done([old.id])
    await clock.advance(10 * DAY)
    recent = (await journal.append(envelope("evt_recent"))).envelope
    await journal.mark_done([recent.id])

    report = await journal.compact(done_older_than=7 * DAY, keep_keys_for=30 * DAY)

    assert (report.compacted, report.forgotten) == (1, 0)
    compacted = await journal.get(old.id)
    assert compacted is not None
    assert compacted.state is EntryState.COMPACTED
    assert bytes(compacted.envelope.payload) == b"null"
    again = await journal.append(envelope("evt_old"))
    assert again.duplicate  # the key still deduplicates
    assert again.envelope.id == old.id
    kept = await journal.get(recent.id)
    assert kept is not None
    assert kept.envelope == recent
    assert (await journal.get(open_one.id)) is not None

    await clock.advance(25 * DAY)
    report = await journal.compact(done_older_than=7 * DAY, keep_keys_for=30 * DAY)
    assert (report.compacted, report.forgotten) == (1, 1)  # recent compacted; old forgotten
    assert await journal.get(old.id) is None
    assert not (await journal.append(envelope("evt_old"))).duplicate
    assert (await journal.get(open_one.id)) is not None  # open entries are never compacted


async def test_xref_both_ways_with_time(journal: Journal, clock: FakeClock) -> None:
    first = await journal.record_xref("client", "C-1", "salesforce", "001A")
    await journal.record_xref("client", "C-1", "tryton", "42")
    await journal.record_xref("client", "C-2", "tryton", "43")
    assert first.recorded_at == clock.time()

    assert await journal.xref_to("client", "C-1", "salesforce") == first
    assert [x.system_id for x in await journal.xref_all("client", "C-1")] == ["001A", "42"]
    back = await journal.xref_from("tryton", "client", "43")
    assert back is not None
    assert back.canonical_id == "C-2"
    assert await journal.xref_from("tryton", "project", "43") is None

    await clock.advance(60)
    moved = await journal.record_xref("client", "C-1", "salesforce", "001B")  # merged account
    assert moved.recorded_at == clock.time()
    assert await journal.xref_to("client", "C-1", "salesforce") == moved
    assert await journal.xref_from("salesforce", "client", "001A") is None


async def test_flow_state_with_optimistic_versions(journal: Journal) -> None:
    assert await journal.load_flow("billing", "project:P-1") is None
    created = await journal.save_flow("billing", "project:P-1", b'{"step":1}', expected_version=0)
    assert created is not None
    assert created.version == 1
    assert await journal.save_flow("billing", "project:P-1", b"{}", expected_version=0) is None

    saved = await journal.save_flow("billing", "project:P-1", b'{"step":2}', expected_version=1)
    stale = await journal.save_flow("billing", "project:P-1", b'{"step":9}', expected_version=1)

    assert saved is not None
    assert saved.version == 2
    assert stale is None
    loaded = await journal.load_flow("billing", "project:P-1")
    assert loaded is not None
    assert (loaded.state, loaded.version) == (b'{"step":2}', 2)
