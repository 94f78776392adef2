"""The conformance suite: every connector, against its sandbox, passes the same scenarios.

Harnesses (one per connector) live beside this file as `harness_<system>.py` and expose an
async context manager `open_harness()`; `conftest.py` parametrizes the `harness` fixture over
every one that exists.
"""

from __future__ import annotations

from mediator.errors import CircuitOpen, MediatorError
from mediator.policies import BreakerState
from mediator.sandbox.faults import FaultPlan, Outage
from mediator.testing.conformance import ConnectorHarness, execute
from tests.systems.clocked import drive


async def test_credentials_that_expire_are_refreshed_once(harness: ConnectorHarness) -> None:
    (first,) = await drive(harness.clock, execute(harness, [harness.write("auth-1")]))
    assert not isinstance(first, BaseException), first
    before = harness.logins()
    await harness.expire_credentials()
    (second,) = await drive(harness.clock, execute(harness, [harness.write("auth-2")]))
    assert not isinstance(second, BaseException), second
    assert harness.logins() == before + 1
    assert await harness.count_written("auth-2") == 1


async def test_pagination_reads_to_the_last_page(harness: ConnectorHarness) -> None:
    ids = await harness.seed_readable(harness.page_size * 2 + 3)
    read = await drive(harness.clock, harness.read_all())
    assert isinstance(read, list | tuple)
    assert sorted(read) == sorted(ids)


async def test_limit_answer_with_retry_after_is_waited_out(harness: ConnectorHarness) -> None:
    harness.install_faults(FaultPlan(storm=1, retry_after=3.0))
    start = harness.clock.monotonic()
    (result,) = await drive(harness.clock, execute(harness, [harness.write("limited")]))
    assert not isinstance(result, BaseException), result
    assert harness.clock.monotonic() - start >= 3.0
    assert await harness.count_written("limited") == 1


async def test_outage_opens_the_breaker_and_recovery_closes_it(harness: ConnectorHarness) -> None:
    harness.install_faults(FaultPlan(outages=(Outage(start=0.0, end=36_000.0),)))
    refused = None
    for i in range(40):
        (result,) = await drive(harness.clock, execute(harness, [harness.write(f"outage-{i}")]))
        assert isinstance(result, MediatorError), result
        if isinstance(result, CircuitOpen):
            refused = result
            break
    assert refused is not None, "the breaker never opened during the outage"
    await harness.clock.advance(36_600.0)
    (after,) = await drive(harness.clock, execute(harness, [harness.write("recovered")]))
    assert not isinstance(after, BaseException), after
    states = {b.state for b in harness.connector.statistics().policies.breakers}
    assert states == {BreakerState.CLOSED}


async def test_lost_response_after_commit_is_retried_into_one_record(
    harness: ConnectorHarness,
) -> None:
    harness.install_faults(FaultPlan(drop_next=1))
    (result,) = await drive(harness.clock, execute(harness, [harness.write("dropped")]))
    if isinstance(result, BaseException):  # the journal's retry: the same command again
        (result,) = await drive(harness.clock, execute(harness, [harness.write("dropped")]))
    assert not isinstance(result, BaseException), result
    assert await harness.count_written("dropped") == 1


async def test_bulk_write_reports_the_bad_item_and_commits_the_rest(
    harness: ConnectorHarness,
) -> None:
    commands = [harness.write(f"bulk-{i}", valid=i != 3) for i in range(6)]
    results = await drive(harness.clock, execute(harness, commands))
    assert isinstance(results, list | tuple)
    assert len(results) == 6
    assert isinstance(results[3], MediatorError)
    for i, result in enumerate(results):
        if i != 3:
            assert not isinstance(result, BaseException), (i, result)
            assert await harness.count_written(f"bulk-{i}") == 1
    assert await harness.count_written("bulk-3") == 0
