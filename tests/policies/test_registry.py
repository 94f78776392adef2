"""Live policy sets as a connector uses them: shared instances and outcomes fed back."""

import asyncio
import random

import msgspec
import pytest

from mediator.errors import (
    BulkheadFull,
    CircuitOpen,
    PostingWindowClosed,
    QuotaExhausted,
    RateLimited,
)
from mediator.policies import (
    BreakerState,
    PolicyRegistry,
    QuotaSnapshot,
    Verdict,
    default_policy_config,
    parse_policy_config,
)
from mediator.testing import FakeClock
from mediator.testing.error_codes import register_vendor_error_codes

SMALL = """
[policies.quotas.sf]
allowance = 10
default_priority = "posting"
[policies.quotas.sf.stop_at]
posting = 1.0
backfill = 0.5

[policies.breakers.default]
consecutive_failures = 2
open_for = 5.0

[policies.windows.weekdays]
zone = "UTC"
weekdays = ["mon", "tue", "wed", "thu", "fri"]

[[policies.approvals.big]]
name = "big"
amount_at_least = 1000

[[targets]]
system = "salesforce"
quota = "sf"

[[targets]]
system = "tryton"
endpoint = "post"
window = "weekdays"
approval = "big"
"""


def _registry(clock: FakeClock, text: str | None = None) -> PolicyRegistry:
    config = (
        parse_policy_config(text, base=default_policy_config()) if text else default_policy_config()
    )
    registry = PolicyRegistry(config, clock=clock, random=random.Random(7).random)
    return register_vendor_error_codes(registry)  # as the connectors do


async def test_every_endpoint_of_a_system_shares_one_limiter() -> None:
    registry = _registry(FakeClock())
    clients = registry.resolve("harvest", "/v2/clients")
    entries = registry.resolve("harvest", "/v2/time_entries")
    reports = registry.resolve("harvest", "/v2/reports/time/clients")
    assert clients.limiter is entries.limiter
    assert reports.limiter is not clients.limiter
    assert clients.breaker is reports.breaker
    assert registry.resolve("harvest", "/v2/clients") is clients


async def test_admit_spends_quota_and_waits_for_rate_tokens() -> None:
    clock = FakeClock()
    stripe = _registry(clock).resolve("stripe", "/v1/invoices")
    assert stripe.limiter is not None
    burst, rate = stripe.limiter.statistics().burst, stripe.limiter.rate
    for _ in range(int(burst)):
        assert await stripe.admit() == 0.0
    task = asyncio.create_task(stripe.admit())
    await clock.wait_for_timers()
    await clock.advance(1 / rate)
    assert await task == pytest.approx(1 / rate)


async def test_quota_refusal_names_the_priority_and_low_priority_stops_first() -> None:
    clock = FakeClock()
    sf = _registry(clock, SMALL).resolve("salesforce", "/services/data/v61.0/sobjects/Account")
    for _ in range(5):
        await sf.admit(priority="backfill")
    with pytest.raises(QuotaExhausted) as caught:
        await sf.admit(priority="backfill")
    assert caught.value.priority == "backfill"
    await sf.admit()  # posting, the default class, continues


async def test_salesforce_usage_header_and_request_limit_exceeded_feed_the_quota() -> None:
    clock = FakeClock()
    sf = _registry(clock, SMALL).resolve("salesforce")
    assert sf.quota is not None
    sf.observe(status=200, headers={"Sforce-Limit-Info": "api-usage=7/10"})
    assert sf.quota.statistics().used == 7
    outcome = sf.observe(status=403, code="REQUEST_LIMIT_EXCEEDED")
    assert outcome.verdict is Verdict.RETRY
    assert sf.quota.available(priority="posting") == 0
    assert sf.breaker is not None
    assert sf.breaker.state is BreakerState.CLOSED  # a spent allowance is not an outage


async def test_request_limit_exceeded_with_allowance_left_in_the_header_keeps_the_quota() -> None:
    # Salesforce's concurrent-request limit answers the same 403; its header shows the day unspent
    clock = FakeClock()
    sf = _registry(clock, SMALL).resolve("salesforce")
    assert sf.quota is not None
    outcome = sf.observe(
        status=403, headers={"Sforce-Limit-Info": "api-usage=7/10"}, code="REQUEST_LIMIT_EXCEEDED"
    )
    assert outcome.verdict is Verdict.RETRY
    assert sf.quota.statistics().used == 7
    assert sf.quota.available(priority="posting") == 3


async def test_a_ten_hour_retry_after_opens_the_breaker_instead_of_stalling() -> None:
    clock = FakeClock()
    harvest = _registry(clock).resolve("harvest", "/v2/time_entries")
    outcome = harvest.observe(status=429, headers={"Retry-After": "36000"})
    assert (outcome.verdict, outcome.retry_after) == (Verdict.RETRY, 36_000.0)
    assert harvest.breaker is not None
    stats = harvest.breaker.statistics()
    assert (stats.state, stats.retry_after) == (BreakerState.OPEN, 36_000.0)
    with pytest.raises(CircuitOpen):
        await harvest.admit()
    assert harvest.limiter is not None
    with pytest.raises(RateLimited):
        await harvest.limiter.acquire()
    assert harvest.limiter.statistics().over_cap == 1
    decision = harvest.decide(outcome, attempt=1)
    assert (decision.verdict, decision.deferred) == (Verdict.RETRY, True)


