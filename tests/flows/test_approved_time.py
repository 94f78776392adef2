"""Approved time → ERP timesheet lines, through the journal, the dispatcher and real HTTP."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediator.actors import EntityRef, EntityRegistry, open_entity_registry, open_supervisor
from mediator.clock import SystemClock
from mediator.codecs import Envelope
from mediator.codecs.canonical import commands
from mediator.errors import JournalError
from mediator.flows import FLOW, TimesheetPosting
from mediator.ingress import INVALID_TIME, HarvestTimePoller
from mediator.journal import (
    DeadLetterFilter,
    Dispatcher,
    SqliteJournal,
    open_dispatcher,
    open_journal,
)
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import Firm, generate_firm
from mediator.systems import SystemActor
from mediator.testing.onboarded import record_onboarding
from mediator.testing.sandbox_connectors import harvest_connector, tryton_connector

pytestmark = pytest.mark.slow  # each test runs two sandboxes, a journal and the runtime


class Recorded:
    """A recipient that remembers what it delivered (to deliver it again)."""

    def __init__(self, inner: EntityRef[Envelope], seen: list[Envelope]) -> None:
        self.inner = inner
        self.seen = seen

    async def ask(self, message: Envelope, *, timeout: float) -> object:
        self.seen.append(message)
        return await self.inner.ask(message, timeout=timeout)


@dataclass
class Pipeline:
    firm: Firm
    boxes: Sandboxes
    journal: SqliteJournal
    dispatcher: Dispatcher
    poller: HarvestTimePoller
    projects: EntityRegistry[Envelope]
    delivered: list[Envelope]

    def erp_lines(self) -> list[dict[str, Any]]:
        """The ERP's timesheet lines the mediator wrote: live rows of the sandbox, whose fields
        the test reads and edits."""
        assert self.boxes.tryton is not None
        tables = self.boxes.tryton.state()["tables"]
        assert isinstance(tables, dict)
        return [r for r in tables.get("timesheet.line", []) if "[mediator " in r["description"]]

    def harvest_entry(self, index: int = 0) -> dict[str, Any]:
        """The `index`-th approved time entry: a live record of the Harvest sandbox's store."""
        assert self.boxes.harvest is not None
        table = self.boxes.harvest.store.tables["time_entries"]
        approved: list[dict[str, Any]] = [r for r in table.values() if r["is_closed"]]
        return sorted(approved, key=lambda r: r["id"])[index]

    async def poll(self) -> None:
        await self.poller.poll(self.journal, self.dispatcher)
        await self.dispatcher.wait_idle()


@pytest.fixture
async def pipeline(tmp_path: Path) -> AsyncIterator[Pipeline]:
    clock = SystemClock()
    firm = generate_firm(seed=3, size=3)
    seen: list[Envelope] = []
    async with (
        open_sandboxes(products=("harvest", "tryton"), clock=clock, seed=3, firm=firm) as boxes,
        open_journal(tmp_path / "journal.sqlite", clock=clock) as journal,
        open_supervisor(clock=clock) as supervisor,
    ):
        policies = PolicyRegistry(default_policy_config(), clock=clock)
        harvest = harvest_connector(boxes, policies, clock)
        erp = supervisor.spawn(
            lambda: SystemActor(tryton_connector(boxes, policies, clock)), name="erp"
        )
        async with (
            open_entity_registry(
                supervisor,
                lambda key: TimesheetPosting(key, erp=erp, journal=journal),
                idle_timeout=None,
            ) as projects,
            open_dispatcher(
                journal, lambda key: Recorded(projects.ref_for(key), seen), clock=clock
            ) as dispatcher,
        ):
            poller = HarvestTimePoller(harvest, account_currency="USD")
            yield Pipeline(firm, boxes, journal, dispatcher, poller, projects, seen)
        await harvest.aclose()


async def test_each_approved_entry_becomes_one_line_and_a_redelivery_adds_none(
    pipeline: Pipeline,
) -> None:
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    await pipeline.poll()
    lines = pipeline.erp_lines()
    delivered = pipeline.dispatcher.statistics().delivered
    assert delivered > 10
    assert len(lines) == delivered
    entry = pipeline.harvest_entry()
    xref = await pipeline.journal.xref_to("time_entry", str(entry["id"]), "tryton")
    assert xref is not None
    [line] = [r for r in lines if r["id"] == int(xref.system_id)]
    assert f"harvest:{entry['id']}:r0" in str(line["description"])
    assert await pipeline.journal.load_flow(FLOW, str(entry["id"])) is not None
    # Deliver every entry once more (as a replay would): the ERP gains nothing.
    for envelope in list(pipeline.delivered):
        again = await pipeline.projects.ask(envelope.key, envelope)
        assert isinstance(again, commands.Recorded)
        assert again.existed
    assert len(pipeline.erp_lines()) == len(lines)


