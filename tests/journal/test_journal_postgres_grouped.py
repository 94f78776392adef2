"""The PostgreSQL journal's coalesced state changes: callers whose ops share one transaction
(and one statement per kind) each get exactly their own result, as if run one by one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Sequence
from typing import Any

import pytest

from mediator.cluster import PARTITIONS, partition_of
from mediator.errors import Fenced
from mediator.journal import DeadLetterFilter, EntryState
from mediator.journal.postgres import PostgresJournal, open_postgres_journal
from mediator.journal.postgres._stages import Connection, GroupedOp, run_ops
from mediator.testing import FakeClock
from mediator.testing.postgres import TEST_DSN, scratch_schema
from tests.journal.support import envelope
from tests.journal.test_journal_postgres import StaticFence, _keys_in_two_partitions, _lease


@pytest.fixture
async def journal() -> AsyncIterator[PostgresJournal]:
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema) as j,
    ):
        yield j


async def _in_one_transaction(j: PostgresJournal, *calls: Any) -> list[Any]:
    # The calls are gathered before the writer wakes, so they share one batch; the test checks
    # that they did (else it would not be testing the coalescing).
    before = j.statistics().transactions
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert j.statistics().transactions == before + 1
    return results


async def test_flow_cas_wins_and_losses_of_one_batch_go_each_to_its_caller(
    journal: PostgresJournal,
) -> None:
    j = journal
    assert await j.save_flow("billing", "P-1", b"a", expected_version=0) is not None
    assert await j.save_flow("billing", "P-2", b"a", expected_version=0) is not None
    won, stale, taken, fresh, again = await _in_one_transaction(
        j,
        j.save_flow("billing", "P-1", b"b", expected_version=1),
        j.save_flow("billing", "P-2", b"b", expected_version=7),
        j.save_flow("billing", "P-2", b"c", expected_version=0),  # P-2 exists: a loss
        j.save_flow("billing", "P-3", b"a", expected_version=0),
        j.save_flow("billing", "P-1", b"c", expected_version=1),  # after `won`: a loss
    )
    assert (won.version, won.state) == (2, b"b")
    assert (stale, taken, again) == (None, None, None)
    assert (fresh.version, fresh.entity) == (1, "P-3")
    stored = {e: await j.load_flow("billing", e) for e in ("P-1", "P-2", "P-3")}
    assert {e: (s.state, s.version) for e, s in stored.items() if s} == {
        "P-1": (b"b", 2),
        "P-2": (b"a", 1),
        "P-3": (b"a", 1),
    }


async def test_xrefs_of_one_batch_replace_older_mappings_as_one_by_one(
    journal: PostgresJournal,
) -> None:
    j = journal
    await j.record_xref("project", "P-1", "tryton", "T-9")
    await j.record_xref("project", "P-2", "tryton", "T-5")
    await _in_one_transaction(
        j,
        j.record_xref("project", "P-1", "tryton", "T-1"),  # replaces P-1's T-9
        j.record_xref("project", "P-3", "tryton", "T-5"),  # takes T-5 from P-2
        j.record_xref("project", "P-1", "tryton", "T-2"),  # after the first: the last word
    )
    assert (await j.xref_to("project", "P-1", "tryton")).system_id == "T-2"  # type: ignore[union-attr]
    assert await j.xref_to("project", "P-2", "tryton") is None
    assert (await j.xref_from("tryton", "project", "T-5")).canonical_id == "P-3"  # type: ignore[union-attr]
    assert await j.xref_from("tryton", "project", "T-1") is None


async def test_two_callers_marking_one_entry_in_flight_count_two_attempts(
    journal: PostgresJournal,
) -> None:
    j = journal
    entry = (await j.append(envelope("evt_1"))).envelope
    await _in_one_transaction(j, j.mark_in_flight([entry.id]), j.mark_in_flight([entry.id]))
    stored = await j.get(entry.id)
    assert stored is not None
    assert (stored.state, stored.attempts) == (EntryState.IN_FLIGHT, 2)


async def test_fenced_and_unfenced_ids_of_one_batch_fail_only_their_own_caller() -> None:
    kept_key, lost_key = _keys_in_two_partitions()
    kept, lost = partition_of(kept_key), partition_of(lost_key)
    fence = StaticFence("daemon-a", {kept: 1, lost: 3})
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema, fence=fence) as j,
    ):
        await _lease(schema, kept, "daemon-a", 1)
        await _lease(schema, lost, "daemon-b", 4)
        mine = [(await j.append(envelope(f"m{n}", key=kept_key))).envelope.id for n in range(3)]
        theirs = [(await j.append(envelope(f"t{n}", key=lost_key))).envelope.id for n in range(2)]
        results = await _in_one_transaction(
            j,
            j.mark_in_flight([mine[0]]),
            j.mark_in_flight([theirs[0], mine[1]]),
            j.mark_in_flight([mine[2]]),
            j.mark_done([theirs[1]]),
        )
        assert results[0] is None
        assert isinstance(results[1], Fenced)
        assert (results[1].ids, results[1].partitions) == ((theirs[0],), (lost,))
        assert results[2] is None
        assert isinstance(results[3], Fenced)
        assert results[3].ids == (theirs[1],)
        states = {e.id: e.state for e in await j.open_in(list(range(PARTITIONS)))}
    assert [states[i] for i in mine] == [EntryState.IN_FLIGHT] * 3
    assert [states[i] for i in theirs] == [EntryState.ACCEPTED] * 2


async def test_the_parked_entries_go_to_the_caller_whose_done_freed_their_key(
    journal: PostgresJournal,
) -> None:
    # Two replays hold one key; done one by one, the first finds the key still held by the
    # second and unparks nothing, the second unparks: so in one batch, too.
    j = journal
    dead = [(await j.append(envelope(f"evt_dead_{n}"))).envelope.id for n in range(2)]
    for entry_id in dead:
        await j.mark_dead(entry_id, reason="rate missing", error_class="DecodeError")
    parked = (await j.append(envelope("evt_parked"))).envelope
    await j.park([parked.id])
    other = (await j.append(envelope("evt_other", key="project:P-2"))).envelope
    report = await j.replay(DeadLetterFilter(ids=tuple(dead)), dry_run=False)
    first, second = (e.id for e in report.sent)
    unparked = await _in_one_transaction(
        j, j.mark_done([first]), j.mark_done([other.id]), j.mark_done([second])
    )
    assert [[e.id for e in u] for u in unparked] == [[], [], [parked.id]]
    assert unparked[2][0].state is EntryState.ACCEPTED
    stored = await j.get(parked.id)
    assert stored is not None
    assert stored.state is EntryState.ACCEPTED


async def test_retries_and_dead_letters_of_one_batch_keep_each_its_own_values(
    journal: PostgresJournal,
) -> None:
    j = journal
    ids = [(await j.append(envelope(f"evt_{n}"))).envelope.id for n in range(4)]
    await _in_one_transaction(
        j,
        j.mark_retry(ids[0], at=5.0, error="timeout", error_class="ConnectorTimeout"),
        j.mark_dead(ids[1], reason="no rate", error_class="DecodeError", system="tryton"),
        j.mark_retry(ids[2], at=9.0, error="503", error_class="ConnectorUnavailable"),
        j.mark_dead(ids[3], reason="gone", error_class="RemoteRejected", error="404 body"),
    )
    stored = [await j.get(i) for i in ids]
    assert [
        (e.state, e.due_at, e.error, e.error_class, e.reason, e.system) for e in stored if e
    ] == [
        (EntryState.RETRY, 5.0, "timeout", "ConnectorTimeout", None, None),
        (EntryState.DEAD, None, "no rate", "DecodeError", "no rate", "tryton"),
        (EntryState.RETRY, 9.0, "503", "ConnectorUnavailable", None, None),
        (EntryState.DEAD, None, "404 body", "RemoteRejected", "gone", None),
    ]


class _Recorded(GroupedOp):
    """A grouped op that records which ops ran together."""

    family = "recorded"

    def __init__(self, name: str, touches: Sequence[str], log: list[list[str]]) -> None:
        self.name, self._touches, self.log = name, touches, log

    def group(self) -> Hashable:
        return type(self).__name__

    def touches(self) -> Sequence[Hashable]:
        return list(self._touches)

    @classmethod
    async def run_group(
        cls, conn: Connection, now: float, ops: Sequence[_Recorded]
    ) -> list[object]:
        ops[0].log.append([o.name for o in ops])
        return [o.name.upper() for o in ops]


class _Other(_Recorded):
    family = "other"
    excludes = frozenset({"recorded"})


async def test_stages_split_where_ops_touch_one_thing_or_exclude_each_other() -> None:
    log: list[list[str]] = []

    async def plain(conn: Connection, now: float) -> str:
        log.append(["plain"])
        return "plain"

    ops: list[Any] = [
        _Recorded("a", ["x"], log),
        _Recorded("b", ["y"], log),
        _Recorded("c", ["x"], log),  # touches x again: a new stage
        _Recorded("d", ["z"], log),
        _Other("e", ["w"], log),  # excludes the stage's family: a new stage
        plain,  # a plain op runs alone
        _Recorded("f", ["x"], log),
        _Recorded("g", ["v"], log),
    ]
    results = await run_ops(None, 0.0, ops)  # type: ignore[arg-type]  # no statement runs
    assert results == ["A", "B", "C", "D", "E", "plain", "F", "G"]
    assert log == [["a", "b"], ["c", "d"], ["e"], ["plain"], ["f", "g"]]
