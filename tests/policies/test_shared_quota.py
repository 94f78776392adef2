"""A daily allowance counted for the whole cluster: what one daemon spends, the others see.

The quota counts by the caller's wall clock (a `FakeClock` here), so these tests drive the
rolling window's expiry without waiting.
"""

from __future__ import annotations

import asyncio

import pytest

from mediator.errors import QuotaExhausted
from mediator.policies import (
    LimitHint,
    PolicyRegistry,
    QuotaBudget,
    RollingPeriod,
    SharedBudgets,
    default_policy_config,
)
from mediator.testing import FakeClock
from tests.policies.shared_support import open_daemon, open_tables

SHARES = {"cash_application": 1.0, "posting": 0.9, "backfill": 0.5}


def quota_of(budgets: SharedBudgets, clock: FakeClock, *, allowance: int = 100) -> QuotaBudget:
    return QuotaBudget(
        "salesforce",
        allowance=allowance,
        clock=clock,
        period=RollingPeriod(window=3600.0),
        stop_at=SHARES,
        shared=budgets.quota("quota/salesforce_daily@salesforce"),
    )


async def test_what_one_daemon_spends_the_other_cannot() -> None:
    clock = FakeClock()
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        first, second = quota_of(a, clock), quota_of(b, clock)
        for _ in range(30):
            await first.acquire(priority="backfill")
        for _ in range(20):
            await second.acquire(priority="backfill")
        with pytest.raises(QuotaExhausted) as caught:
            await second.acquire(priority="backfill")  # 50 of 100 spent by the two together
        assert caught.value.priority == "backfill"
        await second.acquire(priority="posting")  # a higher share goes on
        stats = second.statistics()
        assert (stats.used, stats.spent, stats.refused) == (51, 21, 1)


async def test_daemons_spending_at_once_spend_the_allowance_exactly() -> None:
    clock = FakeClock()
    async with (
        open_tables() as schema,
        open_daemon(schema) as a,
        open_daemon(schema) as b,
        open_daemon(schema) as c,
    ):
        quotas = [quota_of(x, clock, allowance=40) for x in (a, b, c)]
        spent = refused = 0

        async def spend(quota: QuotaBudget) -> None:
            nonlocal spent, refused
            for _ in range(20):
                try:
                    await quota.acquire(priority="cash_application")
                    spent += 1
                except QuotaExhausted:
                    refused += 1

        async with asyncio.TaskGroup() as tg:
            for quota in quotas:
                for _ in range(3):
                    tg.create_task(spend(quota))
        assert (spent, refused) == (40, 180 - 40)


async def test_the_cluster_usage_ages_out_of_a_rolling_window() -> None:
    clock = FakeClock()
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        first, second = quota_of(a, clock, allowance=10), quota_of(b, clock, allowance=10)
        for _ in range(10):
            await first.acquire(priority="cash_application")
        with pytest.raises(QuotaExhausted):
            await second.acquire(priority="cash_application")
        await clock.advance(3600.0 + 60.0)
        await second.acquire(priority="cash_application")
        assert second.statistics().used == 1


async def test_the_servers_count_is_not_counted_twice_for_the_cluster() -> None:
    clock = FakeClock()
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        first, second = quota_of(a, clock), quota_of(b, clock)
        for _ in range(10):
            await first.acquire()
        await second.acquire()
        # the server counts both daemons' 11 calls and 4 of another application's
        second.observe(LimitHint(usage_used=15, usage_max=100))
        assert second.statistics().used == 15
        assert second.available(priority="backfill") == 35


async def test_a_registry_built_with_shared_budgets_shares_its_quotas() -> None:
    clock = FakeClock()
    config = default_policy_config()
    async with open_tables() as schema, open_daemon(schema) as a, open_daemon(schema) as b:
        one = PolicyRegistry(config, clock=clock, shared=a).resolve("salesforce")
        two = PolicyRegistry(config, clock=clock, shared=b).resolve("salesforce")
        assert one.quota is not None
        assert two.quota is not None
        await one.admit(priority="posting")
        await two.admit(priority="posting")
        assert two.quota.statistics().used == 2
