"""The connector conformance scenarios that a real trytond can play, against the real server.

Run here: credentials that expire (the session is logged out at the server) and are replaced
by one login; ``search_read`` pages to the last one; a list create with one invalid record
(trytond undoes the whole list, the connector finds the bad one item by item and commits the
rest); and a write whose first attempt committed but whose answer was lost, retried into one
record by the lookup. The last is played without fault injection: the first attempt's effect
is committed by a direct call, then the command runs as its retry would.

Not run here (sandbox only, tests/systems): the limit answer with ``Retry-After`` (trytond's
only 429 comes from its login throttle and carries no ``Retry-After``), the outage that opens
the breaker, and answers dropped on the wire — a real server cannot be told to fail on cue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mediator.systems.tryton import CreateRecord, RecordRef
from mediator.testing import conformance as suite
from mediator.testing.tryton_server import TrytonServer
from tests.systems.harness_tryton import record_ids

from .conftest import INSTALL_TIMEOUT
from .connector_harness import RealTrytonHarness, open_real_harness

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.fixture
async def harness(tryton_server: TrytonServer, tag: str) -> AsyncIterator[RealTrytonHarness]:
    async with open_real_harness(tryton_server, tag) as found:
        yield found


async def test_credentials_that_expire_are_refreshed_once(harness: RealTrytonHarness) -> None:
    await suite.credentials_that_expire_are_refreshed_once(harness)


async def test_pagination_reads_to_the_last_page(harness: RealTrytonHarness) -> None:
    await suite.pagination_reads_to_the_last_page(harness)


async def test_bulk_write_reports_the_bad_item_and_commits_the_rest(
    harness: RealTrytonHarness,
) -> None:
    await suite.bulk_write_reports_the_bad_item_and_commits_the_rest(harness)
    # the bad one is trytond's own domain check on the duration
    (bad,) = await harness.connector.execute_batch([harness.write("bulk-3", valid=False)])
    assert "Duration" in str(bad)


async def test_a_write_committed_before_its_answer_was_lost_is_found_not_repeated(
    harness: RealTrytonHarness,
) -> None:
    command = harness.write("lost")
    assert isinstance(command, CreateRecord)
    values = {**command.values, "description": command.reference}
    (committed,) = record_ids(await harness.connector.call("model.timesheet.line.create", [values]))

    (retried,) = await harness.connector.execute_batch([command])

    assert retried == RecordRef(
        model="timesheet.line", id=committed, reference=command.reference, existed=True
    )
    assert await harness.count_written("lost") == 1


async def test_queued_creates_are_one_list_create(harness: RealTrytonHarness) -> None:
    before = harness.connector.statistics()
    results = await harness.connector.execute_batch([harness.write(f"q-{i}") for i in range(7)])

    assert all(isinstance(r, RecordRef) and not r.existed for r in results)
    after = harness.connector.statistics()
    assert (after.batches - before.batches, after.batched_commands - before.batched_commands) == (
        1,
        7,
    )
