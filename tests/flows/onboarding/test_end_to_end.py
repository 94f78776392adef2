"""A generated firm's won deals, onboarded through a `Mediator` into the four sandboxes."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediator.flows.kinds import opportunity_key
from mediator.flows.onboarding import CLIENT_FLOW, FLOW, load_billing_terms, project_id_of
from mediator.flows.rate_history import load_rates
from mediator.flows.saga import Saga
from mediator.journal import DeadLetterFilter
from tests.flows.onboarding.support import World, open_world, rows

pytestmark = pytest.mark.slow  # four sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(tmp_path, monkeypatch) as found:
        yield found


async def test_every_won_deal_makes_each_client_and_project_once_everywhere(world: World) -> None:
    won = world.won()
    assert len(won) >= 4
    async with world.mediator() as mediator:
        for opportunity in won:
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        assert await mediator.dead_letters(DeadLetterFilter()) == []
        journal = mediator.journal
        accounts = sorted({world.deal(o).account_id or "" for o in won})
        for opportunity in won:
            saga = Saga(journal, FLOW, opportunity_key(opportunity))
            state = await saga.load()
            assert state.status == "done", (opportunity, state.note)
            deal = world.deal(opportunity)
            project = project_id_of(deal)
            for system in ("salesforce", "tryton", "harvest"):
                assert await journal.xref_to("project", project, system) is not None
            rates = await load_rates(journal, project)
            assert rates is not None
            assert set(rates.staffing.values()) == {line.role for line in deal.staffing}
            terms = await load_billing_terms(journal, project)
            assert terms is not None
            assert terms.days_until_due == 30
            client_terms = await journal.load_flow("billing.terms", deal.account_id or "")
            assert client_terms is not None
            assert client_terms.state == b"30"  # where the billing flow reads them
            if terms.billing_model == "retainer":
                assert terms.period_fee is not None
                assert terms.period_fee.amount * 12 == terms.amount.amount
            record = world.salesforce.get("Opportunity", opportunity)
            assert record["Sync_Status__c"] == "Onboarded"
            assert record["ERP_Project_Id__c"] == state.output("erp_project", "id")
            assert record["PSA_Project_Id__c"] == state.output("psa_project", "id")
        for account in accounts:
            ids = {x.system: x.system_id for x in await journal.xref_all("client", account)}
            assert set(ids) == {"salesforce", "tryton", "harvest", "stripe"}
            client = await Saga(journal, CLIENT_FLOW, f"account:{account}").load()
            assert client.status == "done"
            record = world.salesforce.get("Account", account)
            assert record["Sync_Status__c"] == "Onboarded"
            assert record["ERP_Party_Id__c"] == ids["tryton"]
            assert record["PSA_Client_Id__c"] == ids["harvest"]
            assert record["Billing_Customer_Id__c"] == ids["stripe"]
    boxes = world.boxes
    parties = Counter(p["code"] for p in rows(boxes, "tryton", "party.party"))
    assert all(parties[account] == 1 for account in accounts)
    # each party's invoice address is in the ERP's record of the account's country
    countries = {c["id"]: c["code"] for c in rows(boxes, "tryton", "country.country")}
    party_ids = {
        p["id"]: p["code"] for p in rows(boxes, "tryton", "party.party") if p["code"] in accounts
    }
    for address in rows(boxes, "tryton", "party.address"):
        if address["party"] in party_ids:
            account = world.salesforce.get("Account", party_ids[address["party"]])
            assert countries[address["country"]] == account["BillingCountryCode"]
            assert address["invoice"]
    identified = {i["party"] for i in rows(boxes, "tryton", "party.identifier")}
    assert set(party_ids) <= identified
    works = Counter(w["name"] for w in rows(boxes, "tryton", "project.work"))
    assert len(works) == len(won)
    assert set(works.values()) == {1}
    assert Counter(c["name"] for c in rows(boxes, "harvest", "clients")).most_common(1)[0][1] == 1
    assert len(rows(boxes, "harvest", "clients")) == len(accounts)
    codes = Counter(p["code"] for p in rows(boxes, "harvest", "projects"))
    assert sorted(codes) == sorted(project_id_of(world.deal(o)) for o in won)
    assert set(codes.values()) == {1}
    customers = Counter(
        c["metadata"]["mediator_client"] for c in rows(boxes, "stripe", "customers")
    )
    assert sorted(customers) == [f"salesforce:{a}" for a in accounts]
    assert set(customers.values()) == {1}
    staffed = sum(len(world.deal(o).staffing) for o in won)
    assert len(rows(boxes, "harvest", "user_assignments")) == staffed
    # the write-backs went out as sObject Collections calls, never one record at a time
    assert boxes.salesforce is not None
    patches = boxes.salesforce.requests.matching("PATCH", "/services/data/v61.0/composite/sobjects")
    assert patches
    assert not boxes.salesforce.requests.matching("PATCH", "/services/data/v61.0/sobjects/")


async def test_the_crm_pollers_feed_the_flow_and_a_second_poll_changes_nothing(
    world: World,
) -> None:
    won = world.won()
    async with world.mediator(pollers=True) as mediator:
        for poller in mediator.pollers:
            await poller.wait_polls(1)
        await mediator.wait_idle()
        for opportunity in won:
            state = await Saga(mediator.journal, FLOW, opportunity_key(opportunity)).load()
            assert state.status == "done", (opportunity, state.note)
        made = world.downstream_calls()
        for name in ("salesforce_accounts", "salesforce_contracts"):
            await mediator.poll(name)  # the write-backs changed the accounts: polled again
        await mediator.wait_idle()
        assert world.downstream_calls() == made
    assert len(rows(world.boxes, "tryton", "project.work")) == len(won)


async def test_two_accounts_of_one_name_are_two_clients_in_the_psa(world: World) -> None:
    # Harvest keeps client names unique and is searched by name: namesakes must not merge
    won = world.won()
    accounts = sorted({world.deal(o).account_id or "" for o in won})
    first, second = accounts[:2]
    name = world.salesforce.get("Account", first)["Name"]
    world.salesforce.update("Account", second, {"Name": name})
    async with world.mediator() as mediator:
        for opportunity in won:
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        assert await mediator.dead_letters(DeadLetterFilter()) == []
        clients = {
            account: await mediator.journal.xref_to("client", account, "harvest")
            for account in (first, second)
        }
    ids = {account: found.system_id for account, found in clients.items() if found is not None}
    assert len(set(ids.values())) == 2  # two PSA clients, each the xref of its own account
    names = {str(c["id"]): c["name"] for c in rows(world.boxes, "harvest", "clients")}
    assert sorted(names[ids[a]] for a in (first, second)) == sorted(
        [f"{name} ({first})", f"{name} ({second})"]
    )