async def test_a_project_without_erp_record_is_a_dead_letter_that_parks_its_project(
    pipeline: Pipeline,
) -> None:
    await pipeline.poll()  # nothing onboarded: no xref at all
    dead = await pipeline.journal.list_dead(DeadLetterFilter(), limit=1000)
    assert dead
    assert pipeline.erp_lines() == []
    reasons = {e.reason for e in dead}
    assert all(
        r is not None and r.startswith("rejected: project: harvest project ") for r in reasons
    )
    assert all("not onboarded" in str(r) for r in reasons)
    assert pipeline.dispatcher.statistics().parked > 0  # later entries wait behind each


async def test_an_entry_edited_after_posting_is_dead_lettered_not_posted_twice(
    pipeline: Pipeline,
) -> None:
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    await pipeline.poll()
    before = len(pipeline.erp_lines())
    entry = pipeline.harvest_entry()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    entry["hours"] = float(entry["hours"]) + 1.5
    entry["updated_at"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    await pipeline.poll()
    assert len(pipeline.erp_lines()) == before
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(), limit=10)
    assert dead.reason is not None
    assert f"time entry {entry['id']} changed after ERP line" in dead.reason


async def test_a_record_that_does_not_decode_is_dead_lettered_with_its_path(
    pipeline: Pipeline,
) -> None:
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    entry = pipeline.harvest_entry()
    entry["hours"] = -2.0
    await pipeline.poll()
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(kind=INVALID_TIME), limit=10)
    assert dead.reason is not None
    assert ".hours" in dead.reason
    assert dead.envelope.key == f"time_entry:{entry['id']}"
    assert pipeline.dispatcher.statistics().delivered > 0  # the others went through


async def test_a_record_that_does_not_decode_is_dead_lettered_once_across_polls(
    pipeline: Pipeline,
) -> None:
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    stamp = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    invalid = pipeline.harvest_entry(1)
    invalid["hours"] = -2.0
    invalid["updated_at"] = stamp  # the watermark: read again by the next poll (inclusive)
    await pipeline.poll()
    touched = pipeline.harvest_entry(0)  # now read with it, and listed before it
    touched["updated_at"] = stamp
    await pipeline.poll()
    dead = await pipeline.journal.list_dead(DeadLetterFilter(kind=INVALID_TIME), limit=10)
    assert [d.envelope.key for d in dead] == [f"time_entry:{invalid['id']}"]


async def test_a_line_whose_xref_write_failed_gets_its_xref_when_replayed(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    record_xref = pipeline.journal.record_xref
    failed: list[str] = []

    async def fails_once(
        entity_type: str, canonical_id: str, system: str, system_id: str
    ) -> object:
        if entity_type == "time_entry" and not failed:
            failed.append(canonical_id)
            raise JournalError("journal.sqlite", "disk I/O error")
        return await record_xref(entity_type, canonical_id, system, system_id)

    monkeypatch.setattr(pipeline.journal, "record_xref", fails_once)
    await pipeline.poll()
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(), limit=10)
    assert dead.error_class == "JournalError"
    await pipeline.dispatcher.replay(DeadLetterFilter(ids=(dead.id,)), dry_run=False)
    await pipeline.dispatcher.wait_idle()
    assert await pipeline.journal.list_dead(DeadLetterFilter(), limit=10) == []
    assert await pipeline.journal.xref_to("time_entry", failed[0], "tryton") is not None


async def onboard(pipeline: Pipeline, *, skip: str | None = None) -> None:
    """Write the onboarding xref map, leaving out the project whose PSA id is `skip`."""
    index = pipeline.boxes.index
    onboarded = [p.key for p in pipeline.firm.projects if p.onboarded]
    for entity_type, keys in (
        ("project", [k for k in onboarded if str(index.harvest.get(k)) != skip]),
        ("consultant", [c.key for c in pipeline.firm.consultants]),
    ):
        for key in keys:
            for system, ids in (("harvest", index.harvest), ("tryton", index.tryton)):
                if key in ids:
                    await pipeline.journal.record_xref(entity_type, key, system, str(ids[key]))


def erp_project(pipeline: Pipeline, harvest_project: object) -> int:
    """Return the ERP id of the project whose PSA id is `harvest_project`."""
    index = pipeline.boxes.index
    [key] = [k for k, v in index.harvest.items() if v == harvest_project and k in index.tryton]
    return index.tryton[key]


