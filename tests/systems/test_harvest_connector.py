"""The Harvest connector against the Harvest sandbox over loopback HTTP."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from mediator.errors import AuthenticationFailed, RemoteRejected
from mediator.sandbox.faults import FaultPlan
from mediator.systems.harvest import (
    AssignTask,
    AssignUser,
    CreateClient,
    CreateProject,
    HarvestWritten,
    UpdateProject,
)
from mediator.testing import drive
from tests.systems.harness_harvest import ACCOUNT, HarvestHarness, open_harness


@pytest.fixture
async def harness() -> AsyncIterator[HarvestHarness]:
    async with open_harness() as found:
        yield found


def written(result: object) -> HarvestWritten:
    assert isinstance(result, HarvestWritten), result
    return result


async def test_every_call_carries_the_three_headers(harness: HarvestHarness) -> None:
    (result,) = await harness.connector.execute_batch([harness.write("k1")])
    written(result)
    requests = list(harness.sandbox.requests)
    assert [r.method for r in requests] == ["GET", "POST"]  # look-up, then create
    for request in requests:
        assert request.header("Authorization") == "Bearer first-token"
        assert request.header("Harvest-Account-Id") == str(ACCOUNT)
        assert request.header("User-Agent") == "mediator tests (ops@example.com)"


async def test_lists_are_followed_through_links_next_to_the_end(harness: HarvestHarness) -> None:
    seeded = await harness.seed_readable(12)
    read = await harness.connector.approved_time_entries()
    assert sorted(str(e.id) for e in read.records) == sorted(seeded)
    gets = harness.sandbox.requests.matching("GET", "/v2/time_entries")
    assert len(gets) == 3  # pages of 5, 5 and 2
    assert "per_page=5" in gets[0].query
    assert "approval_status=approved" in gets[0].query
    assert all("ref=next_cursor" in g.query and "cursor=" in g.query for g in gets[1:])


async def test_approved_entries_are_read_again_only_from_the_watermark(
    harness: HarvestHarness,
) -> None:
    store = harness.sandbox.store
    old = await harness.seed_readable(3)
    pending = store.create("time_entries", {**harness._entry(), "notes": "not approved yet"})
    first = await harness.connector.approved_time_entries()
    assert sorted(str(e.id) for e in first.records) == sorted(old)
    assert first.watermark is not None

    await harness.clock.advance(60.0)
    harness.sandbox.approve("time_entries", [int(str(pending["id"]))])
    newer = await harness.connector.approved_time_entries(since=first.watermark)
    assert str(pending["id"]) in {str(e.id) for e in newer.records}
    assert newer.watermark is not None
    assert newer.watermark > first.watermark
    last = harness.sandbox.requests.matching("GET", "/v2/time_entries")[-1]
    assert "updated_since=" in last.query

    await harness.clock.advance(60.0)
    idle = await harness.connector.approved_time_entries(since=newer.watermark)
    # updated_since includes its bound: only the newest entry comes back, and the mark stays
    assert [str(e.id) for e in idle.records] == [str(pending["id"])]
    assert idle.watermark == newer.watermark


async def test_approved_expenses_are_read(harness: HarvestHarness) -> None:
    store = harness.sandbox.store
    category = store.create("expense_categories", {"name": "Travel"})
    base = {
        "project_id": harness.ids["project"],
        "user_id": harness.ids["user"],
        "expense_category_id": category["id"],
        "spent_date": "2026-11-03",
    }
    approved = store.create("expenses", {**base, "total_cost": 120.5})
    store.create("expenses", {**base, "total_cost": 80.0})
    harness.sandbox.approve("expenses", [int(str(approved["id"]))])
    read = await harness.connector.approved_expenses()
    (expense,) = read.records
    assert (str(expense.id), expense.total_cost) == (str(approved["id"]), Decimal("120.5"))


async def test_set_up_writes_find_what_exists_instead_of_creating_it_twice(
    harness: HarvestHarness,
) -> None:
    connector, ids = harness.connector, harness.ids
    client_fields: dict[str, object] = {"name": "Globex", "currency": "USD"}
    first = await drive(
        harness.clock,
        connector.execute_batch(
            [
                CreateClient(idempotency_key="c1", fields=client_fields),
                CreateProject(
                    idempotency_key="p1",
                    client_id=ids["client"],
                    fields={"name": "Audit", "code": "P-1", "is_billable": True},
                ),
                AssignUser(
                    idempotency_key="u1",
                    project_id=ids["project"],
                    fields={"user_id": ids["user"], "hourly_rate": Decimal("100")},
                ),
                AssignTask(
                    idempotency_key="t1",
                    project_id=ids["project"],
                    fields={"task_id": ids["task"], "billable": True},
                ),
            ]
        ),
    )
    made = [written(r) for r in first]
    assert [w.created for w in made] == [True, True, False, False]  # the seed assigned both
    again = await drive(
        harness.clock,
        connector.execute_batch(
            [
                CreateClient(idempotency_key="c1", fields={**client_fields, "name": "GLOBEX"}),
                CreateProject(
                    idempotency_key="p1",
                    client_id=ids["client"],
                    fields={"name": "Audit (renamed)", "code": "P-1", "is_billable": True},
                ),
                AssignUser(
                    idempotency_key="u2",
                    project_id=ids["project"],
                    fields={"user_id": ids["user"], "hourly_rate": Decimal("120")},
                ),
            ]
        ),
    )
    assert [(w.id, w.created) for w in map(written, again)] == [(w.id, False) for w in made[:3]]
    tables = harness.sandbox.store.tables
    assert len(tables["clients"]) == 2  # the seed's and Globex
    assert len(tables["projects"]) == 2
    (assignment,) = tables["user_assignments"].values()
    assert assignment["hourly_rate"] == 120  # the second write updated the rate


async def test_a_project_update_sets_absolute_values_and_a_repeat_changes_nothing(
    harness: HarvestHarness,
) -> None:
    connector, project = harness.connector, harness.ids["project"]
    update = UpdateProject(
        idempotency_key="co1",
        project_id=project,
        fields={"budget_by": "project_cost", "cost_budget": Decimal("12500.50")},
    )
    for _ in range(2):
        (result,) = await drive(harness.clock, connector.execute_batch([update]))
        assert written(result) == HarvestWritten(id=project, created=False)
        read = await drive(harness.clock, connector.project(project))
        assert (read.budget_by, read.cost_budget) == ("project_cost", Decimal("12500.5"))
    (missing,) = await drive(
        harness.clock,
        connector.execute_batch([UpdateProject(idempotency_key="co2", project_id=1, fields={})]),
    )
    assert isinstance(missing, RemoteRejected)
    assert missing.status == 404
    (task,) = await drive(harness.clock, connector.task_assignments(project))
    assert task.task.id == harness.ids["task"]


def _seed_dropping_only_the_second_request() -> int:
    # FaultInjector draws one number per request from Random(seed) when drop_rate is set; find
    # a seed that answers the look-up, drops the create, and answers the ones after it. The
    # test checks on the recorded requests that this is what happened.
    for seed in range(10_000):
        rng = random.Random(seed)
        draws = [rng.random() for _ in range(6)]
        if draws[1] < 0.5 and all(d >= 0.5 for d in draws[:1] + draws[2:]):
            return seed
    raise AssertionError("no such seed")


async def test_a_create_whose_answer_was_lost_is_found_on_the_retry(
    harness: HarvestHarness,
) -> None:
    harness.install_faults(FaultPlan(drop_rate=0.5, seed=_seed_dropping_only_the_second_request()))
    (result,) = await drive(harness.clock, harness.connector.execute_batch([harness.write("k")]))
    assert not written(result).created  # the retry found what the lost answer had created
    requests = [(r.method, r.dropped) for r in harness.sandbox.requests]
    assert requests == [("GET", False), ("POST", True), ("GET", False)]
    assert await harness.count_written("k") == 1


async def test_429_with_retry_after_is_waited_out_through_the_shared_limiter() -> None:
    async with open_harness(rate_limit=3) as harness:
        commands = [harness.write(f"k{i}") for i in range(5)]
        start = harness.clock.monotonic()
        results = await drive(harness.clock, harness.connector.execute_batch(commands))
        assert all(written(r).created for r in results)
        assert harness.clock.monotonic() - start >= 15.0
        refused = [r for r in harness.sandbox.requests if r.status == 429]
        assert refused
        (limiter,) = harness.connector.statistics().policies.limiters
        assert limiter.server_pauses >= 1
        for i in range(5):
            assert await harness.count_written(f"k{i}") == 1


async def test_an_invalid_entry_is_rejected_alone(harness: HarvestHarness) -> None:
    results = await harness.connector.execute_batch(
        [harness.write("good"), harness.write("bad", valid=False)]
    )
    written(results[0])
    assert isinstance(results[1], RemoteRejected)
    assert results[1].status == 422
    assert "Hours" in results[1].detail


async def test_a_revoked_token_with_no_successor_fails_authentication(
    harness: HarvestHarness,
) -> None:
    (first,) = await harness.connector.execute_batch([harness.write("a")])
    written(first)
    harness.sandbox.tokens.clear()
    (result,) = await harness.connector.execute_batch([harness.write("b")])
    assert isinstance(result, AuthenticationFailed)
    assert "first-token" not in str(result)
    assert harness.credential_loads() == 2  # loaded once, then once more after the 401
