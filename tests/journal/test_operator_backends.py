"""The operator's actions and the journal's reads, on both backends (SQLite and PostgreSQL).

One scenario per behaviour, run against each backend, so the two cannot drift apart: dead
letters listed, previewed, replayed and released with their audit records; parked entries
following a release; redrives; approvals; the operator's overviews.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Protocol

import asyncpg
import pytest

from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import JournalError
from mediator.journal import DeadLetterFilter, EntryState, open_journal
from mediator.journal.operator import AuditRecord, OperatorStore, SqliteOperatorStore
from mediator.journal.postgres import (
    PostgresOperatorStore,
    open_postgres_journal,
    open_postgres_reader,
)
from mediator.journal.reads import JournalReader, open_journal_reader
from mediator.journal.records import Appended, Entry
from mediator.testing import FakeClock
from mediator.testing.postgres import TEST_DSN, scratch_schema
from tests.journal.support import envelope

AUDIT = AuditRecord(who="alice", role="operator", action="replay", target="dead letters")


class _Writes(Protocol):
    async def append_many(self, envelopes: Sequence[Envelope]) -> list[Appended]: ...

    async def mark_dead(
        self, entry_id: str, *, reason: str, error_class: str, system: str | None = None,
        error: str | None = None,
    ) -> None: ...  # fmt: skip

    async def mark_done(self, ids: Sequence[str]) -> list[Entry]: ...

    async def park(self, ids: Sequence[str]) -> None: ...


@dataclasses.dataclass
class Backend:
    name: str
    journal: _Writes
    operator: OperatorStore
    reader: JournalReader
    clock: FakeClock

    async def append(self, *envs: Envelope) -> list[str]:
        return [a.envelope.id for a in await self.journal.append_many(list(envs))]

    async def dead(self, entry_id: str, *, system: str = "tryton") -> None:
        await self.journal.mark_dead(
            entry_id, reason="no ERP project", error_class="RemoteRejected", system=system,
            error="404 project",
        )  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = FakeClock()
    if request.param == "sqlite":
        path = tmp_path / "journal.db"
        async with open_journal(path, clock=clock) as journal, open_journal_reader(path) as reader:
            yield Backend("sqlite", journal, SqliteOperatorStore(journal), reader, clock)
    else:
        async with (
            scratch_schema() as schema,
            open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as journal,
            open_postgres_reader(TEST_DSN, schema) as reader,
        ):
            yield Backend("postgres", journal, PostgresOperatorStore(journal), reader, clock)


async def test_dead_letters_are_previewed_then_replayed_with_their_audit_record(
    backend: Backend,
) -> None:
    first, second = await backend.append(
        envelope("a", key="project:A"), envelope("b", key="project:B")
    )
    await backend.dead(first)
    await backend.dead(second, system="harvest")
    page = await backend.reader.dead_letters(DeadLetterFilter(), now=backend.clock.time())
    assert [e.id for e in page.entries] == [first, second]
    only_tryton = await backend.reader.dead_letters(
        DeadLetterFilter(system="tryton"), now=backend.clock.time()
    )
    assert [e.id for e in only_tryton.entries] == [first]

    preview = await backend.reader.preview_replay(DeadLetterFilter(), now=backend.clock.time())
    assert preview.dry_run
    assert sorted(e.replay_of or "" for e in preview.sent) == sorted([first, second])
    still = await backend.reader.dead_letters(DeadLetterFilter(), now=backend.clock.time())
    assert len(still.entries) == 2, "a preview changes nothing"

    await backend.clock.advance(5.0)
    report = await backend.operator.replay(DeadLetterFilter(system="tryton"), audit=AUDIT)
    assert [e.replay_of for e in report.sent] == [first]
    assert report.sent[0].envelope.idempotency_key == "a"
    left = await backend.reader.dead_letters(DeadLetterFilter(), now=backend.clock.time())
    assert [e.id for e in left.entries] == [second]
    original = await backend.reader.entry(first)
    assert original is not None
    assert original.state is EntryState.REPLAYED
    lineage = await backend.reader.lineage(original)
    assert [e.id for e in lineage] == [first, report.sent[0].id]
    assert lineage[1].state is EntryState.ACCEPTED
    (record,) = await backend.reader.audit()
    assert (record.who, record.action, record.detail) == (
        "alice",
        "replay",
        "sent 1, quarantined 0",
    )
    assert record.at == backend.clock.time()


async def test_a_dead_letter_replayed_too_often_is_quarantined(backend: Backend) -> None:
    (entry_id,) = await backend.append(envelope("a"))
    await backend.dead(entry_id)
    report = await backend.operator.replay(DeadLetterFilter(), audit=AUDIT, max_replays=0)
    assert report.sent == ()
    assert [e.id for e in report.quarantined] == [entry_id]
    found = await backend.reader.entry(entry_id)
    assert found is not None
    assert found.state is EntryState.QUARANTINED


async def test_a_release_closes_the_dead_letter_and_unparks_its_entity(backend: Backend) -> None:
    dead, later, latest, other = await backend.append(
        envelope("a", key="project:A"), envelope("b", key="project:A"),
        envelope("c", key="project:A"), envelope("d", key="project:B"),
    )  # fmt: skip
    await backend.dead(dead)
    await backend.journal.park([later, latest])
    await backend.journal.park([other])  # held by nothing released here: stays parked
    audit = AuditRecord(who="alice", role="operator", action="release", target=dead)
    report = await backend.operator.release(dead, reason="fixed by hand", audit=audit)
    assert report.released.state is EntryState.RELEASED
    assert report.released.released_by == "alice"
    assert [e.id for e in report.unparked] == [later, latest]
    for entry_id, state in ((later, EntryState.ACCEPTED), (other, EntryState.PARKED)):
        found = await backend.reader.entry(entry_id)
        assert found is not None
        assert found.state is state
    with pytest.raises(LookupError, match=dead):
        await backend.operator.release(dead, reason="again", audit=audit)
    assert [r.target for r in await backend.reader.audit()] == [dead]


async def test_a_discard_closes_the_dead_letter_for_good(backend: Backend) -> None:
    (dead,) = await backend.append(envelope("a"))
    await backend.dead(dead)
    audit = AuditRecord(who="alice", role="operator", action="discard", target=dead)
    report = await backend.operator.discard(dead, reason="a test record", audit=audit)
    assert report.released.state is EntryState.DISCARDED
    found = await backend.reader.entry(dead)
    assert found is not None
    assert (found.state, found.release_reason) == (EntryState.DISCARDED, "a test record")
    with pytest.raises(LookupError):
        await backend.operator.discard("00" * 16, reason="none", audit=audit)


async def test_a_delivered_entry_is_redriven_under_its_own_key(backend: Backend) -> None:
    done, waiting = await backend.append(envelope("a"), envelope("b"))
    await backend.journal.mark_done([done])
    audit = AuditRecord(who="alice", role="operator", action="redrive", target=done)
    fresh = await backend.operator.redrive(done, audit=audit)
    assert (fresh.replay_of, fresh.envelope.idempotency_key) == (done, "a")
    assert fresh.state is EntryState.ACCEPTED
    with pytest.raises(LookupError, match=waiting):
        await backend.operator.redrive(waiting, audit=audit)
    replays = await backend.reader.replays_of([done, waiting])
    assert {k: [e.id for e in v] for k, v in replays.items()} == {done: [fresh.id]}
    (record,) = await backend.reader.audit()
    assert record.detail == f"sent {fresh.id}"


async def test_approvals_are_filed_once_and_decided_once(backend: Backend) -> None:
    operator, reader = backend.operator, backend.reader
    filed = await operator.request_approval(
        flow="approved_time", entity="project:A", what="post a large entry", amount=125_000,
        currency="USD", approval_id="appr-1",
    )  # fmt: skip
    again = await operator.request_approval(
        flow="approved_time", entity="project:A", what="changed", approval_id="appr-1"
    )
    assert again == filed
    assert filed.state == "pending"
    assert await reader.approvals(state="pending") == [filed]
    audit = AuditRecord(who="alice", role="operator", action="approve", target="appr-1")
    await backend.clock.advance(60.0)
    decided = await operator.decide("appr-1", approve=True, reason="checked", audit=audit)
    assert (decided.state, decided.decided_by, decided.reason) == ("approved", "alice", "checked")
    assert decided.decided_at == backend.clock.time()
    with pytest.raises(LookupError, match="appr-1"):
        await operator.decide("appr-1", approve=False, reason="late", audit=audit)
    assert await reader.approval("appr-1") == decided
    assert await reader.approvals(state="pending") == []
    assert await reader.approvals(decided_since=backend.clock.time(), entity="project:A") == [
        decided
    ]
    await operator.note(
        AuditRecord(who="alice", role="operator", action="sign-off", target="2026-11")
    )
    assert [r.action for r in await reader.audit()] == ["approve", "sign-off"]
    assert [r.action for r in await reader.audit(after=(await reader.audit())[0].seq)] == [
        "sign-off"
    ]


async def test_the_overviews_count_open_entries_and_dead_letter_causes(backend: Backend) -> None:
    ids = await backend.append(
        envelope("a", key="project:A"), envelope("b", key="project:B"),
        envelope("c", key="project:C"), envelope("d", key="project:D", kind="crm.deal.won"),
    )  # fmt: skip
    await backend.dead(ids[0])
    await backend.dead(ids[1])
    await backend.journal.mark_done([ids[2]])
    counts = {c.kind: c for c in await backend.reader.open_counts(backend.clock.time())}
    assert counts["psa.time_entry.approved"].by_state == {"dead": 2}
    assert counts["crm.deal.won"].by_state == {"accepted": 1}
    assert counts["crm.deal.won"].due_retries == 0
    (cause,) = await backend.reader.dead_letter_causes()
    assert (cause.system, cause.error_class, cause.count) == ("tryton", "RemoteRejected", 2)
    assert await backend.reader.last_errors() == {"tryton": ("404 project", backend.clock.time())}
    history = await backend.reader.history("project:C")
    assert [e.id for e in history.entries] == [ids[2]]
    assert history.complete
    found = await backend.reader.originals(["a", "d", "never"])
    assert {k: e.id for k, e in found.items()} == {"a": ids[0], "d": ids[3]}
    by_key = await backend.reader.open_by_keys(["project:A", "project:C"])
    assert {k: [e.id for e in v] for k, v in by_key.items()} == {"project:A": [ids[0]]}


async def _txids(schema: str) -> dict[str, int]:
    conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": schema})
    try:
        return {bytes(r["id"]).hex(): int(r["txid"]) for r in await conn.fetch(
            "SELECT id, txid FROM entries")}  # fmt: skip
    finally:
        await conn.close()


async def test_replays_and_unparked_entries_carry_the_transaction_that_accepted_them() -> None:
    clock = FakeClock()
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as journal,
    ):
        operator = PostgresOperatorStore(journal)
        dead, parked = [
            a.envelope.id for a in await journal.append_many([envelope("a"), envelope("b")])
        ]
        await journal.mark_dead(dead, reason="no project", error_class="RemoteRejected")
        await journal.park([parked])
        before = await _txids(schema)
        audit = AuditRecord(who="alice", role="operator", action="release", target=dead)
        await operator.release(dead, reason="fixed by hand", audit=audit)
        after = await _txids(schema)
        assert after[parked] > before[parked], "an unparked entry is picked up anew"
        assert after[dead] == before[dead]
        await journal.mark_dead(parked, reason="no project", error_class="RemoteRejected")
        report = await operator.replay(DeadLetterFilter(), audit=audit)
        assert (await _txids(schema))[report.sent[0].id] > after[parked]


async def test_two_operators_replaying_one_dead_letter_at_once_send_it_once() -> None:
    clock = FakeClock()
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as one,
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as other,
    ):
        (dead,) = [a.envelope.id for a in await one.append_many([envelope("a")])]
        await one.mark_dead(dead, reason="no project", error_class="RemoteRejected")
        reports = await asyncio.gather(
            PostgresOperatorStore(one).replay(DeadLetterFilter(), audit=AUDIT),
            PostgresOperatorStore(other).replay(DeadLetterFilter(), audit=AUDIT),
        )
        assert sorted(len(r.sent) for r in reports) == [0, 1]


async def test_a_postgres_reader_names_the_journal_without_its_password() -> None:
    async with scratch_schema() as schema:  # empty: no journal in it
        dsn = TEST_DSN.replace("postgres@", "postgres:hunter2secret@")
        with pytest.raises(JournalError) as caught:
            async with open_postgres_reader(dsn, schema):
                pass
    assert schema in str(caught.value)
    assert "hunter2secret" not in str(caught.value)
    assert "127.0.0.1" in str(caught.value)


async def test_a_postgres_reader_refuses_a_schema_name_that_needs_quoting() -> None:
    with pytest.raises(ValueError, match="schema must be a lower-case"):
        async with open_postgres_reader(TEST_DSN, 'x"; DROP'):
            pass


async def test_a_postgres_read_that_fails_is_a_journal_error_naming_the_journal() -> None:
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema),
        open_postgres_reader(TEST_DSN, schema) as reader,
    ):
        conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": schema})
        try:
            await conn.execute("DROP TABLE audit")
        finally:
            await conn.close()
        with pytest.raises(JournalError, match=f"schema {schema}: read failed") as caught:
            await reader.audit()
    assert "audit" in caught.value.reason
