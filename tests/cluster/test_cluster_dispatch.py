"""Two dispatchers on one PostgreSQL journal: each delivers only its partitions' entries.

In one process (the real-process scenarios are in test_daemons.py): two daemons, each a
lease keeper (heartbeats driven by the test, local time on a fake clock), a fenced journal, a
dispatcher and its intake. Whoever journals an entry, the daemon holding its partition
delivers it, once; a partition taken over is delivered there, its in-flight entries again;
a paused daemon's late marks are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import msgspec

from mediator.clock import SystemClock
from mediator.cluster import PARTITIONS, LeaseKeeper, open_lease_keeper, partition_of
from mediator.cluster.intake import ClusterIntake, PartitionOwnership, open_cluster_intake
from mediator.codecs.canonical.envelope import Envelope
from mediator.journal import Dispatcher, EntryState, open_dispatcher
from mediator.journal.postgres import PostgresJournal, open_postgres_journal
from mediator.testing import FakeClock
from mediator.testing.postgres import TEST_DSN
from tests.journal.support import envelope


class Daemon(msgspec.Struct, kw_only=True):
    owner: str
    keeper: LeaseKeeper
    journal: PostgresJournal
    dispatcher: Dispatcher
    intake: ClusterIntake


class Recorder:
    """Every delivery: (daemon, idempotency key); `gate` holds deliveries when cleared."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = asyncio.Event()

    def route(self, owner: str) -> Callable[[str], Recorder.Ask]:
        return lambda key: Recorder.Ask(self, owner)

    class Ask:
        def __init__(self, recorder: Recorder, owner: str) -> None:
            self.recorder, self.owner = recorder, owner

        async def ask(self, message: Envelope, *, timeout: float) -> object:
            if not self.recorder.gate.is_set():
                self.recorder.waiting.set()
                await self.recorder.gate.wait()
            self.recorder.deliveries.append((self.owner, message.idempotency_key))
            return None


@contextlib.asynccontextmanager
async def daemon(
    schema: str, owner: str, recorder: Recorder, clock: FakeClock
) -> AsyncIterator[Daemon]:
    async with (
        open_lease_keeper(TEST_DSN, schema=schema, owner=owner, clock=clock, run=False) as keeper,
        open_postgres_journal(
            TEST_DSN, clock=SystemClock(), schema=schema, fence=keeper
        ) as journal,
    ):
        ownership = PartitionOwnership(keeper)
        async with (
            open_dispatcher(
                journal, recorder.route(owner), clock=SystemClock(), ownership=ownership
            ) as dispatcher,
            open_cluster_intake(
                journal, dispatcher, keeper, ownership, dsn=TEST_DSN, schema=schema, interval=0.05
            ) as intake,
        ):
            yield Daemon(
                owner=owner, keeper=keeper, journal=journal, dispatcher=dispatcher, intake=intake
            )


async def until(condition: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Wait for `condition` (another task's intake, on its own timer), polling to a deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def settle(*daemons: Daemon) -> None:
    for _ in range(3):
        for d in daemons:
            await d.keeper.heartbeat()


def keys_in(partitions: frozenset[int], n: int) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < n:
        key = f"project:P-{i}"
        if partition_of(key) in partitions:
            found.append(key)
        i += 1
    return found


async def test_each_entry_is_delivered_once_by_its_partitions_daemon(schema: str) -> None:
    recorder, clock = Recorder(), FakeClock()
    async with daemon(schema, "a", recorder, clock) as a, daemon(schema, "b", recorder, clock) as b:
        await settle(a, b)
        assert len(a.keeper.partitions()) == len(b.keeper.partitions()) == PARTITIONS // 2
        sent = [envelope(f"e{i}", key=f"project:P-{i % 40}", n=i) for i in range(200)]
        for i in range(0, 200, 20):  # half journaled by each daemon
            await (a if i % 40 else b).dispatcher.accept_many(sent[i : i + 20])
        await until(lambda: len(recorder.deliveries) >= 200)
        await a.dispatcher.wait_idle()
        await b.dispatcher.wait_idle()
        assert sorted(k for _, k in recorder.deliveries) == sorted(e.idempotency_key for e in sent)
        for owner, idem in recorder.deliveries:
            key = next(e.key for e in sent if e.idempotency_key == idem)
            held = (a if owner == "a" else b).keeper.partitions()
            assert partition_of(key) in held


async def test_per_key_order_holds_across_daemons(schema: str) -> None:
    recorder, clock = Recorder(), FakeClock()
    async with daemon(schema, "a", recorder, clock) as a, daemon(schema, "b", recorder, clock) as b:
        await settle(a, b)
        [key] = keys_in(b.keeper.partitions(), 1)
        sent = [envelope(f"o{i}", key=key, n=i) for i in range(30)]
        for e in sent:  # journaled one by one by "a", delivered by "b"
            await a.dispatcher.accept(e)
        await until(lambda: len(recorder.deliveries) >= 30)
        assert recorder.deliveries == [("b", e.idempotency_key) for e in sent]


async def test_a_dead_daemons_open_entries_are_taken_over(schema: str) -> None:
    recorder, clock = Recorder(), FakeClock()
    async with daemon(schema, "b", recorder, clock) as b, daemon(schema, "a", recorder, clock) as a:
        await settle(a, b)
        keys = keys_in(a.keeper.partitions(), 5)
        recorder.gate.clear()  # a's deliveries hang: in flight when it "dies"
        stranded = [envelope(f"s{i}", key=k) for i, k in enumerate(keys)]
        await a.dispatcher.accept_many(stranded)
        await recorder.waiting.wait()
        # a dies without handing over: its leases lapse on the database
        await _expire(schema, "a")
        await b.keeper.heartbeat()
        assert b.keeper.partitions() == frozenset(range(PARTITIONS))
        await until(lambda: b.intake.taken_over >= 5)
        a.dispatcher.cancel_deliveries()
        recorder.gate.set()
        await until(
            lambda: (
                {k for o, k in recorder.deliveries if o == "b"}
                >= {e.idempotency_key for e in stranded}
            )
        )
        await b.dispatcher.wait_idle()
        assert b.dispatcher.statistics().fenced == 0


async def test_a_paused_daemons_late_marks_are_refused(schema: str) -> None:
    recorder, clock = Recorder(), FakeClock()
    async with daemon(schema, "a", recorder, clock) as a, daemon(schema, "b", recorder, clock) as b:
        await settle(a, b)
        [key] = keys_in(a.keeper.partitions(), 1)
        recorder.gate.clear()
        late = envelope("late", key=key)
        await a.dispatcher.accept(late)
        await recorder.waiting.wait()
        # "a" is paused past its lease: "b" takes its partitions over and delivers the entry
        await clock.advance(6.0)
        await _expire(schema, "a")
        await b.keeper.heartbeat()
        recorder.gate.set()
        await until(lambda: ("b", "late") in recorder.deliveries)
        await a.dispatcher.wait_idle()
        await b.dispatcher.wait_idle()
        assert a.dispatcher.statistics().fenced == 1
        entry = await b.journal.get(late.id)
        assert entry is not None
        assert entry.state is EntryState.DONE


async def _expire(schema: str, owner: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": schema})
    try:
        await conn.execute("UPDATE leases SET expires_at = 0 WHERE owner = $1", owner)
        await conn.execute("UPDATE members SET seen_at = 0 WHERE daemon = $1", owner)
    finally:
        await conn.close()
