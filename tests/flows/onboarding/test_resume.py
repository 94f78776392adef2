"""A saga interrupted between steps resumes where it stopped, and nothing is made twice: a
finished deal delivered again, a step that fails for good and is replayed after a restart, a
system that did the work but whose answer was lost."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediator.codecs import Envelope
from mediator.flows.kinds import OPPORTUNITY_RECHECK, opportunity_key
from mediator.flows.onboarding import PAYLOADS, Recheck
from mediator.journal import DeadLetterFilter
from mediator.sandbox.faults import FaultPlan
from tests.flows.onboarding.support import (
    World,
    made,
    once_each,
    open_world,
    saga_of,
    top_level_deal,
)

pytestmark = pytest.mark.slow  # four sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(tmp_path, monkeypatch) as found:
        yield found


def recheck(opportunity: str, cause: str) -> Envelope:
    return PAYLOADS.envelope(
        OPPORTUNITY_RECHECK,
        Recheck(opportunity_id=opportunity, cause=cause),
        key=opportunity_key(opportunity),
        source="mediator",
        idempotency_key=f"test:recheck:{opportunity}:{cause}",
        occurred_at=datetime.datetime.now(datetime.UTC),
    )


async def test_a_finished_deal_delivered_again_changes_nothing(world: World) -> None:
    opportunity = top_level_deal(world)
    async with world.mediator() as mediator:
        await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        finished = await saga_of(mediator, opportunity)
        assert finished.status == "done"
        before = made(world)
        world.forget_requests()
        world.salesforce.update("Opportunity", opportunity, {"Description": "touched"})
        await mediator.accept(world.envelope(opportunity))  # a later version
        await mediator.accept(recheck(opportunity, "again"))
        await mediator.wait_idle()
        assert await saga_of(mediator, opportunity) == finished
        assert await mediator.dead_letters(DeadLetterFilter()) == []
    assert world.downstream_calls() == 0
    assert made(world) == before


async def test_a_step_failing_for_good_is_a_dead_letter_naming_it_and_a_replay_resumes_there(
    world: World,
) -> None:
    opportunity = top_level_deal(world)
    assert world.boxes.harvest is not None
    world.boxes.harvest.faults.install(
        FaultPlan(error_rate=1.0, error_status=422, paths=("/v2/projects",))
    )
    async with world.mediator() as mediator:
        await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        [dead] = await mediator.dead_letters(DeadLetterFilter(entity=f"opportunity:{opportunity}"))
        assert "onboarding step psa_project" in str(dead.reason)
        assert (dead.error_class, dead.system) == ("StepFailed", "harvest")
        saga = await saga_of(mediator, opportunity)
        assert saga.status == "failed"
        assert saga.note.startswith("failed at step psa_project: RemoteRejected")
        assert sorted(saga.done) == ["client", "erp_project", "validate"]
    status = world.salesforce.get("Opportunity", opportunity)["Sync_Status__c"]
    assert status.startswith("Failed at psa_project: ")
    world.boxes.harvest.faults.install(FaultPlan())  # healed, and the mediator restarted
    async with world.mediator() as mediator:
        report = await mediator.replay(
            DeadLetterFilter(entity=f"opportunity:{opportunity}"), dry_run=False, by="ops"
        )
        assert len(report.sent) == 1
        await mediator.wait_idle()
        saga = await saga_of(mediator, opportunity)
        assert saga.status == "done", saga.note
    once_each(world)
    assert world.salesforce.get("Opportunity", opportunity)["Sync_Status__c"] == "Onboarded"


@pytest.mark.parametrize(
    ("product", "plan"),
    [
        ("tryton", FaultPlan(drop_next=3)),
        ("harvest", FaultPlan(drop_next=2, paths=("/v2/projects",))),
        ("harvest", FaultPlan(drop_next=1, paths=("/v2/clients",))),
        ("stripe", FaultPlan(drop_next=1, paths=("/v1/customers",))),
        ("salesforce", FaultPlan(drop_next=1, paths=("/services/data/v61.0/composite",))),
    ],
    ids=["erp", "psa-project", "psa-client", "billing", "crm-writeback"],
)
async def test_a_lost_answer_at_a_step_is_found_again_not_made_twice(
    world: World, product: str, plan: FaultPlan
) -> None:
    opportunity = top_level_deal(world)
    getattr(world.boxes, product).faults.install(plan)
    async with world.mediator() as mediator:
        await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        saga = await saga_of(mediator, opportunity)
        assert saga.status == "done", saga.note
        assert await mediator.dead_letters(DeadLetterFilter()) == []
    assert getattr(world.boxes, product).faults.statistics().drops >= 1
    once_each(world)


async def test_a_failed_step_finished_by_the_deals_next_version_closes_its_dead_letter(
    world: World,
) -> None:
    opportunity = top_level_deal(world)
    assert world.boxes.stripe is not None
    world.boxes.stripe.faults.install(
        FaultPlan(error_rate=1.0, error_status=400, paths=("/v1/customers",))
    )
    async with world.mediator() as mediator:
        await mediator.accept(world.envelope(opportunity))
        await mediator.wait_idle()
        [dead] = await mediator.dead_letters(DeadLetterFilter())
        assert (dead.error_class, dead.system) == ("StepFailed", "stripe")
        assert "onboarding step client" in str(dead.reason)
        world.boxes.stripe.faults.install(FaultPlan())
        world.salesforce.update("Opportunity", opportunity, {"Description": "signed"})
        await mediator.accept(world.envelope(opportunity))  # its next version, not a replay
        await mediator.wait_idle()
        assert (await saga_of(mediator, opportunity)).status == "done"
        assert await mediator.dead_letters(DeadLetterFilter()) == []
        closed = await mediator.journal.get(dead.id)
        assert closed is not None
        assert closed.released_by == "flow:onboarding"
    once_each(world)
