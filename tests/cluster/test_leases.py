"""LeaseKeeper on PostgreSQL: sharing, takeover after expiry, rebalancing, fencing, handing over.

Heartbeats are driven one round at a time (`run=False`); time passing on the database is
simulated by ageing rows (a lease's `expires_at`, a member's `seen_at`) and on the daemon by
a `FakeClock`, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest

from mediator.cluster import PARTITIONS
from mediator.cluster.leases import LeaseChange, LeaseKeeper, open_lease_keeper
from mediator.testing import FakeClock
from mediator.testing.postgres import TEST_DSN


@contextlib.asynccontextmanager
async def keeper(
    schema: str, owner: str, clock: FakeClock, singletons: tuple[str, ...] = ()
) -> AsyncIterator[LeaseKeeper]:
    async with open_lease_keeper(
        TEST_DSN, schema=schema, owner=owner, clock=clock, run=False, singletons=singletons
    ) as k:
        yield k


async def settle(*keepers: LeaseKeeper, rounds: int = 3) -> None:
    for _ in range(rounds):
        for k in keepers:
            await k.heartbeat()


async def stop_renewing(db: asyncpg.Connection, owner: str) -> None:
    """What a SIGKILL looks like to the others once lease_ttl has passed."""
    await db.execute("UPDATE leases SET expires_at = 0 WHERE owner = $1", owner)
    await db.execute("UPDATE members SET seen_at = 0 WHERE daemon = $1", owner)


async def test_a_lone_daemon_holds_every_partition(schema: str) -> None:
    async with keeper(schema, "a", FakeClock()) as a:
        assert a.partitions() == frozenset(range(PARTITIONS))
        assert all(e >= 1 for e in a.epochs())


async def test_two_daemons_share_the_partitions_evenly(schema: str, db: asyncpg.Connection) -> None:
    clock = FakeClock()
    async with keeper(schema, "a", clock) as a, keeper(schema, "b", clock) as b:
        await settle(a, b)
        assert len(a.partitions()) == len(b.partitions()) == PARTITIONS // 2
        assert a.partitions() | b.partitions() == frozenset(range(PARTITIONS))
        owners = await db.fetch("SELECT owner, count(*) AS n FROM leases GROUP BY owner")
        assert {r["owner"]: r["n"] for r in owners} == {"a": 128, "b": 128}


async def test_the_survivor_takes_over_expired_leases_with_a_higher_epoch(
    schema: str, db: asyncpg.Connection
) -> None:
    clock = FakeClock()
    async with keeper(schema, "a", clock) as a, keeper(schema, "b", clock) as b:
        await settle(a, b)
        a_epochs = a.epochs()
        gained: list[LeaseChange] = []
        b.subscribe(gained.append)
        await stop_renewing(db, "a")
        await b.heartbeat()
        assert b.partitions() == frozenset(range(PARTITIONS))
        taken = {p for p, e in enumerate(a_epochs) if e >= 0}
        assert set(gained[0].gained) == taken
        assert all(b.epochs()[p] > a_epochs[p] for p in taken)


async def test_a_daemon_that_cannot_renew_stops_using_its_leases_in_time(schema: str) -> None:
    clock = FakeClock()
    lost: list[LeaseChange] = []
    async with keeper(schema, "a", clock) as a:
        a.subscribe(lost.append)
        await clock.advance(6.0 - 1.0)  # lease_ttl minus the margin, no renew in between
        assert a.epochs() == [-1] * PARTITIONS
        assert a.partitions() == frozenset()
        await a.heartbeat()
        assert lost[0].lost == frozenset(range(PARTITIONS))


async def test_a_stale_epoch_is_fenced(schema: str, db: asyncpg.Connection) -> None:
    clock = FakeClock()
    async with keeper(schema, "a", clock) as a, keeper(schema, "b", clock) as b:
        await settle(a, b)
        mine = sorted(a.partitions())
        changes: list[LeaseChange] = []
        a.subscribe(changes.append)
        # "a" is paused past its lease: the database lets it go, "b" takes it over...
        await stop_renewing(db, "a")
        await b.heartbeat()
        # ...and "a" wakes before its own clock noticed: its renew is refused
        await db.execute(
            "UPDATE members SET seen_at = extract(epoch from clock_timestamp()) WHERE daemon = 'a'"
        )
        await a.heartbeat()
        assert set(mine) <= changes[0].lost
        assert all(a.epochs()[p] == -1 for p in mine)
        row = await db.fetchrow("SELECT owner FROM leases WHERE name = $1", f"partition/{mine[0]}")
        assert row is not None
        assert row["owner"] == "b"


async def test_a_third_daemon_joins_and_each_holds_a_third(schema: str) -> None:
    clock = FakeClock()
    async with keeper(schema, "a", clock) as a, keeper(schema, "b", clock) as b:
        await settle(a, b)
        async with keeper(schema, "c", clock) as c:
            await settle(a, b, c)
            sizes = sorted(len(k.partitions()) for k in (a, b, c))
            assert sum(sizes) == PARTITIONS
            assert sizes[0] >= 84
            assert sizes[-1] <= 86
            assert not (a.partitions() & b.partitions() | a.partitions() & c.partitions())


async def test_leaving_hands_over_at_once(schema: str) -> None:
    clock = FakeClock()
    async with keeper(schema, "b", clock) as b:
        async with keeper(schema, "a", clock) as a:
            await settle(a, b)
            assert len(b.partitions()) == 128
        await b.heartbeat()
        assert b.partitions() == frozenset(range(PARTITIONS))


async def test_a_partition_in_use_is_handed_over_once_idle(schema: str) -> None:
    clock = FakeClock()
    async with keeper(schema, "a", clock) as a:
        busy = {255}
        a.in_use = lambda partitions: busy & partitions
        lost: list[LeaseChange] = []
        a.subscribe(lost.append)
        async with keeper(schema, "b", clock) as b:
            await a.heartbeat()
            assert 255 in lost[0].lost
            assert 255 not in a.partitions()
            assert a.epochs()[255] >= 1  # still fenced-valid: its delivery may mark
            await b.heartbeat()
            assert 255 not in b.partitions()
            busy.clear()
            await settle(a, b)
            assert 255 in a.partitions() | b.partitions()
            assert len(a.partitions()) == len(b.partitions()) == 128


async def test_singletons_are_spread_across_daemons(schema: str) -> None:
    clock = FakeClock()
    names = ("poll:a", "poll:b", "close", "reconciliation")
    async with (
        keeper(schema, "a", clock, names) as a,
        keeper(schema, "b", clock, names) as b,
    ):
        await settle(a, b)
        held_a = {n for n in names if a.holds_singleton(n)}
        held_b = {n for n in names if b.holds_singleton(n)}
        assert len(held_a) == len(held_b) == 2
        assert not held_a & held_b
        assert sorted(a.statistics().singletons) == sorted(held_a)


async def test_bad_settings_are_refused_by_name(schema: str) -> None:
    with pytest.raises(ValueError, match="renew_every"):
        async with open_lease_keeper(
            TEST_DSN, schema=schema, owner="a", lease_ttl=2.0, renew_every=2.0
        ):
            pass
    with pytest.raises(ValueError, match="schema"):
        async with open_lease_keeper(TEST_DSN, schema="x; drop", owner="a"):
            pass


async def test_a_beat_failed_by_a_deadlock_beats_again_at_once(schema: str) -> None:
    # A renewal can close a cycle with the journal's transaction, which reads this daemon's
    # lease rows FOR SHARE; PostgreSQL fails one side. The keeper must not wait a whole
    # `renew_every` (a minute here) nearer expiry before it renews again.
    async with open_lease_keeper(
        TEST_DSN, schema=schema, owner="a", clock=FakeClock(), run=False,
        lease_ttl=120.0, renew_every=60.0,
    ) as a:  # fmt: skip
        again = asyncio.Event()
        calls = 0

        async def beat() -> LeaseChange:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise asyncpg.DeadlockDetectedError("deadlock detected")
            again.set()
            await asyncio.Event().wait()  # (the test ends here)
            raise AssertionError("unreachable")

        a.heartbeat = beat  # type: ignore[method-assign]  # one beat failed, then watched
        running = asyncio.ensure_future(a.run())
        try:
            async with asyncio.timeout(5):
                await again.wait()
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        assert calls == 2
        assert a.statistics().failures == 0  # a deadlock retried is no failure
