"""What only the PostgreSQL journal does: several daemons on one journal (one entry per key
whoever appends it, fenced state changes, gap-free pick-up in (txid, seq) order), and its
failures to open."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from mediator.cluster import PARTITIONS, partition_lease, partition_of
from mediator.errors import Fenced, JournalError
from mediator.journal import EntryState, Journal
from mediator.journal.postgres import PostgresJournal, open_postgres_journal
from mediator.journal.postgres._rows import pg_row
from mediator.journal.postgres._writer import insert_envelopes
from mediator.testing import FakeClock
from mediator.testing.postgres import TEST_DSN, scratch_schema
from tests.journal.support import envelope

ALL = list(range(PARTITIONS))


class StaticFence:
    """A fence that holds the given partitions at the given epochs."""

    def __init__(self, owner: str, held: dict[int, int]) -> None:
        self._owner = owner
        self.held = held

    @property
    def owner(self) -> str:
        return self._owner

    def epochs(self) -> list[int]:
        return [self.held.get(p, -1) for p in range(PARTITIONS)]


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema() as name:
        yield name


async def _lease(schema: str, partition: int, owner: str, epoch: int) -> None:
    conn = await asyncpg.connect(TEST_DSN)
    try:
        await conn.execute(
            f"INSERT INTO {schema}.leases (name, owner, epoch, expires_at) VALUES ($1, $2, $3, 0) "
            "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch",
            partition_lease(partition), owner, epoch,
        )  # fmt: skip
    finally:
        await conn.close()


def _keys_in_two_partitions() -> tuple[str, str]:
    first = "project:P-1"
    other = next(f"project:P-{n}" for n in range(2, 1000)
                 if partition_of(f"project:P-{n}") != partition_of(first))  # fmt: skip
    return first, other


async def test_two_daemons_appending_one_key_at_once_make_one_entry(schema: str) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    keys = [f"evt_{n}" for n in range(200)]
    clock = FakeClock()
    async with (
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as a,
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as b,
    ):
        order = [(j, k) for k in keys for j in (a, b)]
        rng.shuffle(order)
        results = await asyncio.gather(*(j.append(envelope(k)) for j, k in order))
        assert len(await a.recover()) == len(keys)
    by_key: dict[str, list[tuple[bool, str]]] = {}
    for (_, key), result in zip(order, results, strict=True):
        by_key.setdefault(key, []).append((result.duplicate, result.envelope.id))
    for key, seen in by_key.items():
        assert sorted(d for d, _ in seen) == [False, True], key  # one of the two is new
        assert len({i for _, i in seen}) == 1, key  # and both name the same entry


async def test_a_stale_fence_cannot_mark_done_while_the_current_owner_can(schema: str) -> None:
    clock = FakeClock()
    key, _ = _keys_in_two_partitions()
    p = partition_of(key)
    stale = StaticFence("daemon-a", {p: 1})
    current = StaticFence("daemon-b", {p: 2})
    async with (
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema, fence=stale) as a,
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema, fence=current) as b,
    ):
        await _lease(schema, p, "daemon-b", 2)  # b took the partition over from a (epoch 1)
        entry = (await a.append(envelope("evt_1", key=key))).envelope
        with pytest.raises(Fenced) as caught:
            await a.mark_done([entry.id])
        assert caught.value.ids == (entry.id,)
        assert caught.value.partitions == (p,)
        assert caught.value.owner == "daemon-a"
        stored = await b.get(entry.id)
        assert stored is not None
        assert stored.state is EntryState.ACCEPTED  # unchanged
        with pytest.raises(Fenced):
            await a.mark_retry(entry.id, at=clock.time() + 5, error="x", error_class="X")
        with pytest.raises(Fenced):
            await a.mark_dead(entry.id, reason="no", error_class="X")

        await b.mark_in_flight([entry.id])
        assert await b.mark_done([entry.id]) == []
        done = await a.get(entry.id)
        assert done is not None
        assert (done.state, done.attempts) == (EntryState.DONE, 1)


async def test_a_takeover_committing_during_a_mark_done_fences_it(schema: str) -> None:
    # The lease row is read FOR SHARE: the state change waits for the takeover's transaction
    # and then sees its epoch (reading the row as of its snapshot, it would mark done).
    clock = FakeClock()
    key, _ = _keys_in_two_partitions()
    p = partition_of(key)
    fence = StaticFence("daemon-a", {p: 1})
    async with open_postgres_journal(TEST_DSN, clock=clock, schema=schema, fence=fence) as a:
        await _lease(schema, p, "daemon-a", 1)
        entry = (await a.append(envelope("evt_1", key=key))).envelope
        takeover = await asyncpg.connect(TEST_DSN)
        try:
            async with takeover.transaction():
                await takeover.execute(
                    f"UPDATE {schema}.leases SET owner = 'daemon-b', epoch = 2 WHERE name = $1",
                    partition_lease(p),
                )
                marking = asyncio.ensure_future(a.mark_done([entry.id]))
                await _until_waiting_for_a_lock(takeover, marking)
            with pytest.raises(Fenced):
                await marking
        finally:
            await takeover.close()
        stored = await a.get(entry.id)
        assert stored is not None
        assert stored.state is EntryState.ACCEPTED


async def _until_waiting_for_a_lock(conn: Any, task: asyncio.Future[Any]) -> None:
    # Until a session waits for `conn`'s locks (sessions of a real server: polled, with a
    # deadline), or `task` ended without waiting.
    blocker = conn.get_server_pid()
    async with asyncio.timeout(10):
        while not task.done():
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                blocker,
            )
            if waiting:
                return
            await asyncio.sleep(0.01)


async def test_refused_ids_do_not_abort_the_rest_of_the_batch(schema: str) -> None:
    clock = FakeClock()
    kept_key, lost_key = _keys_in_two_partitions()
    kept, lost = partition_of(kept_key), partition_of(lost_key)
    fence = StaticFence("daemon-a", {kept: 1, lost: 3})
    async with open_postgres_journal(TEST_DSN, clock=clock, schema=schema, fence=fence) as a:
        await _lease(schema, kept, "daemon-a", 1)
        await _lease(schema, lost, "daemon-b", 4)
        mine = (await a.append(envelope("evt_1", key=kept_key))).envelope
        theirs = (await a.append(envelope("evt_2", key=lost_key))).envelope
        other = asyncio.ensure_future(a.append(envelope("evt_3", key=lost_key)))
        with pytest.raises(Fenced) as caught:
            await a.mark_in_flight([mine.id, theirs.id])
        assert caught.value.ids == (theirs.id,)
        assert not (await other).duplicate  # appends of the same transaction went through
        states = {e.id: e.state for e in await a.open_in([kept, lost])}
        assert states[mine.id] is EntryState.IN_FLIGHT
        assert states[theirs.id] is EntryState.ACCEPTED
        # what a fenced daemon recovers is only what it holds now
        assert len(await a.recover()) == 3
        fence.held.pop(lost)
        assert [e.id for e in await a.recover()] == [mine.id]
        fence.held.pop(kept)
        assert await a.recover() == []


async def test_a_fenced_daemon_reads_only_the_partitions_it_holds(schema: str) -> None:
    clock = FakeClock()
    kept_key, lost_key = _keys_in_two_partitions()
    kept, lost = partition_of(kept_key), partition_of(lost_key)
    fence = StaticFence("daemon-a", {kept: 1, lost: 1})
    async with open_postgres_journal(TEST_DSN, clock=clock, schema=schema, fence=fence) as a:
        await _lease(schema, kept, "daemon-a", 1)
        await _lease(schema, lost, "daemon-a", 1)
        for key in (kept_key, lost_key):
            dead, retried = [(await a.append(envelope(f"{key}/{n}", key=key))).envelope
                             for n in range(2)]  # fmt: skip
            await a.mark_dead(dead.id, reason="no rate", error_class="DecodeError")
            await a.mark_retry(retried.id, at=clock.time(), error="503", error_class="X")
        assert await a.held_keys() == {kept_key, lost_key}
        assert {e.key for e in await a.due(clock.time())} == {kept_key, lost_key}
        fence.held.pop(lost)  # taken over by another daemon
        assert await a.held_keys() == {kept_key}
        assert {e.key for e in await a.due(clock.time())} == {kept_key}
        assert {e.key for e in await a.recover()} == {kept_key}


async def test_accepted_after_is_gap_free_behind_a_slower_transaction(schema: str) -> None:
    clock = FakeClock()
    inserted, go = asyncio.Event(), asyncio.Event()
    slow = envelope("evt_slow")

    async def slower(conn: Any, now: float) -> None:
        await insert_envelopes(conn, now, [slow], [pg_row(slow)])  # draws its seq first
        inserted.set()
        await go.wait()

    async with (
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as a,
        open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as b,
    ):
        pending = asyncio.ensure_future(a.run_op(slower))
        await inserted.wait()
        fast = [r.envelope.id for r in await b.append_many([envelope("e1"), envelope("e2")])]
        seen, cursor = await b.accepted_after((0, 0), ALL)
        assert seen == []  # the slower transaction is still open: nothing past it yet
        go.set()
        await pending
        seen, cursor = await _read_until(b, cursor, 3)
    assert sorted(e.id for e in seen) == sorted([slow.id, *fast])
    assert seen[0].id == slow.id  # in (txid, seq) order


async def _read_until(
    journal: PostgresJournal, cursor: tuple[int, int], count: int
) -> tuple[list[Any], tuple[int, int]]:
    # (other sessions on the shared server may hold the snapshot's xmin back a moment)
    seen: list[Any] = []
    async with asyncio.timeout(10):
        while len(seen) < count:
            more, cursor = await journal.accepted_after(cursor, ALL, limit=2)
            seen.extend(more)
            if not more:
                await asyncio.sleep(0.01)
    return seen, cursor


async def test_accepted_after_returns_an_unparked_entry_again(schema: str) -> None:
    clock = FakeClock()
    async with open_postgres_journal(TEST_DSN, clock=clock, schema=schema) as j:
        dead = (await j.append(envelope("evt_dead"))).envelope
        parked = (await j.append(envelope("evt_parked"))).envelope
        await j.mark_dead(dead.id, reason="rate missing", error_class="DecodeError")
        await j.park([parked.id])
        _, cursor = await _read_until(j, (0, 0), 0)
        report = await j.release(dead.id, reason="fixed by hand", by="ops")
        assert [e.id for e in report.unparked] == [parked.id]
        seen, _ = await _read_until(j, cursor, 1)
    assert [e.id for e in seen] == [parked.id]


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://mediator:s3cret@127.0.0.1:1/nowhere", "127.0.0.1:1"),  # refused
        ("postgresql://nobody:s3cret@127.0.0.1:5432/test", 'role "nobody"'),
        ("postgresql://u:s3cret@[bad/test", "cannot connect"),  # a dsn that cannot be read
    ],
)
async def test_a_server_that_cannot_be_used_is_a_journal_error_without_the_password(
    dsn: str, shown: str
) -> None:
    with pytest.raises(JournalError) as caught:
        async with open_postgres_journal(dsn, clock=FakeClock(), schema="x"):
            pass
    assert "s3cret" not in str(caught.value)
    assert "cannot connect" in str(caught.value)
    assert shown in str(caught.value)


async def test_a_failed_transaction_fails_every_caller_of_its_batch_and_no_other(
    schema: str,
) -> None:
    async def broken(conn: Any, now: float) -> None:
        await conn.execute("SELECT * FROM no_such_table")

    started, go = asyncio.Event(), asyncio.Event()

    async def gate(conn: Any, now: float) -> None:
        started.set()
        await go.wait()

    async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema) as j:
        first = asyncio.ensure_future(j.run_op(gate))  # holds the writer in a transaction
        await started.wait()
        appended = asyncio.ensure_future(j.append(envelope("evt_1")))
        failing = asyncio.ensure_future(j.run_op(broken))
        await asyncio.sleep(0)  # both joined the next batch
        go.set()
        await first
        with pytest.raises(JournalError, match="no_such_table"):
            await failing
        with pytest.raises(JournalError, match="no_such_table"):
            await appended  # gathered into the same transaction: rolled back with it
        assert await j.recover() == []
        assert not (await j.append(envelope("evt_1"))).duplicate  # the writer goes on


async def test_a_newer_schema_is_refused(schema: str) -> None:
    async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema):
        pass
    conn = await asyncpg.connect(TEST_DSN)
    try:
        await conn.execute(f"UPDATE {schema}.meta SET value = 99 WHERE name = 'schema_version'")
    finally:
        await conn.close()
    with pytest.raises(JournalError, match="newer") as caught:
        async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema):
            pass
    assert schema in str(caught.value)


async def test_after_the_server_drops_the_writers_connection_it_connects_again(
    schema: str,
) -> None:
    async def backend_pid(conn: Any, now: float) -> int:
        return int(await conn.fetchval("SELECT pg_backend_pid()"))

    async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema) as j:
        first = await j.append(envelope("evt_1"))
        admin = await asyncpg.connect(TEST_DSN)
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", await j.run_op(backend_pid))
        finally:
            await admin.close()
        second = envelope("evt_2")
        with contextlib.suppress(JournalError):  # the batch that found it gone, if one did
            await j.append(second)
        assert (await j.append(envelope("evt_1"))).envelope == first.envelope
        assert {e.id for e in await j.recover()} <= {first.envelope.id, second.id}
        assert not (await j.append(envelope("evt_3"))).duplicate  # the writer goes on


@pytest.mark.parametrize("name", ["Mixed", "a;drop", "", "1abc"])
async def test_a_schema_name_that_is_no_plain_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="schema"):
        async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=name):
            pass


async def test_an_envelope_with_a_nul_character_fails_alone(schema: str) -> None:
    async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema) as j:
        other = asyncio.ensure_future(j.append(envelope("evt_other")))
        with pytest.raises(ValueError, match="envelope key holds a NUL"):
            await j.append(envelope("evt_bad", key="project:\x00"))
        assert not (await other).duplicate


async def test_an_entitys_entries_of_one_batch_keep_their_order(schema: str) -> None:
    async with open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema) as j:
        batch = [envelope(k) for k in ("evt_z", "evt_a", "evt_m")]  # not in key order
        await j.append_many(batch)
        seen, _ = await _read_until(j, (0, 0), 3)
        in_order = [e.id for e in await j.open_in(ALL)]
    assert [e.id for e in seen] == in_order == [e.id for e in batch]


def _is_a_journal(journal: PostgresJournal) -> Journal:
    return journal  # (checked by mypy: PostgresJournal implements every op of Journal)
