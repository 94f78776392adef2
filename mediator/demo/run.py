"""Running the demo: the sandboxes and a `Mediator` for one simulated month, then the checks.

The demo is a client of the same `Mediator` that `mediator run` runs (`wiring.demo_config`
points it at the sandboxes); it drives the approved-time poller once per simulated day.

The sandboxes live in this process's memory and are new on every run; only the journal can
outlive a run (`--state-dir`). A journal that already holds a run's entries would make a
rerun post nothing to the new ERP sandbox, and look like success, so such a state dir is
refused before anything starts (`DemoStateError`). The connectors are closed on every way
out (the `Mediator` closes them), Ctrl-C included, so no "Unclosed client session" follows.
"""

from __future__ import annotations

import asyncio
import datetime
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mediator.clock import SystemClock
from mediator.demo.calendar import BusinessClock
from mediator.demo.report import DemoReport, check_erp, summary
from mediator.demo.wiring import POLLER, demo_config, record_onboarding
from mediator.errors import MediatorError
from mediator.journal import DeadLetterFilter, Watermark, open_journal
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.generator import generate_firm
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.seeding import approve_through

__all__ = ["ERP_FAULTS", "DemoStateError", "run_demo"]

#: The demo's default: 3 % of ERP calls fail with 503, 2 % commit but lose their answer.
ERP_FAULTS = FaultPlan(seed=42, error_rate=0.03, error_status=503, drop_rate=0.02)


class DemoStateError(MediatorError):
    """The demo cannot use the state dir at `path`: `reason` says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(str(path), reason)
        self.path = path
        self.reason = reason

    def __str__(self) -> str:
        return f"--state-dir {self.path}: {self.reason}"


async def run_demo(
    *,
    seed: int = 42,
    size: int = 12,
    state_dir: Path | None = None,
    faults: FaultPlan | None = ERP_FAULTS,
    say: Callable[[str], object] = print,
) -> DemoReport:
    """Run the demo and return its report; `say` receives the progress lines.

    `faults` is injected into the ERP sandbox (`None`: none). Raises `DemoStateError` if
    `state_dir` cannot be created or holds an earlier run's journal, `JournalError` if the
    journal there cannot be used. Lines missing in the ERP are in the report (`ok`).
    """
    with tempfile.TemporaryDirectory(prefix="mediator-demo-") as scratch:
        if state_dir is not None:
            try:
                await asyncio.to_thread(state_dir.mkdir, parents=True, exist_ok=True)
            except OSError as exc:
                raise DemoStateError(state_dir, exc.strerror or str(exc)) from exc
        path = (state_dir or Path(scratch)) / "journal.sqlite"
        return await _run(
            seed=seed,
            size=size,
            path=path,
            scratch=Path(scratch),
            kept=state_dir is not None,
            faults=faults,
            say=say,
        )


async def _run(
    *,
    seed: int,
    size: int,
    path: Path,
    scratch: Path,
    kept: bool,
    faults: FaultPlan | None,
    say: Callable[[str], object],
) -> DemoReport:
    clock = SystemClock()
    firm = generate_firm(seed=seed, size=size)
    month = firm.month
    business = BusinessClock(clock, day=month - datetime.timedelta(days=1))
    started = time.perf_counter()
    await _refuse_an_earlier_run(path, clock)
    async with open_sandboxes(
        products=("harvest", "tryton"),
        clock=clock,
        seed=seed,
        firm=firm,
        faults=None if faults is None else {"tryton": faults},
        as_of=month - datetime.timedelta(days=1),
        prepared=Sandboxes(harvest=HarvestSandbox(clock=business, seed=seed)),
    ) as boxes:
        assert boxes.harvest is not None
        assert boxes.tryton is not None
        say(
            f"mediator demo: {firm.size} clients, {len(firm.time_entries):,} time entries "
            f"in {month:%B %Y} (seed {seed})"
        )
        say(
            f"  sandboxes: harvest {boxes.urls['harvest']}, tryton {boxes.urls['tryton']} "
            "(in this process's memory: new on every run)"
        )
        say(
            f"  journal:   {path}"
            if kept
            else "  journal:   a temporary file, discarded at exit (--state-dir DIR keeps it)"
        )
        # What onboarding would have written (the deal-won flow, issue #16, will)
        async with open_journal(path, clock=clock) as journal:
            await record_onboarding(journal, firm, boxes)
        loaded = demo_config(boxes, journal=path, secrets=scratch / "secrets")
        read = journaled = read_again = rejected = days = 0
        async with Mediator(loaded, clock=clock, serve_admin=False) as mediator:
            day = month
            while day.month == month.month:
                business.enter(day)
                if approve_through(firm, boxes.harvest, boxes.index, day):
                    polled = await mediator.poll(POLLER)
                    read += polled.read
                    journaled += polled.journaled
                    read_again += polled.duplicates
                    rejected += polled.rejected
                    days += 1
                day += datetime.timedelta(days=1)
            await mediator.wait_idle()
            # Replay: forget the watermark and read the whole month again.
            await mediator.journal.set_watermark(Watermark(name=POLLER, value=month.isoformat()))
            replay = await mediator.poll(POLLER)
            await mediator.wait_idle()
            stats = mediator.statistics()
            dead = await mediator.dead_letters(DeadLetterFilter(), limit=1_000)
        connector = stats.systems["tryton"]
        injected = boxes.tryton.faults.statistics()
    approved = [
        str(record["id"])
        for record in boxes.harvest.store.tables["time_entries"].values()
        if record["approval_status"] == "approved"
    ]
    lines = check_erp(approved, _timesheet_lines(boxes.tryton.state()))
    report = DemoReport(
        seed=seed,
        clients=firm.size,
        entries=len(firm.time_entries),
        never_approved=sum(e.approved_on is None for e in firm.time_entries),
        days=days,
        approved_read=read,
        journaled=journaled,
        read_again=read_again,
        rejected=rejected,
        duplicates_on_replay=replay.duplicates,
        new_on_replay=replay.journaled,
        delivered=stats.dispatcher.delivered,
        dead=len(dead),
        erp_lines=lines.lines,
        erp_missing_lines=lines.missing,
        erp_duplicate_lines=lines.duplicates,
        erp_unexpected_lines=lines.unexpected,
        journal_path=str(path) if kept else None,
        retried=stats.dispatcher.retried,
        erp_batches=connector.batches,
        average_batch=connector.average_batch,
        injected_errors=injected.errors,
        injected_drops=injected.drops,
        connector_retries=connector.retries,
        seconds=time.perf_counter() - started,
    )
    for line in summary(report, f"{month:%B %Y}"):
        say(line)
    for entry in dead[:5]:
        say(f"  dead letter {entry.envelope.key} {entry.envelope.kind}: {entry.reason}")
    return report


async def _refuse_an_earlier_run(path: Path, clock: SystemClock) -> None:
    # Raised once the journal is closed again: its context reports its body's errors itself.
    async with open_journal(path, clock=clock) as journal:
        mark = await journal.get_watermark(POLLER)
    if mark is not None:
        raise DemoStateError(
            path.parent,
            f"holds the journal of an earlier run (polled up to {mark.value}); that run's "
            "sandboxes lived in its memory and are gone, and a rerun would post nothing to "
            "the new ERP sandbox: use a new or empty --state-dir",
        )


def _timesheet_lines(state: dict[str, object]) -> list[str]:
    tables = state.get("tables")
    rows = tables.get("timesheet.line", []) if isinstance(tables, dict) else []
    return [str(row.get("description", "")) for row in rows if isinstance(row, dict)]
