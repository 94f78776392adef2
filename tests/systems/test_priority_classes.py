"""Reads in the ``reconciliation`` class beside live writes, on the sandboxes over loopback.

The sandboxes enforce the vendors' limits (Harvest 100 requests / 15 s, Stripe 25 / s) on the
same fake clock as the connectors' policies. `_drive` advances that clock only while no request
is on its way to the sandbox, so every request arrives at the virtual moment it was admitted:
a 429 would then be the limiter's fault, not the test's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from mediator.policies import BulkheadStatistics, RateLimiterStatistics
from mediator.sandbox.base import Sandbox
from mediator.systems.connector import Connector
from mediator.systems.harvest import HarvestWritten
from mediator.testing import FakeClock
from mediator.testing.clock import drive
from tests.systems import harness_harvest, harness_stripe, harness_tryton

BG = "reconciliation"
T = TypeVar("T")


async def _drive(clock: FakeClock, sandbox: Sandbox, connector: Connector, call: Awaitable[T]) -> T:
    def idle() -> bool:
        # a call is on its way from its admission until the sandbox recorded it, and holds
        # its bulkhead slot until its answer is read
        stats = connector.statistics()
        on_its_way = stats.transport.calls > len(sandbox.requests)
        return not on_its_way and not any(b.active for b in stats.policies.bulkheads)

    return await drive(clock, call, idle=idle)


def _limiter(connector: Connector) -> RateLimiterStatistics:
    (limiter,) = connector.statistics().policies.limiters
    return limiter


def _bulkhead(connector: Connector) -> BulkheadStatistics:
    (bulkhead,) = connector.statistics().policies.bulkheads
    return bulkhead


async def _beside(
    live: Callable[[], Awaitable[None]], background: Callable[[], Awaitable[None]], readers: int
) -> list[bool]:
    """Run `live` and `readers` copies of `background`; per background read, whether it
    ended while the live work was still going on."""
    live_done = asyncio.Event()
    ended: list[bool] = []

    async def run_live() -> None:
        await live()
        live_done.set()

    async def read(times: int) -> None:
        for _ in range(times):
            await background()
            ended.append(not live_done.is_set())

    async with asyncio.TaskGroup() as tg:
        tg.create_task(run_live())
        for _ in range(readers):
            tg.create_task(read(6))
    return ended


async def test_harvest_reconciliation_reads_are_counted_in_their_class() -> None:
    async with harness_harvest.open_harness() as harness:
        await harness.seed_readable(7)
        connector = harness.connector
        first = connector.approved_time_entries(priority=BG)
        read = await _drive(harness.clock, harness.sandbox, connector, first)
        assert len(read.records) == 7
        counts = _limiter(connector).admitted_by_class
        assert counts == {"default": 0, BG: 2}  # pages of 5 and 2

        async def more() -> None:
            await connector.users(priority=BG)
            await connector.tasks(priority=BG)
            await connector.project(harness.ids["project"], priority=BG)
            await connector.task_assignments(harness.ids["project"], priority=BG)
            await connector.approved_expenses(priority=BG)

        await _drive(harness.clock, harness.sandbox, connector, more())
        assert _limiter(harness.connector).admitted_by_class == {"default": 0, BG: 7}
        await harness.connector.users()
        assert _limiter(harness.connector).admitted_by_class == {"default": 1, BG: 7}


@pytest.mark.slow
async def test_harvest_reconciliation_flat_out_beside_live_writes_sees_no_429() -> None:
    async with harness_harvest.open_harness() as harness:
        await harness.seed_readable(20)
        connector = harness.connector
        first = connector.approved_time_entries(priority=BG)
        await _drive(harness.clock, harness.sandbox, connector, first)
        pages = _limiter(connector).admitted_by_class[BG]

        async def live() -> None:
            for batch in range(10):
                commands = [harness.write(f"k{batch}-{i}") for i in range(3)]
                results = await connector.execute_batch(commands)
                assert all(isinstance(r, HarvestWritten) and r.created for r in results)
                await harness.clock.sleep(1.0)

        async def background() -> None:
            read = await connector.approved_time_entries(priority=BG)
            assert len(read.records) == 20

        start = harness.clock.monotonic()
        ended = await _drive(
            harness.clock, harness.sandbox, connector, _beside(live, background, readers=2)
        )
        elapsed = harness.clock.monotonic() - start
        requests = list(harness.sandbox.requests)
        assert len(requests) > 150  # well past one window's 100
        assert [r for r in requests if r.status == 429] == []
        stats = _limiter(connector)
        assert stats.admitted_by_class[BG] == pages + 2 * 6 * pages
        assert stats.admitted_by_class["default"] + stats.admitted_by_class[BG] == len(requests)
        assert any(ended)  # some reads finished while the live writes went on
        assert 2 * 6 * pages <= 2 + 6.4 * 0.5 * elapsed  # within its share of the rate


@pytest.mark.slow
async def test_stripe_reconciliation_flat_out_beside_live_writes_sees_no_429() -> None:
    async with harness_stripe.open_harness() as harness:
        await harness.seed_readable(20)
        connector = harness.connector
        first = connector.list_customers(email=harness_stripe.SEED_EMAIL, priority=BG, page_size=5)
        await _drive(harness.clock, harness.sandbox, connector, first)
        assert _limiter(connector).admitted_by_class == {"default": 0, BG: 4}  # 20 = 4 x 5

        async def live() -> None:
            for batch in range(10):
                commands = [harness.write(f"k{batch}-{i}") for i in range(10)]
                results = await connector.execute_batch(commands)
                assert not [r for r in results if isinstance(r, Exception)]
                await harness.clock.sleep(0.5)

        async def background() -> None:
            customers = await connector.list_customers(
                email=harness_stripe.SEED_EMAIL, page_size=5, priority=BG
            )
            assert len(customers) == 20
            await connector.list_invoice_items(customer=harness.customer, priority=BG)

        ended = await _drive(
            harness.clock, harness.sandbox, connector, _beside(live, background, readers=3)
        )
        requests = list(harness.sandbox.requests)
        assert len(requests) > 150  # well past one second's 25
        assert [r for r in requests if r.status == 429] == []
        stats = _limiter(connector)
        reads = len([r for r in requests if r.method == "GET"])
        assert stats.admitted_by_class[BG] == reads
        assert stats.admitted_by_class["default"] == len(requests) - reads == 100
        assert any(ended)
        for key in ("k0-0", "k9-9"):
            assert await harness.count_written(key) == 1


@pytest.mark.slow
async def test_tryton_reconciliation_never_holds_the_last_slots() -> None:
    async with harness_tryton.open_harness() as harness:
        await harness.seed_readable(12)
        connector = harness.connector
        rows = await connector.search_read(
            "party.party", [["code", "like", "SEED-%"]], ["id"], page_size=5, priority=BG
        )
        assert len(rows) == 12
        assert _bulkhead(connector).admitted_by_class[BG] == 3

        async def live() -> None:
            async def writer(n: int) -> None:
                for i in range(5):
                    (result,) = await connector.execute_batch([harness.write(f"w{n}-{i}")])
                    assert not isinstance(result, Exception), result

            async with asyncio.TaskGroup() as tg:
                for n in range(4):
                    tg.create_task(writer(n))

        async def background() -> None:
            found = await connector.search_read(
                "party.party", [["code", "like", "SEED-%"]], ["id"], page_size=5, priority=BG
            )
            ids = [row["id"] for row in found]
            assert len(ids) == 12
            ints = [i for i in ids if isinstance(i, int)]
            await connector.read("party.party", ints, ["name"], priority=BG)

        await _drive(
            harness.clock, harness.sandbox, connector, _beside(live, background, readers=4)
        )
        stats = _bulkhead(connector)
        assert stats.peak_by_class == {BG: 2}  # 4 readers, floor(4 x 0.5) slots
        assert stats.peak <= stats.limit
        assert stats.rejected == 0
        assert stats.admitted_by_class[BG] == 3 + 4 * 6 * 4
        requests = list(harness.sandbox.requests)
        assert [r for r in requests if r.status == 429] == []
        for n in range(4):
            assert await harness.count_written(f"w{n}-4") == 1
