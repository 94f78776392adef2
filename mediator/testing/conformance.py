"""The connector conformance suite: the scenarios every connector passes, and its harness.

Every connector passes the same scenarios (`SCENARIOS`, run by tests/systems) against its
sandbox, and the Tryton connector also against a real trytond: credentials that expire and
are refreshed, pagination to the last page, the system's own limit answer with
``Retry-After``, an outage that opens the breaker and a recovery that closes it, a write whose
response is lost after commit (retried: exactly one record), and a bulk write with one bad
item. A harness adapts one connector and one running system to these scenarios; a team adding
a fifth system implements one and runs every scenario on it (README: "Adding a system"). Each
scenario is an async function of the harness that raises `AssertionError` when it falls short.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mediator.errors import CircuitOpen, MediatorError
from mediator.policies import BreakerState
from mediator.sandbox.faults import FaultPlan, Outage
from mediator.systems import Command, Connector
from mediator.testing.clock import FakeClock, drive

__all__ = [
    "SCENARIOS",
    "ConnectorHarness",
    "bulk_write_reports_the_bad_item_and_commits_the_rest",
    "credentials_that_expire_are_refreshed_once",
    "execute",
    "limit_answer_with_retry_after_is_waited_out",
    "lost_response_after_commit_is_retried_into_one_record",
    "outage_opens_the_breaker_and_recovery_closes_it",
    "pagination_reads_to_the_last_page",
]


class ConnectorHarness(Protocol):
    """One connector wired to one running system, with the controls the scenarios need.

    The connector and the sandbox share `clock` (a `FakeClock`), so waits (Retry-After,
    backoff, breaker open time, outage windows) pass when the scenario advances it.
    """

    system: str
    clock: FakeClock

    @property
    def connector(self) -> Connector:
        """The connector under test (read-only here, so a harness may hold a subclass)."""
        ...

    #: Records per page the harness reads with (small, so pagination is exercised).
    page_size: int

    def install_faults(self, plan: FaultPlan) -> None:
        """Install `plan` on the system (outage windows count from now on `clock`)."""
        ...

    async def expire_credentials(self) -> None:
        """Make the connector's current token or session invalid at the system."""
        ...

    def credential_loads(self) -> int:
        """How many times the connector loaded its credential (`Connector.credential_loads`)."""
        ...

    async def seed_readable(self, count: int) -> Sequence[str]:
        """Create `count` records the connector can list; return their ids."""
        ...

    async def read_all(self) -> Sequence[str]:
        """List every seeded record through the connector (all pages); return their ids."""
        ...

    def write(self, key: str, *, valid: bool = True) -> Command:
        """A create/upsert command whose idempotency key is `key`; `valid=False` makes one the
        system rejects as invalid (a validation error, not a system failure)."""
        ...

    async def count_written(self, key: str) -> int:
        """How many records exist at the system for the write with idempotency key `key`."""
        ...


async def execute(harness: ConnectorHarness, commands: Sequence[Command]) -> Sequence[object]:
    """Run `commands` through the harness's connector as one batch."""
    return await harness.connector.execute_batch(commands)


async def credentials_that_expire_are_refreshed_once(harness: ConnectorHarness) -> None:
    """A token or session the system expires is replaced by exactly one new login."""
    (first,) = await drive(harness.clock, execute(harness, [harness.write("auth-1")]))
    assert not isinstance(first, BaseException), first
    before = harness.credential_loads()
    await harness.expire_credentials()
    (second,) = await drive(harness.clock, execute(harness, [harness.write("auth-2")]))
    assert not isinstance(second, BaseException), second
    assert harness.credential_loads() == before + 1
    assert await harness.count_written("auth-2") == 1


async def pagination_reads_to_the_last_page(harness: ConnectorHarness) -> None:
    """A listing longer than two pages is read whole, each record once."""
    ids = await harness.seed_readable(harness.page_size * 2 + 3)
    read = await drive(harness.clock, harness.read_all())
    assert isinstance(read, list | tuple)
    assert sorted(read) == sorted(ids)


async def limit_answer_with_retry_after_is_waited_out(harness: ConnectorHarness) -> None:
    """The system's own limit answer is waited out for its `Retry-After`, then succeeds."""
    harness.install_faults(FaultPlan(storm=1, retry_after=3.0))
    start = harness.clock.monotonic()
    (result,) = await drive(harness.clock, execute(harness, [harness.write("limited")]))
    assert not isinstance(result, BaseException), result
    assert harness.clock.monotonic() - start >= 3.0
    assert await harness.count_written("limited") == 1


async def outage_opens_the_breaker_and_recovery_closes_it(harness: ConnectorHarness) -> None:
    """A long outage opens the circuit breaker; after it, a call succeeds and it closes."""
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


async def lost_response_after_commit_is_retried_into_one_record(
    harness: ConnectorHarness,
) -> None:
    """A write whose answer is lost after it committed ends as exactly one record."""
    harness.install_faults(FaultPlan(drop_next=1))
    (result,) = await drive(harness.clock, execute(harness, [harness.write("dropped")]))
    if isinstance(result, BaseException):  # the journal's retry: the same command again
        (result,) = await drive(harness.clock, execute(harness, [harness.write("dropped")]))
    assert not isinstance(result, BaseException), result
    assert await harness.count_written("dropped") == 1


async def bulk_write_reports_the_bad_item_and_commits_the_rest(
    harness: ConnectorHarness,
) -> None:
    """One invalid item of a bulk write is that item's error; the others are committed."""
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


SCENARIOS = (
    credentials_that_expire_are_refreshed_once,
    pagination_reads_to_the_last_page,
    limit_answer_with_retry_after_is_waited_out,
    outage_opens_the_breaker_and_recovery_closes_it,
    lost_response_after_commit_is_retried_into_one_record,
    bulk_write_reports_the_bad_item_and_commits_the_rest,
)
"""Every scenario, in the order a failing connector usually fails them."""
