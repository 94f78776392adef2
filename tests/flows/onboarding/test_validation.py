"""Deals that break the rules: every broken rule listed, nothing made anywhere but the note in
the CRM, and a corrected deal (or account) that runs again by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediator.journal import DeadLetterFilter, Entry
from mediator.runtime import Mediator
from tests.flows.onboarding.support import (
    World,
    account_changed,
    open_world,
    saga_of,
    top_level_deal,
)

pytestmark = pytest.mark.slow  # four sandboxes, a journal and the whole runtime per test

Change = tuple[str, dict[str, object]]  # "Opportunity" | "Account" | "Contract", new values

BREAKS: dict[str, tuple[list[Change], str]] = {
    "legal entity": ([("Opportunity", {"Legal_Entity__c": "Someone Else LLC"})], "legal entity:"),
    "no legal entity": ([("Opportunity", {"Legal_Entity__c": None})], "legal entity: missing"),
    "service line": ([("Opportunity", {"Service_Line__c": "Astrology"})], "service line:"),
    "delivery region": (
        [("Opportunity", {"Delivery_Region__c": "Antarctica"})],
        "delivery region:",
    ),
    "billing model": ([("Opportunity", {"Billing_Model__c": "Barter"})], "billing model:"),
    "retainer interval": (
        [("Opportunity", {"Billing_Model__c": "Retainer", "Retainer_Interval__c": None})],
        "retainer interval:",
    ),
    "currency": ([("Opportunity", {"CurrencyIsoCode": "JPY"})], "currency: JPY"),
    "payment terms": ([("Opportunity", {"Payment_Terms_Days__c": 120})], "payment terms: 120"),
    "no payment terms": (
        [("Opportunity", {"Payment_Terms_Days__c": None})],
        "payment terms: missing",
    ),
    "amount": ([("Opportunity", {"Amount": 0})], "amount:"),
    "no contract": ([("Opportunity", {"ContractId": None})], "contract: the opportunity has none"),
    "contract start": ([("Contract", {"StartDate": None})], "contract: no start date"),
    "staffing role": (
        [("Opportunity", {"Staffing__c": "someone@firm.example=Astronaut"})],
        "staffing: someone@firm.example is staffed as 'Astronaut'",
    ),
    "nobody staffed": ([("Opportunity", {"Staffing__c": None})], "staffing: nobody"),
    "no account": ([("Opportunity", {"AccountId": None})], "account: the opportunity has none"),
    "billing address": ([("Account", {"BillingStreet": None})], "billing address:"),
    "tax profile": ([("Account", {"BillingCountryCode": "JP"})], "tax profile: none"),
    "tax id": (
        [("Account", {"BillingCountryCode": "DE", "Tax_Id__c": None})],
        "tax id: a client in DE needs one",
    ),
    "tax id shape": (
        [("Account", {"BillingCountryCode": "DE", "Tax_Id__c": "DE12"})],
        "tax id: 'DE12' is not a de_vat id",
    ),
}
# every rule at once, one change per rule that does not hide the others
ALL_AT_ONCE = [
    "legal entity",
    "service line",
    "delivery region",
    "billing model",
    "payment terms",
    "amount",
    "contract start",
    "staffing role",
    "billing address",
    "tax id",
]


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(tmp_path, monkeypatch) as found:
        yield found


def apply(world: World, opportunity: str, changes: list[Change]) -> None:
    record = world.salesforce.get("Opportunity", opportunity)
    ids = {
        "Opportunity": opportunity,
        "Account": record["AccountId"],
        "Contract": record["ContractId"],
    }
    for sobject, values in changes:
        world.salesforce.update(sobject, ids[sobject], values)


async def rejected(mediator: Mediator, world: World, opportunity: str) -> str:
    return (await rejection(mediator, world, opportunity)).reason or ""


async def rejection(mediator: Mediator, world: World, opportunity: str) -> Entry:
    await mediator.accept(world.envelope(opportunity))
    await mediator.wait_idle()
    [dead] = await mediator.dead_letters(DeadLetterFilter(entity=f"opportunity:{opportunity}"))
    assert dead.error_class == "DealRejected"
    assert dead.reason is not None
    return dead


async def closed_by_the_flow(mediator: Mediator, dead: Entry) -> None:
    """The rejection's dead letter was released by the flow once the deal passed."""
    assert await mediator.dead_letters(DeadLetterFilter()) == []
    closed = await mediator.journal.get(dead.id)
    assert closed is not None
    assert closed.released_by == "flow:onboarding"
    assert "now passes the rules" in str(closed.release_reason)


