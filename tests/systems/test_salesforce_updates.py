"""`UpdateRecord` through sObject Collections PATCH, against the Salesforce sandbox over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest

from mediator.actors import open_supervisor
from mediator.errors import RemoteRejected
from mediator.systems import SystemActor
from mediator.systems.salesforce import UpdateRecord, Upserted, UpsertRecord
from tests.systems.harness_salesforce import SalesforceHarness, open_harness

UPDATES = "/services/data/v61.0/composite/sobjects"


@pytest.fixture
async def harness() -> AsyncIterator[SalesforceHarness]:
    async with open_harness() as found:
        yield found


def opportunities(harness: SalesforceHarness, count: int) -> list[str]:
    store = harness.sandbox.store
    account = store.create("Account", {"Name": "Acme"})
    return [
        store.create(
            "Opportunity",
            {
                "Name": f"Deal {i}",
                "AccountId": account,
                "StageName": "Closed Won",
                "CloseDate": "2026-11-01",
            },
        )
        for i in range(count)
    ]


def write_back(record_id: str, status: str, **extra: object) -> UpdateRecord:
    return UpdateRecord(
        idempotency_key=f"writeback:{record_id}:{status}",
        sobject="Opportunity",
        id=record_id,
        fields={"Sync_Status__c": status, **extra},
    )


async def test_updates_of_one_object_go_in_one_call_and_each_bad_record_fails_alone(
    harness: SalesforceHarness,
) -> None:
    ids = opportunities(harness, 4)
    commands = [
        write_back(ids[0], "Onboarded", ERP_Project_Id__c="42", PSA_Project_Id__c="7"),
        write_back(ids[1], "Onboarded", Nope=1),  # no such field on Opportunity
        write_back(ids[2], "Onboarded", StageName="Not A Stage"),
        write_back(ids[3], "Rejected: no tax profile"),
    ]
    results = await harness.connector.execute_batch(commands)
    assert results[0] == Upserted(id=ids[0], created=False)
    assert results[3] == Upserted(id=ids[3], created=False)
    assert isinstance(results[1], RemoteRejected)
    assert (results[1].status, results[1].code) == (400, "INVALID_FIELD")
    assert "record 1" in str(results[1])
    assert isinstance(results[2], RemoteRejected)
    assert results[2].code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    (call,) = harness.sandbox.requests.matching("PATCH", UPDATES)
    body = msgspec.json.decode(call.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "Sync_Status__c": "Onboarded",
        "ERP_Project_Id__c": "42",
        "PSA_Project_Id__c": "7",
        "attributes": {"type": "Opportunity"},
        "id": ids[0],
    }
    store = harness.sandbox.store
    first = store.get("Opportunity", ids[0])
    assert (first["Sync_Status__c"], first["ERP_Project_Id__c"]) == ("Onboarded", "42")
    assert store.get("Opportunity", ids[3])["Sync_Status__c"] == "Rejected: no tax profile"
    assert "Sync_Status__c" not in store.get("Opportunity", ids[1])  # its item refused whole
    assert "Sync_Status__c" not in store.get("Opportunity", ids[2])


async def test_an_update_of_a_record_that_is_not_there_is_that_items_error(
    harness: SalesforceHarness,
) -> None:
    (real,) = opportunities(harness, 1)
    harness.sandbox.store.delete("Opportunity", real)
    gone = await harness.connector.execute_batch([write_back(real, "Onboarded")])
    assert isinstance(gone[0], RemoteRejected)
    assert gone[0].code == "ENTITY_IS_DELETED"


async def test_updates_split_at_200_records_and_at_a_repeated_id(
    harness: SalesforceHarness,
) -> None:
    ids = opportunities(harness, 203)
    commands = [write_back(i, "Onboarded") for i in ids]
    commands.append(write_back(ids[0], "Onboarded again"))
    results = await harness.connector.execute_batch(commands)
    assert results == [Upserted(id=i, created=False) for i in [*ids, ids[0]]]
    calls = harness.sandbox.requests.matching("PATCH", UPDATES)
    assert [len(msgspec.json.decode(c.body)["records"]) for c in calls] == [200, 4]
    assert harness.sandbox.store.get("Opportunity", ids[0])["Sync_Status__c"] == "Onboarded again"

    twice = [write_back(ids[1], "One"), write_back(ids[1], "Two")]
    assert len(await harness.connector.execute_batch(twice)) == 2
    assert len(harness.sandbox.requests.matching("PATCH", UPDATES)) == 4  # the repeat waits
    assert harness.sandbox.store.get("Opportunity", ids[1])["Sync_Status__c"] == "Two"


async def test_updates_and_upserts_in_one_batch_each_take_their_own_resource(
    harness: SalesforceHarness,
) -> None:
    (deal,) = opportunities(harness, 1)
    results = await harness.connector.execute_batch(
        [
            write_back(deal, "Onboarded"),
            UpsertRecord(idempotency_key="acme-2", sobject="Account", fields={"Name": "Acme 2"}),
            UpdateRecord(
                idempotency_key="account-status",
                sobject="Account",
                id=str(harness.sandbox.store.records("Account")[0]["Id"]),
                fields={"Sync_Status__c": "Onboarded"},
            ),
        ]
    )
    assert [type(r) for r in results] == [Upserted, Upserted, Upserted]
    assert isinstance(results[1], Upserted)
    assert results[1].created
    paths = [r.path for r in harness.sandbox.requests.matching("PATCH", UPDATES)]
    # the updates: one call per object; the upsert: its own resource
    assert sorted(paths) == [UPDATES, UPDATES, UPDATES + "/Account/External_Id__c"]


async def test_a_system_actor_coalesces_queued_updates_into_collection_calls(
    harness: SalesforceHarness,
) -> None:
    ids = opportunities(harness, 30)
    async with open_supervisor() as supervisor:
        ref = supervisor.spawn(lambda: SystemActor(harness.connector), name="salesforce")
        asks = [asyncio.create_task(ref.ask(write_back(i, "Onboarded"))) for i in ids]
        done = await asyncio.gather(*asks)
    assert done == [Upserted(id=i, created=False) for i in ids]
    assert len(harness.sandbox.requests.matching("PATCH", UPDATES)) <= 2


async def test_a_misspelt_custom_field_is_refused_for_its_record_in_a_strict_org(
    harness: SalesforceHarness,
) -> None:
    harness.sandbox.store.strict_custom_fields = True  # an org knows only its own fields
    first, second = opportunities(harness, 2)
    results = await harness.connector.execute_batch(
        [
            UpdateRecord(
                idempotency_key="typo",
                sobject="Opportunity",
                id=first,
                fields={"Sync_Satus__c": "Onboarded"},
            ),
            write_back(second, "Onboarded"),
        ]
    )
    assert isinstance(results[0], RemoteRejected)
    assert (results[0].status, results[0].code) == (400, "INVALID_FIELD")
    assert "No such column 'Sync_Satus__c' on sobject of type Opportunity" in str(results[0])
    assert results[1] == Upserted(id=second, created=False)
    assert harness.sandbox.store.get("Opportunity", second)["Sync_Status__c"] == "Onboarded"
