"""The reconciliation: run the checks over a period, keep the report, repair, accept, sign off.

`Reconciler.reconcile(period, scope)` reads the systems (`reads`), asks the journal what it
knows (`known`), runs the checks of `scope` (all by default) and stores the report. Breaks an
operator accepted earlier (same fingerprint) are listed apart as accepted, so the next run of
a repaired scope is clean.

Repairs, by the break's `repair`:

- ``replay``: its dead letters are replayed with their original idempotency keys (the
  operator's replay, audited), so the flow makes the effect the target lacks;
- ``redrive``: the delivered entry whose effect is gone from the target is delivered again
  as a new entry with its original idempotency key (audited). Before that, the flow is made
  to look its effect up again rather than trust its memory (`PREPARE_REDRIVE`, by kind: the
  approved-time flow forgets the line it posted); the connector finds an effect by that key
  before it makes one, so a repair run twice still makes it once;
- ``accept``: the operator records a reason (`accept`, audited); it is never automatic.

`repair(..., dry_run=True)` (the default) changes nothing and lists each call it would make.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final

import msgspec

from mediator.clock import Clock
from mediator.codecs import new_id
from mediator.flows.approved_time import APPROVED_TIME, forget_line
from mediator.journal import Entry, Journal, ReplayReport
from mediator.journal.reads import JournalReader
from mediator.reconciliation.checks import CHECK_RUNNERS
from mediator.reconciliation.known import Known
from mediator.reconciliation.model import (
    CHECKS,
    Acceptance,
    Break,
    Check,
    Report,
    RunSummary,
    SignOff,
)
from mediator.reconciliation.reads import SystemReads, period_bounds
from mediator.reconciliation.run import Options, Run
from mediator.reconciliation.store import RunStore
from mediator.systems import Connector

__all__ = [
    "PREPARE_REDRIVE",
    "InvalidRun",
    "NotFound",
    "Reconciler",
    "RepairReport",
    "RepairStep",
    "Unsettled",
]

#: what makes a flow look its effect up again before a re-drive, by the entry's kind
PREPARE_REDRIVE: Final[Mapping[str, Callable[[Journal, Entry], Awaitable[object]]]] = {
    APPROVED_TIME: lambda journal, entry: forget_line(journal, _source_id(entry)),
}


class NotFound(LookupError):
    """No such run, break or entry: `what` says which."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class InvalidRun(ValueError):
    """A run asked for with a bad `field` (``period``, ``scope``): `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class Unsettled(ValueError):
    """A period cannot be signed off on a run: it has open breaks, or it did not make every
    check (a month closed on its time alone would say nothing of its invoices)."""


class RepairStep(msgspec.Struct, frozen=True, kw_only=True):
    """One break's repair: the action, the calls it makes (or would), and what came of it
    (`done` is False in a dry run, and when a replay found nothing left to send)."""

    break_id: str
    action: str
    calls: tuple[str, ...]
    done: bool
    outcome: str = ""


class RepairReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a repair did (or, in a dry run, would do), break by break; `skipped` names the
    breaks that need a person (accept them with a reason)."""

    run_id: str
    dry_run: bool
    steps: tuple[RepairStep, ...]
    skipped: tuple[str, ...] = ()


Replay = Callable[[Sequence[str], str, str, str | None], Awaitable[ReplayReport]]
Redrive = Callable[[str, str, str, str | None], Awaitable[Entry]]
Note = Callable[[str, str, str, str, str | None, str | None], Awaitable[None]]


