"""Quota budgets: priority shares, clean stops, resets, the server's count, and restarts."""

import asyncio
import datetime as dt

import pytest

from mediator.errors import QuotaExhausted
from mediator.policies import DailyPeriod, LimitHint, QuotaBudget, RollingPeriod
from mediator.testing import FakeClock

SHARES = {"cash_application": 1.0, "posting": 0.9, "backfill": 0.5}


def _budget(clock: FakeClock, **kwargs: object) -> QuotaBudget:
    return QuotaBudget("salesforce", allowance=100, clock=clock, stop_at=SHARES, **kwargs)  # type: ignore[arg-type]  # test helper forwards keywords


async def test_low_priority_stops_at_its_share_while_high_priority_continues() -> None:
    clock = FakeClock()
    quota = _budget(clock)
    for _ in range(50):
        quota.spend(priority="backfill")
    with pytest.raises(QuotaExhausted) as caught:
        quota.spend(priority="backfill")
    assert caught.value.priority == "backfill"
    for _ in range(40):
        quota.spend(priority="posting")
    assert not quota.try_spend(priority="posting")
    for _ in range(10):
        quota.spend(priority="cash_application")
    assert not quota.try_spend(priority="cash_application")
    stats = quota.statistics()
    assert (stats.used, stats.left, stats.refused) == (100, 0, 3)
    assert stats.left_by_priority == {"cash_application": 0, "posting": 0, "backfill": 0}
    assert stats.shares == SHARES  # the burn-down's marks on a status page


async def test_rolling_window_frees_usage_as_it_ages_out() -> None:
    clock = FakeClock()
    quota = _budget(clock, period=RollingPeriod(window=3600.0))
    quota.spend(30, priority="backfill")
    await clock.advance(600)
    quota.spend(20, priority="backfill")
    refused_at = clock.time()
    with pytest.raises(QuotaExhausted) as caught:
        quota.spend(priority="backfill")
    # the first 30 leave the window an hour (and at most a one-minute bucket) after they were spent
    assert refused_at - 600 + 3600 <= caught.value.resets_at <= refused_at - 600 + 3660
    await clock.advance(caught.value.resets_at - clock.time())
    assert quota.available(priority="backfill") == 30
    quota.spend(priority="backfill")


async def test_daily_period_resets_at_local_midnight_in_its_zone() -> None:
    # 2026-03-07 22:30 in New York (UTC-5) is 2026-03-08 03:30 UTC
    start = dt.datetime(2026, 3, 8, 3, 30, tzinfo=dt.UTC).timestamp()
    clock = FakeClock(wall=start)
    quota = _budget(clock, period=DailyPeriod(reset_at="00:00", zone="America/New_York"))
    quota.spend(50, priority="backfill")
    with pytest.raises(QuotaExhausted) as caught:
        quota.spend(priority="backfill")
    midnight = dt.datetime(2026, 3, 8, 0, 0, tzinfo=dt.UTC).timestamp() + 5 * 3600
    assert caught.value.resets_at == midnight
    await clock.advance(midnight - clock.time())
    assert quota.statistics().used == 0
    quota.spend(priority="backfill")


def test_daily_period_follows_dst_changes() -> None:
    period = DailyPeriod(reset_at="06:00", zone="Europe/Paris")
    # the night of the change to summer time (29 March 2026) has 23 hours
    sunday = dt.datetime(2026, 3, 29, 12, 0, tzinfo=dt.UTC).timestamp()
    assert period.end(sunday) - period.start(sunday) == 24 * 3600
    saturday = dt.datetime(2026, 3, 28, 12, 0, tzinfo=dt.UTC).timestamp()
    assert period.end(saturday) - period.start(saturday) == 23 * 3600


async def test_the_servers_count_includes_other_apps_and_wins() -> None:
    clock = FakeClock()
    quota = _budget(clock)
    quota.spend(5, priority="posting")
    quota.observe(LimitHint(usage_used=85, usage_max=100))
    quota.spend(5, priority="posting")
    assert quota.statistics().used == 90
    assert not quota.try_spend(priority="posting")
    quota.observe(LimitHint(usage_used=40, usage_max=200))
    assert quota.statistics().allowance == 200
    assert quota.available(priority="backfill") == 60


async def test_request_limit_exceeded_marks_the_period_spent() -> None:
    clock = FakeClock()
    quota = _budget(clock, period=RollingPeriod())
    quota.mark_exhausted()
    assert quota.available(priority="cash_application") == 0
    with pytest.raises(QuotaExhausted) as caught:
        quota.spend(priority="cash_application")
    # only the server knows when others' calls age out: look again within the hour
    assert caught.value.resets_at == clock.time() + 3600


async def test_snapshot_survives_a_restart_and_expired_usage_is_dropped() -> None:
    clock = FakeClock()
    quota = _budget(clock, period=RollingPeriod(window=3600.0))
    quota.spend(20, priority="backfill")
    await clock.advance(1800)
    quota.spend(25, priority="backfill")
    quota.observe(LimitHint(usage_used=47, usage_max=100))
    quota.spend(1, priority="backfill")
    saved = quota.snapshot()

    restarted = _budget(clock, period=RollingPeriod(window=3600.0))
    restarted.restore(saved)
    assert restarted.statistics().used == 48
    assert restarted.snapshot() == saved
    await clock.advance(2400)  # our first 20 have aged out
    assert restarted.statistics().used == 28  # 25 + 1 of ours, 2 of others


async def test_wait_available_sleeps_until_the_reset_then_spends() -> None:
    clock = FakeClock()
    quota = _budget(clock, period=RollingPeriod(window=600.0))
    quota.spend(50, priority="backfill")
    task = asyncio.create_task(quota.wait_available(priority="backfill"))
    await clock.wait_for_timers()
    assert not task.done()
    await clock.advance(660)
    assert 600 <= await task <= 660
    assert quota.statistics().used == 1


def test_unknown_priority_is_refused() -> None:
    quota = _budget(FakeClock())
    with pytest.raises(ValueError, match="unknown priority"):
        quota.spend(priority="urgent")
