"""The Salesforce connector against the Salesforce sandbox over loopback HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from mediator.actors import open_supervisor
from mediator.errors import AuthenticationFailed, QuotaExhausted, RemoteRejected
from mediator.sandbox.faults import FaultPlan
from mediator.systems import SystemActor
from mediator.systems.salesforce import Upserted, UpsertRecord
from mediator.testing import drive
from tests.systems.harness_salesforce import SalesforceHarness, open_harness

COLLECTIONS = "/services/data/v61.0/composite/sobjects/Account/External_Id__c"


@pytest.fixture
async def harness() -> AsyncIterator[SalesforceHarness]:
    async with open_harness() as found:
        yield found


def upsert(key: str, name: str | None) -> UpsertRecord:
    return UpsertRecord(idempotency_key=key, sobject="Account", fields={"Name": name})


async def test_won_opportunities_are_read_to_the_last_page_then_only_what_changed(
    harness: SalesforceHarness,
) -> None:
    store, clock = harness.sandbox.store, harness.clock
    account = store.create("Account", {"Name": "Acme"})
    won = []
    for i in range(12):
        stage = "Closed Won" if i % 3 else "Prospecting"
        values = {"Name": f"Deal {i}", "AccountId": account, "StageName": stage}
        won += [store.create("Opportunity", {**values, "CloseDate": "2026-11-01"})] * (i % 3 > 0)
        await clock.advance(1.0)
    first = await harness.connector.won_opportunities()
    assert [o.Id for o in first.records] == won  # 8 records, pages of 5
    assert all(o.IsWon and o.StageName == "Closed Won" for o in first.records)
    assert first.watermark == first.records[-1].SystemModstamp
    queries = harness.sandbox.requests.matching("GET", "/services/data/v61.0/query")
    assert len(queries) == 2
    assert queries[1].path.startswith("/services/data/v61.0/query/01g")  # nextRecordsUrl

    await clock.advance(60.0)
    store.update("Opportunity", won[0], {"Description": "renewed"})
    late = store.create(
        "Opportunity",
        {
            "Name": "Late",
            "AccountId": account,
            "StageName": "Prospecting",
            "CloseDate": "2026-12-01",
        },
    )
    await clock.advance(1.0)
    store.update("Opportunity", late, {"StageName": "Closed Won"})
    newer = await harness.connector.won_opportunities(since=first.watermark)
    # Inclusive: the record at the old watermark comes again (the journal drops it by key).
    assert [o.Id for o in newer.records] == [won[-1], won[0], late]
    assert newer.watermark is not None
    assert first.watermark is not None
    assert newer.watermark > first.watermark
    idle = await harness.connector.won_opportunities(since=newer.watermark)
    assert ([o.Id for o in idle.records], idle.watermark) == ([late], newer.watermark)


async def test_milestones_are_read_with_their_amounts(harness: SalesforceHarness) -> None:
    store = harness.sandbox.store
    account = store.create("Account", {"Name": "Acme"})
    deal = store.create(
        "Opportunity",
        {
            "Name": "Deal",
            "AccountId": account,
            "StageName": "Closed Won",
            "CloseDate": "2026-11-01",
        },
    )
    made = store.create(
        "Milestone__c",
        {"Name": "Design", "Opportunity__c": deal, "Amount__c": 12500.5, "Status__c": "Approved"},
    )
    read = await harness.connector.milestones()
    (milestone,) = read.records
    assert (milestone.Id, milestone.Opportunity__c) == (made, deal)
    assert (milestone.Amount__c, milestone.Status__c) == (Decimal("12500.5"), "Approved")


async def test_one_collection_call_commits_the_good_records_and_reports_each_bad_one(
    harness: SalesforceHarness,
) -> None:
    commands = [
        upsert("a", "Alpha"),
        upsert("b", None),
        UpsertRecord(idempotency_key="c", sobject="Account", fields={"Name": "C", "Nope": 1}),
        upsert("d", "Delta"),
    ]
    results = await harness.connector.execute_batch(commands)
    assert isinstance(results[0], Upserted)
    assert results[0].created
    assert isinstance(results[3], Upserted)
    assert results[3].created
    assert isinstance(results[1], RemoteRejected)
    assert (results[1].status, results[1].code) == (400, "REQUIRED_FIELD_MISSING")
    assert isinstance(results[2], RemoteRejected)
    assert results[2].code == "INVALID_FIELD"
    assert len(harness.sandbox.requests.matching("PATCH", COLLECTIONS)) == 1
    names = {r["Name"] for r in harness.sandbox.store.records("Account")}
    assert names == {"Alpha", "Delta"}
    stats = harness.connector.statistics()
    assert (stats.batches, stats.batched_commands, stats.average_batch) == (1, 4, 4.0)


async def test_an_upsert_repeated_with_its_key_updates_the_record_it_created(
    harness: SalesforceHarness,
) -> None:
    (made,) = await harness.connector.execute_batch([upsert("acme", "Acme")])
    (again,) = await harness.connector.execute_batch([upsert("acme", "Acme Ltd")])
    assert isinstance(made, Upserted)
    assert isinstance(again, Upserted)
    assert (made.created, again.created, again.id) == (True, False, made.id)
    (record,) = harness.sandbox.store.records("Account")
    assert (record["Name"], record["External_Id__c"]) == ("Acme Ltd", "acme")


async def test_batches_split_at_200_records_and_at_a_repeated_key(
    harness: SalesforceHarness,
) -> None:
    commands = [upsert(f"k{i}", f"Client {i}") for i in range(203)]
    commands.append(upsert("k0", "Client 0 renamed"))
    results = await harness.connector.execute_batch(commands)
    assert all(isinstance(r, Upserted) for r in results)
    calls = harness.sandbox.requests.matching("PATCH", COLLECTIONS)
    assert len(calls) == 2  # 200, then 3 + the repeated k0 (not in that second call's keys)
    (first,) = harness.sandbox.store.find_by("Account", "External_Id__c", "k0")
    assert first["Name"] == "Client 0 renamed"
    assert len(harness.sandbox.store.records("Account")) == 203

    results = await harness.connector.execute_batch([upsert("x", "One"), upsert("x", "Two")])
    assert [r.created for r in results if isinstance(r, Upserted)] == [True, False]
    assert len(harness.sandbox.requests.matching("PATCH", COLLECTIONS)) == 4


async def test_an_expired_session_is_replaced_once_and_the_call_made_again(
    harness: SalesforceHarness,
) -> None:
    assert harness.logins() == 1
    await harness.clock.advance(harness.sandbox.token_ttl)
    (result,) = await harness.connector.execute_batch([upsert("late", "Late")])
    assert isinstance(result, Upserted)
    assert harness.logins() == 2
    statuses = [r.status for r in harness.sandbox.requests.matching("PATCH", COLLECTIONS)]
    assert statuses == [401, 200]


async def test_refused_client_credentials_fail_without_showing_the_secret() -> None:
    async with open_harness(client_secret="not-the-secret") as harness:
        (result,) = await harness.connector.execute_batch([upsert("a", "A")])
    assert isinstance(result, AuthenticationFailed)
    assert "invalid_client" in str(result)
    assert "not-the-secret" not in str(result) + repr(result.args)


async def test_a_limit_refusal_below_the_allowance_pauses_and_keeps_the_quota(
    harness: SalesforceHarness,
) -> None:
    harness.install_faults(FaultPlan(storm=1))
    start = harness.clock.monotonic()
    (result,) = await drive(harness.clock, harness.connector.execute_batch([upsert("a", "A")]))
    assert isinstance(result, Upserted)
    assert harness.clock.monotonic() - start == pytest.approx(harness.connector.limit_pause)
    (quota,) = harness.connector.statistics().policies.quotas
    assert quota.used < 10
    assert quota.left > 99_000


async def test_a_spent_daily_allowance_defers_writes_to_the_journal() -> None:
    async with open_harness(daily_api_requests=3) as harness:
        results = []
        for i in range(4):
            batch = harness.connector.execute_batch([upsert(f"k{i}", "A")])
            (result,) = await drive(harness.clock, batch)
            results.append(result)
        assert isinstance(results[0], Upserted)
        refused = results[-1]
        assert isinstance(refused, QuotaExhausted)
        assert refused.resets_at > harness.clock.time() + 60.0
        assert harness.sandbox.api_usage() <= 3


async def test_a_system_actor_coalesces_queued_upserts_into_collection_calls(
    harness: SalesforceHarness,
) -> None:
    async with open_supervisor() as supervisor:
        ref = supervisor.spawn(lambda: SystemActor(harness.connector), name="salesforce")
        asks = [
            asyncio.create_task(ref.ask(upsert(f"k{i}", None if i == 7 else f"Client {i}")))
            for i in range(30)
        ]
        done = await asyncio.gather(*asks, return_exceptions=True)
    assert isinstance(done[7], RemoteRejected)
    assert all(isinstance(r, Upserted) for i, r in enumerate(done) if i != 7)
    calls = harness.sandbox.requests.matching("PATCH", COLLECTIONS)
    assert len(calls) <= 2  # the first ask may go alone; the rest queue into one collection
    assert harness.connector.statistics().batched_commands == 30