@pytest.mark.parametrize("rule", sorted(BREAKS))
async def test_a_deal_breaking_one_rule_is_rejected_for_it_with_nothing_made(
    world: World, rule: str
) -> None:
    opportunity = top_level_deal(world)
    changes, expected = BREAKS[rule]
    apply(world, opportunity, changes)
    async with world.mediator() as mediator:
        reason = await rejected(mediator, world, opportunity)
        assert expected in reason
        assert reason.count(";") == 0, reason  # that rule alone
        saga = await saga_of(mediator, opportunity)
        assert saga.status == "rejected"
        assert expected in saga.note
        assert not saga.done
    assert world.downstream_calls() == 0
    status = world.salesforce.get("Opportunity", opportunity)["Sync_Status__c"]
    assert status.startswith("Rejected: ")
    assert expected[:40] in status


async def test_a_deal_breaking_every_rule_lists_them_all(world: World) -> None:
    opportunity = top_level_deal(world)
    for rule in ALL_AT_ONCE:
        apply(world, opportunity, BREAKS[rule][0])
    async with world.mediator() as mediator:
        reason = await rejected(mediator, world, opportunity)
    for rule in ALL_AT_ONCE:
        assert BREAKS[rule][1] in reason, rule
    assert reason.count(";") == len(ALL_AT_ONCE) - 1
    assert world.downstream_calls() == 0
    status = world.salesforce.get("Opportunity", opportunity)["Sync_Status__c"]
    assert len(status) <= 255
    assert status.startswith("Rejected: legal entity:")


async def test_a_corrected_opportunity_runs_again_by_itself(world: World) -> None:
    opportunity = top_level_deal(world)
    apply(world, opportunity, BREAKS["payment terms"][0])
    async with world.mediator() as mediator:
        dead = await rejection(mediator, world, opportunity)
        apply(world, opportunity, [("Opportunity", {"Payment_Terms_Days__c": 45})])
        await mediator.accept(world.envelope(opportunity))  # its new version, polled
        await mediator.wait_idle()
        saga = await saga_of(mediator, opportunity)
        assert saga.status == "done", saga.note
        await closed_by_the_flow(mediator, dead)
    record = world.salesforce.get("Opportunity", opportunity)
    assert record["Sync_Status__c"] == "Onboarded"
    assert world.downstream_calls() > 0


async def test_a_corrected_account_reruns_the_deals_it_rejected(world: World) -> None:
    opportunity = top_level_deal(world)
    apply(world, opportunity, BREAKS["billing address"][0])
    account = world.salesforce.get("Opportunity", opportunity)["AccountId"]
    async with world.mediator() as mediator:
        dead = await rejection(mediator, world, opportunity)
        apply(world, opportunity, [("Account", {"BillingStreet": "1 Main Street"})])
        await mediator.accept(account_changed(world, account))
        await mediator.wait_idle()
        saga = await saga_of(mediator, opportunity)
        assert saga.status == "done", saga.note
        await closed_by_the_flow(mediator, dead)
        # an account change that concerns no waiting or rejected deal rechecks nothing
        before = mediator.statistics().dispatcher.delivered
        world.salesforce.update("Account", account, {"Phone": "555-0100"})
        await mediator.accept(account_changed(world, account))
        await mediator.wait_idle()
        assert mediator.statistics().dispatcher.delivered == before + 2  # change + a no-op
    assert world.salesforce.get("Account", account)["Sync_Status__c"] == "Onboarded"


async def test_a_deal_rejected_again_keeps_one_open_rejection(world: World) -> None:
    opportunity = top_level_deal(world)
    apply(world, opportunity, BREAKS["billing address"][0])
    account = world.salesforce.get("Opportunity", opportunity)["AccountId"]
    async with world.mediator() as mediator:
        first = await rejection(mediator, world, opportunity)
        world.salesforce.update("Account", account, {"Phone": "555-0100"})  # not the fix
        await mediator.accept(account_changed(world, account))
        await mediator.wait_idle()
        [dead] = await mediator.dead_letters(DeadLetterFilter())
        assert dead.id != first.id
        assert dead.reason == first.reason
        assert (await saga_of(mediator, opportunity)).status == "rejected"
    assert world.downstream_calls() == 0