async def test_an_entry_moved_to_another_project_is_applied_after_its_older_version(
    pipeline: Pipeline,
) -> None:
    entry = pipeline.harvest_entry()
    old_project = entry["project_id"]
    new_project = next(
        index
        for p in pipeline.firm.projects
        if p.onboarded
        and (index := pipeline.boxes.index.harvest.get(p.key)) not in (None, old_project)
        and p.key in pipeline.boxes.index.tryton
    )
    await onboard(pipeline, skip=str(old_project))
    await pipeline.poll()  # the old project's entries wait behind its first one's dead letter
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    entry["project_id"] = new_project
    entry["hours"] = float(entry["hours"]) + 1.5
    entry["updated_at"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    await pipeline.poll()
    mark = f"[mediator harvest:{entry['id']}:r0]"
    # The edit must not overtake the version it edits, still waiting on the old project.
    assert [r for r in pipeline.erp_lines() if mark in str(r["description"])] == []
    assert await pipeline.journal.load_flow(FLOW, str(entry["id"])) is None
    await onboard(pipeline)
    old_key = f"project:{old_project}"
    await pipeline.dispatcher.replay(DeadLetterFilter(entity=old_key), dry_run=False)
    await pipeline.dispatcher.wait_idle()
    # The older version was posted first (on the old project), and the move is the correction.
    [line] = [r for r in pipeline.erp_lines() if mark in str(r["description"])]
    assert line["work"] == erp_project(pipeline, old_project)
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(), limit=10)
    assert dead.envelope.occurred_at == later.replace(microsecond=0)
    assert dead.reason is not None
    assert f"time entry {entry['id']} changed after ERP line {line['id']}" in dead.reason


async def test_a_released_correction_is_the_baseline_of_later_edits(pipeline: Pipeline) -> None:
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    await pipeline.poll()
    entry = pipeline.harvest_entry()
    hours = float(entry["hours"])
    mark = f"[mediator harvest:{entry['id']}:r0]"
    [line] = [r for r in pipeline.erp_lines() if mark in str(r["description"])]
    now = datetime.datetime.now(datetime.UTC)

    async def edit(days: int, **changes: object) -> None:
        later = now + datetime.timedelta(days=days)
        entry.update(changes, updated_at=later.strftime("%Y-%m-%dT%H:%M:%SZ"))
        await pipeline.poll()

    await edit(1, hours=hours + 1.5)
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(), limit=10)
    # Replayed, the correction is no more done than before: a dead letter again.
    await pipeline.dispatcher.replay(DeadLetterFilter(ids=(dead.id,)), dry_run=False)
    await pipeline.dispatcher.wait_idle()
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(), limit=10)
    assert dead.replay_of is not None
    # What the dead letter asks for: the line adjusted in the ERP, then the entry released.
    assert pipeline.boxes.tryton is not None
    row = pipeline.boxes.tryton.db.tables["timesheet.line"][line["id"]]
    row["duration"] = datetime.timedelta(hours=hours + 1.5)
    await pipeline.dispatcher.release(dead.id, reason="line adjusted in the ERP", by="finance")
    await pipeline.dispatcher.wait_idle()
    await edit(2, notes="reworded")  # the line already carries these hours: nothing to correct
    assert await pipeline.journal.list_dead(DeadLetterFilter(), limit=10) == []
    await edit(3, hours=hours)  # back to the hours first posted: the adjusted line is wrong now
    [dead] = await pipeline.journal.list_dead(DeadLetterFilter(), limit=10)
    assert dead.reason is not None
    assert f"time entry {entry['id']} changed after ERP line {line['id']}" in dead.reason


async def test_lines_are_booked_on_the_projects_timesheet_work_not_on_the_project(
    pipeline: Pipeline,
) -> None:
    # In Tryton a line's `work` is a timesheet.work: the one Tryton made for the project.work
    # (the id onboarding records). Their ids coincide in a fresh database; here each project's
    # timesheet work is made again, so that they do not, as in a database with history.
    tryton = pipeline.boxes.tryton
    assert tryton is not None
    db = tryton.db
    remade: dict[int, int] = {}
    for work in list(db.tables["timesheet.work"].values()):
        origin = str(work.get("origin") or "")
        if origin.startswith("project.work,"):
            [fresh] = db.create(
                "timesheet.work",
                [{"name": work["name"], "origin": origin, "company": work["company"]}],
            )
            db.tables["timesheet.work"].pop(int(str(work["id"])))
            remade[int(origin.split(",")[1])] = fresh
    assert remade
    assert all(project != fresh for project, fresh in remade.items())
    await record_onboarding(pipeline.journal, pipeline.firm, pipeline.boxes)
    await pipeline.poll()
    lines = pipeline.erp_lines()
    assert lines
    assert {line["work"] for line in lines} <= set(remade.values())
