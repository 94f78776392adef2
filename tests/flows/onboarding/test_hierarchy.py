"""Account hierarchies: a subsidiary's deal waits for its parent's client, and runs by itself
once the parent is onboarded, even when the parent's deal was rejected first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediator.flows.kinds import account_key
from mediator.flows.onboarding import load_links
from mediator.journal import DeadLetterFilter
from tests.flows.onboarding.support import World, open_world, rows, saga_of

pytestmark = pytest.mark.slow  # four sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(tmp_path, monkeypatch) as found:
        yield found


def family(world: World) -> tuple[str, list[str], list[str]]:
    """The parent account, its deals, and its subsidiaries' deals."""
    parents: dict[str, str] = {}
    for opportunity in world.won():
        account = world.salesforce.get("Opportunity", opportunity)["AccountId"]
        parent = world.salesforce.get("Account", account).get("ParentId")
        if parent is not None:
            parents[opportunity] = parent
    assert parents, "the firm has no subsidiary with a won deal"
    parent = sorted(parents.values())[0]
    children = sorted(o for o, p in parents.items() if p == parent)
    own = [o for o in world.won() if world.salesforce.get("Opportunity", o)["AccountId"] == parent]
    assert own, "the parent account has no won deal"
    return parent, own, children


async def test_children_wait_for_their_parent_then_run_by_themselves(world: World) -> None:
    parent, own, children = family(world)
    async with world.mediator() as mediator:
        for opportunity in children:
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        assert await mediator.dead_letters(DeadLetterFilter()) == []
        for opportunity in children:
            saga = await saga_of(mediator, opportunity)
            assert saga.status == "waiting"
            assert f"its parent account {parent} is not onboarded yet" in saga.note
            status = world.salesforce.get("Opportunity", opportunity)["Sync_Status__c"]
            assert status.startswith(f"Waiting: its parent account {parent} is not onboarded")
        links = await load_links(mediator.journal, account_key(parent))
        assert {o: links.dependents[o] for o in children} == dict.fromkeys(children, "waiting")
        assert world.downstream_calls() == 0
        for opportunity in own:
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        for opportunity in (*own, *children):
            saga = await saga_of(mediator, opportunity)
            assert saga.status == "done", (opportunity, saga.note)
        assert await mediator.dead_letters(DeadLetterFilter()) == []


async def test_parent_and_children_in_one_batch_all_end_onboarded(world: World) -> None:
    _, own, children = family(world)
    async with world.mediator() as mediator:
        for opportunity in (*children, *own):  # the subsidiaries first
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        for opportunity in (*own, *children):
            saga = await saga_of(mediator, opportunity)
            assert saga.status == "done", (opportunity, saga.note)
    codes = [p["code"] for p in rows(world.boxes, "tryton", "party.party") if p.get("code")]
    assert len(codes) == len(set(codes))


async def test_a_rejected_parent_says_so_to_its_children_who_run_once_it_is_fixed(
    world: World,
) -> None:
    parent, own, children = family(world)
    for opportunity in own:
        world.salesforce.update("Opportunity", opportunity, {"Payment_Terms_Days__c": 120})
    async with world.mediator() as mediator:
        for opportunity in children:
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        for opportunity in own:
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        dead = await mediator.dead_letters(DeadLetterFilter(error_class="DealRejected"))
        assert sorted(e.envelope.key for e in dead) == sorted(f"opportunity:{o}" for o in own)
        for opportunity in children:
            saga = await saga_of(mediator, opportunity)
            assert saga.status == "waiting"
            assert "the parent was rejected" in saga.note
            assert "payment terms: 120 days" in saga.note
        assert world.downstream_calls() == 0
        for opportunity in own:  # sales fixes the parent's deals in the CRM
            world.salesforce.update("Opportunity", opportunity, {"Payment_Terms_Days__c": 30})
            await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        for opportunity in (*own, *children):
            saga = await saga_of(mediator, opportunity)
            assert saga.status == "done", (opportunity, saga.note)
        links = await load_links(mediator.journal, account_key(parent))
        assert links.rejections == {}
        assert await mediator.dead_letters(DeadLetterFilter()) == []  # closed by the flow