async def test_a_short_retry_after_only_pauses_the_limiter() -> None:
    clock = FakeClock()
    harvest = _registry(clock).resolve("harvest", "/v2/time_entries")
    harvest.observe(status=429, headers={"Retry-After": "15"})
    assert harvest.breaker is not None
    assert harvest.breaker.state is BreakerState.CLOSED
    assert harvest.limiter is not None
    task = asyncio.create_task(harvest.admit())
    await clock.wait_for_timers()
    await clock.advance(16)
    # the pause, then one token at the bucket's rate: the server's wait, not a stall
    assert await task == pytest.approx(15 + 1 / harvest.limiter.rate)


async def test_validation_errors_never_trip_but_outages_do() -> None:
    clock = FakeClock()
    tryton = _registry(clock, SMALL).resolve("tryton", "model.party.party.create")
    for _ in range(10):
        assert tryton.observe(status=200, code="UserError").verdict is Verdict.DEAD
    await tryton.admit()
    tryton.observe(error=ConnectionResetError())
    tryton.observe(status=503)
    with pytest.raises(CircuitOpen) as caught:
        await tryton.admit()
    assert caught.value.retry_after == 5.0


async def test_a_refused_admission_gives_back_its_half_open_probe() -> None:
    clock = FakeClock()
    sf = _registry(clock, SMALL).resolve("salesforce")
    assert sf.breaker is not None
    sf.breaker.force_open(1.0)
    sf.observe(status=200, headers={"Sforce-Limit-Info": "api-usage=10/10"})
    await clock.advance(1.0)
    with pytest.raises(QuotaExhausted):
        await sf.admit()
    assert sf.breaker.statistics().probes_in_flight == 0


async def test_the_bulkhead_slot_bounds_tryton_calls() -> None:
    clock = FakeClock()
    tryton = _registry(clock).resolve("tryton", "model.party.party.read")
    assert tryton.bulkhead is not None
    async with tryton.slot():
        assert tryton.bulkhead.statistics().active == 1
    async with _registry(clock).resolve("stripe").slot():
        pass  # no bulkhead: a no-op


async def test_the_priority_reaches_the_limiter_and_the_bulkhead() -> None:
    clock = FakeClock()
    registry = _registry(clock)
    stripe = registry.resolve("stripe", "/v1/invoices")
    assert stripe.limiter is not None
    await stripe.admit(priority="reconciliation")  # the bucket was full: taken at once
    waited = asyncio.create_task(stripe.admit())
    background = asyncio.create_task(stripe.admit(priority="reconciliation"))
    await clock.wait_for_timers(2)
    await clock.advance(1 / stripe.limiter.rate)
    assert waited.done()  # the live caller went first
    assert not background.done()  # the bucket must be full again
    await clock.advance(1 / stripe.limiter.rate)
    await background
    counts = stripe.limiter.statistics().admitted_by_class
    assert counts == {"default": 1, "reconciliation": 2}
    tryton = registry.resolve("tryton", "model.party.party.read")
    assert tryton.bulkhead is not None
    async with tryton.slot("reconciliation"), tryton.slot("reconciliation"):
        with pytest.raises(BulkheadFull):
            tryton.bulkhead.acquire_nowait(priority="reconciliation")
        async with tryton.slot(), tryton.slot():
            assert tryton.bulkhead.statistics().active == 4
    stats = registry.statistics()
    assert stats.bulkheads[0].admitted_by_class == {"default": 2, "reconciliation": 2}


async def test_postings_respect_the_window_and_approvals() -> None:
    clock = FakeClock(wall=1_790_000_000.0)  # a Monday
    post = _registry(clock, SMALL).resolve("tryton", "post")
    assert post.check_posting(kind="customer_invoice", amount=999, currency="EUR") is None
    assert post.check_posting(kind="customer_invoice", amount=1000, currency="EUR") is not None
    await clock.advance(5 * 86_400)  # Saturday
    with pytest.raises(PostingWindowClosed):
        post.check_posting(kind="customer_invoice", amount=1, currency="EUR")


async def test_quota_state_survives_a_restart_through_its_encoded_snapshot() -> None:
    clock = FakeClock()
    before = _registry(clock, SMALL)
    for _ in range(3):
        await before.resolve("salesforce").admit()
    saved = msgspec.json.encode(before.quota_snapshots())

    after = _registry(clock, SMALL)
    after.restore_quotas(msgspec.json.decode(saved, type=dict[str, QuotaSnapshot]))
    quota = after.resolve("salesforce").quota
    assert quota is not None
    assert quota.statistics().used == 3
    stats = after.statistics()
    assert [q.used for q in stats.quotas] == [3]
    assert stats.limiters == ()