class Reconciler:
    """Reconciliation runs over the systems of one `Mediator` (or any host's connectors).

    `replay(ids, by, role, reason)`, `redrive(entry_id, by, role, reason)` and
    `note(action, target, by, role, reason, detail)` are the operator's audited actions.
    """

    def __init__(
        self,
        *,
        journal: Journal,
        reader: JournalReader,
        connectors: Mapping[str, Connector],
        clock: Clock,
        replay: Replay,
        redrive: Redrive,
        note: Note,
        options: Options | None = None,
    ) -> None:
        self.journal = journal
        self.reader = reader
        self.connectors = dict(connectors)
        self.clock = clock
        self.options = options or Options()
        self.store = RunStore(journal)
        self._replay = replay
        self._redrive = redrive
        self._note = note

    async def reconcile(self, period: str, scope: Sequence[str] = CHECKS) -> Report:
        """Run the checks of `scope` over `period` (``YYYY-MM``), store and return the report.

        `InvalidRun` names a bad period or an unknown check (before anything is read);
        `NotConfigured` a system a check needs and this mediator does not have."""
        try:
            period_bounds(period)
        except ValueError as exc:
            raise InvalidRun("period", str(exc)) from None
        unknown = [c for c in scope if c not in CHECK_RUNNERS]
        if unknown or not scope:
            raise InvalidRun(
                "scope",
                f"unknown check(s) {', '.join(unknown)}: choose from {', '.join(CHECKS)}"
                if unknown
                else "the scope names no check",
            )
        checks: tuple[Check, ...] = tuple(c for c in CHECKS if c in scope)
        started = self.clock.time()
        run = Run(
            period=period,
            reads=SystemReads(self.connectors),
            known=Known(self.reader),
            options=self.options,
            now=started,
        )
        run.reads.prefetch(period, checks)
        try:
            for check in checks:
                await CHECK_RUNNERS[check](run)
        finally:
            await run.reads.aclose()
        open_: list[Break] = []
        accepted: list[Break] = []
        acceptances = await self.store.acceptances(self.reader, [b.id for b in run.breaks])
        for found in run.breaks:
            acceptance = acceptances.get(found.id)
            if acceptance is None:
                open_.append(found)
            else:
                accepted.append(msgspec.structs.replace(found, accepted=acceptance))
        report = Report(
            run_id=_run_id(started),
            period=period,
            scope=checks,
            started_at=started,
            finished_at=self.clock.time(),
            compared=run.compared,
            counts={check: dict(counter) for check, counter in run.counts.items()},
            totals=tuple(run.totals),
            breaks=tuple(open_),
            accepted=tuple(accepted),
            tolerated=tuple(run.tolerated),
            calls=run.reads.calls(),
            clean=not open_,
        )
        await self.store.save(report)
        return report

    async def runs(self, *, period: str | None = None) -> tuple[RunSummary, ...]:
        """The stored runs, newest first."""
        return await self.store.runs(period=period)

    async def run(self, run_id: str) -> Report:
        """A stored run; `NotFound` if there is none."""
        report = await self.store.run(run_id)
        if report is None:
            raise NotFound(f"no reconciliation run {run_id}")
        return report

    async def repair(
        self,
        run_id: str,
        *,
        breaks: Sequence[str] = (),
        dry_run: bool = True,
        by: str = "host",
        role: str = "host",
        reason: str | None = None,
    ) -> RepairReport:
        """Repair the run's open breaks (`breaks`, or every one) that can be: a dry run by
        default. Breaks that need a person are listed in `skipped`."""
        report = await self.run(run_id)
        chosen = _chosen(report, breaks)
        steps: list[RepairStep] = []
        skipped: list[str] = []
        for found in chosen:
            if found.repair == "accept":
                skipped.append(found.id)
                continue
            calls = await self._calls(found)
            if dry_run:
                steps.append(
                    RepairStep(break_id=found.id, action=found.repair, calls=calls, done=False)
                )
                continue
            done, outcome = await self._apply(found, by=by, role=role, reason=reason)
            steps.append(
                RepairStep(
                    break_id=found.id, action=found.repair, calls=calls, done=done, outcome=outcome
                )
            )
        return RepairReport(
            run_id=run_id, dry_run=dry_run, steps=tuple(steps), skipped=tuple(skipped)
        )

    async def accept(
        self, run_id: str, break_id: str, *, reason: str, by: str = "host", role: str = "host"
    ) -> Acceptance:
        """Accept one break of a run with a reason (audited); later runs list it as accepted
        while it stays the same break."""
        if not reason.strip():
            raise ValueError("an acceptance needs a reason")
        report = await self.run(run_id)
        (found,) = _chosen(report, [break_id])
        acceptance = Acceptance(break_id=found.id, by=by, at=self.clock.time(), reason=reason)
        await self.store.accept(acceptance)
        await self._note("reconciliation.accept", found.id, by, role, reason, found.detail)
        return acceptance

    async def sign_off(
        self, period: str, *, run_id: str | None = None, by: str = "host", role: str = "host",
        reason: str | None = None,
    ) -> SignOff:  # fmt: skip
        """Sign `period` off on its latest run of every check (or `run_id`), freezing that
        report; the run must have made every check and have no open break (`Unsettled`).
        A period is signed once: the first holds, and only it is audited."""
        period_bounds(period)
        if run_id is None:
            complete = [r for r in await self.store.runs(period=period) if r.scope == CHECKS]
            if not complete:
                raise NotFound(f"no reconciliation run of every check of {period} to sign off")
            run_id = complete[0].run_id
        report = await self.run(run_id)
        if report.period != period:
            raise ValueError(f"run {run_id} is of {report.period}, not {period}")
        if report.scope != CHECKS:
            raise Unsettled(
                f"run {run_id} made only the {', '.join(report.scope)} check(s): sign {period} "
                f"off on a run of every check ({', '.join(CHECKS)})"
            )
        if report.breaks:
            raise Unsettled(
                f"run {run_id} has {len(report.breaks)} open break(s): repair or accept them, "
                "run again, then sign off"
            )
        signed, first = await self.store.sign_off(
            SignOff(
                period=period,
                run_id=run_id,
                by=by,
                at=self.clock.time(),
                reason=reason,
                report=report,
            )
        )
        if first:
            await self._note("reconciliation.sign_off", period, by, role, reason, f"run {run_id}")
        return signed

    async def signed_off(self, period: str) -> SignOff | None:
        """The period's sign-off, if any."""
        return await self.store.signed_off(period)

    async def _calls(self, found: Break) -> tuple[str, ...]:
        if found.repair == "replay":
            calls = []
            for entry_id in found.dead_letters:
                entry = await self.reader.entry(entry_id)
                what = "" if entry is None else f" ({entry.envelope.kind}, key {entry.key})"
                key = (
                    ""
                    if entry is None
                    else f" with idempotency key {entry.envelope.idempotency_key}"
                )
                calls.append(f"journal: replay dead letter {entry_id}{what}{key}")
            calls.append(
                f"{found.system}: the flow makes the missing effect, looked up by that key first"
            )
            return tuple(calls)
        entry = await self.reader.entry(found.redrive_of or "")
        if entry is None:
            raise NotFound(f"entry {found.redrive_of} of break {found.id} is gone (compacted?)")
        calls = []
        if entry.envelope.kind in PREPARE_REDRIVE:
            calls.append(f"journal: the {entry.envelope.kind} flow forgets the effect it remembers")
        calls.append(
            f"journal: deliver entry {entry.id} ({entry.envelope.kind}, key {entry.key}) again "
            f"with idempotency key {entry.envelope.idempotency_key}"
        )
        calls.append(f"{found.system}: look the effect up by that key; create it only if absent")
        return tuple(calls)

    async def _apply(
        self, found: Break, *, by: str, role: str, reason: str | None
    ) -> tuple[bool, str]:
        why = reason or f"reconciliation repair of {found.id}"
        if found.repair == "replay":
            # what the replay did, not what was asked: a dead letter replayed already (this
            # run repaired twice) is not sent again, one replayed too often is quarantined
            replayed = await self._replay(found.dead_letters, by, role, why)
            outcome = f"replayed {len(replayed.sent)} of {len(found.dead_letters)} dead letter(s)"
            if replayed.quarantined:
                outcome += f", {len(replayed.quarantined)} quarantined (replayed too often)"
            return bool(replayed.sent), outcome
        entry = await self.reader.entry(found.redrive_of or "")
        if entry is None:
            raise NotFound(f"entry {found.redrive_of} of break {found.id} is gone")
        prepare = PREPARE_REDRIVE.get(entry.envelope.kind)
        if prepare is not None:
            await prepare(self.journal, entry)
        fresh = await self._redrive(entry.id, by, role, why)
        return True, f"re-driven as entry {fresh.id}"


def _chosen(report: Report, breaks: Sequence[str]) -> list[Break]:
    if not breaks:
        return list(report.breaks)
    by_id = {b.id: b for b in report.breaks}
    missing = [b for b in breaks if b not in by_id]
    if missing:
        raise NotFound(f"run {report.run_id} has no open break {', '.join(missing)}")
    return [by_id[b] for b in breaks]


def _run_id(started: float) -> str:
    moment = datetime.datetime.fromtimestamp(started, datetime.UTC)
    return f"rec_{moment:%Y%m%dT%H%M%S}_{new_id()[-8:]}"


def _source_id(entry: Entry) -> str:
    # the approved-time flow remembers lines by the PSA entry's id (its idempotency key's)
    return entry.envelope.idempotency_key.split(":")[2]
