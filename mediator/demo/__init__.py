"""`mediator demo`: a month of a firm's approved time, from the PSA into the ERP, end to end.

The embedded default: the Harvest and Tryton sandboxes on loopback, seeded with a generated
firm; a SQLite journal; the actor runtime with one entity actor per project and a system actor
for the ERP. Day by day the month's approvals are made in Harvest, a poller journals the newly
approved entries (watermark and entries in one transaction), the dispatcher delivers them to
their project actors, and those have the ERP create the timesheet lines, batched. The ERP
sandbox fails some calls and drops some answers after committing, so retries and idempotent
look-ups are at work. At the end the whole month is read again from scratch to show that a
replay posts nothing twice, and the ERP's own lines are counted against the journal.
"""

from __future__ import annotations

import datetime
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from mediator.actors import RestartWithBackoff, open_entity_registry, open_supervisor
from mediator.clock import SystemClock
from mediator.demo.wiring import harvest_connector, record_onboarding, tryton_connector
from mediator.flows import TimesheetPosting
from mediator.ingress import HarvestTimePoller
from mediator.journal import DeadLetterFilter, Watermark, open_dispatcher, open_journal
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox import open_sandboxes
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.generator import generate_firm
from mediator.sandbox.seeding import approve_through
from mediator.systems import SystemActor

__all__ = ["ERP_FAULTS", "DemoReport", "run_demo"]

#: The demo's default: 3 % of ERP calls fail with 503, 2 % commit but lose their answer.
ERP_FAULTS = FaultPlan(seed=42, error_rate=0.03, error_status=503, drop_rate=0.02)


class DemoReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the demo did and what it checked."""

    days: int
    approved_read: int
    journaled: int
    duplicates_on_replay: int
    delivered: int
    retried: int
    dead: int
    erp_lines: int
    erp_duplicate_lines: int
    erp_batches: int
    average_batch: float
    injected_errors: int
    injected_drops: int
    connector_retries: int
    seconds: float
    journal_path: str


async def run_demo(
    *,
    seed: int = 42,
    size: int = 12,
    state_dir: Path | None = None,
    faults: FaultPlan | None = ERP_FAULTS,
    say: Callable[[str], object] = print,
) -> DemoReport:
    """Run the demo and return its report; `say` receives the progress lines.

    `faults` is injected into the ERP sandbox (`None`: none).
    """
    with tempfile.TemporaryDirectory(prefix="mediator-demo-") as scratch:
        path = (state_dir or Path(scratch)) / "journal.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        return await _run(seed=seed, size=size, path=path, faults=faults, say=say)


async def _run(
    *, seed: int, size: int, path: Path, faults: FaultPlan | None, say: Callable[[str], object]
) -> DemoReport:
    clock = SystemClock()
    firm = generate_firm(seed=seed, size=size)
    month = firm.month
    started = time.perf_counter()
    async with (
        open_sandboxes(
            products=("harvest", "tryton"),
            clock=clock,
            seed=seed,
            firm=firm,
            faults=None if faults is None else {"tryton": faults},
            as_of=month - datetime.timedelta(days=1),
        ) as boxes,
        open_journal(path, clock=clock) as journal,
        open_supervisor(name="demo", clock=clock) as supervisor,
    ):
        assert boxes.harvest is not None
        assert boxes.tryton is not None
        say(
            f"mediator demo: {firm.size} clients, {len(firm.time_entries):,} time entries in "
            f"{month:%B %Y} (seed {seed})"
        )
        say(f"  sandboxes: harvest {boxes.urls['harvest']}, tryton {boxes.urls['tryton']}")
        say(f"  journal:   {path}")
        await record_onboarding(journal, firm, boxes)
        policies = PolicyRegistry(default_policy_config(), clock=clock)
        harvest = harvest_connector(boxes, policies, clock)
        tryton = tryton_connector(boxes, policies, clock)
        erp = supervisor.spawn(
            lambda: SystemActor(tryton, max_batch=100, linger=0.01),
            name="system:tryton",
            mailbox_size=1_000,
            strategy=RestartWithBackoff(min_backoff=0.1, max_backoff=5.0),
        )
        poller = HarvestTimePoller(harvest, account_currency="USD")
        read = journaled = days = 0
        async with (
            open_entity_registry(
                supervisor,
                lambda key: TimesheetPosting(key, erp=erp, journal=journal),
                name="flow:approved_time",
                idle_timeout=300.0,
            ) as projects,
            open_dispatcher(journal, projects.ref_for, clock=clock) as dispatcher,
        ):
            day = month
            while day.month == month.month:
                approved = approve_through(firm, boxes.harvest, boxes.index, day)
                if approved:
                    polled = await poller.poll(journal, dispatcher)
                    read += polled.read
                    journaled += polled.journaled
                    days += 1
                day += datetime.timedelta(days=1)
            await dispatcher.wait_idle()
            say(
                f"  {days} days of approvals polled: {read:,} records read, {journaled:,} journaled"
            )
            # Replay: forget the watermark and read the whole month again.
            await journal.set_watermark(Watermark(name=poller.name, value=month.isoformat()))
            replay = await poller.poll(journal, dispatcher)
            await dispatcher.wait_idle()
            say(
                f"  replayed the month from {month}: {replay.read:,} read, "
                f"{replay.duplicates:,} already journaled, {replay.journaled} new"
            )
            stats = dispatcher.statistics()
            dead = await journal.list_dead(DeadLetterFilter(), limit=1_000)
            connector = tryton.statistics()
            injected = boxes.tryton.faults.statistics()
            await harvest.aclose()
    lines = [row for row in _timesheet_lines(boxes.tryton.state()) if "[mediator " in row]
    report = DemoReport(
        days=days,
        approved_read=read,
        journaled=journaled,
        duplicates_on_replay=replay.duplicates,
        delivered=stats.delivered,
        retried=stats.retried,
        dead=len(dead),
        erp_lines=len(lines),
        erp_duplicate_lines=len(lines) - len(set(lines)),
        erp_batches=connector.batches,
        average_batch=connector.average_batch,
        injected_errors=injected.errors,
        injected_drops=injected.drops,
        connector_retries=connector.retries,
        seconds=time.perf_counter() - started,
        journal_path=str(path),
    )
    say(
        f"  ERP sandbox failed {report.injected_errors} calls and dropped "
        f"{report.injected_drops} answers after committing; the connector retried "
        f"{report.connector_retries} calls, looking each create up before repeating it"
    )
    say(
        f"  delivered {report.delivered:,} to project actors ({report.retried} retried by the "
        f"journal, {report.dead} dead letters)"
    )
    say(
        f"  ERP: {report.erp_lines:,} timesheet lines from mediator, "
        f"{report.erp_duplicate_lines} duplicates; {report.erp_batches} batched calls "
        f"(average {report.average_batch:.1f} lines)"
    )
    for entry in dead[:5]:
        say(f"  dead letter {entry.envelope.key} {entry.envelope.kind}: {entry.reason}")
    say(f"  done in {report.seconds:.1f} s")
    return report


def _timesheet_lines(state: dict[str, object]) -> list[str]:
    tables = state.get("tables")
    rows = tables.get("timesheet.line", []) if isinstance(tables, dict) else []
    return [str(row.get("description", "")) for row in rows if isinstance(row, dict)]
