"""Running the demo: the sandboxes and a `Mediator` for one simulated month, then the checks.

The demo is a client of the same `Mediator` that `mediator run` runs (`wiring.demo_config`
points it at the sandboxes); it drives the approved-time poller once per simulated day.

The sandboxes live in this process's memory and are new on every run; only the journal can
outlive a run (`--state-dir`). A journal that already holds a run's entries would make a
rerun post nothing to the new ERP sandbox, and look like success, so such a state dir is
refused before anything starts (`DemoStateError`). The connectors are closed on every way
out (the `Mediator` closes them), Ctrl-C included, so no "Unclosed client session" follows.

With `serve` (``mediator demo --serve``), the month's `Mediator` also serves its admin API
and dashboard, and once the summary is printed it keeps serving them (the sandboxes too)
until SIGINT or SIGTERM, with a fresh operator and viewer token printed to log in with.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import secrets
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import anyio

from mediator.clock import SystemClock
from mediator.demo.calendar import BusinessClock
from mediator.demo.checks import (
    check_billing,
    check_cash,
    check_onboarding,
    check_receivables,
    reconciliation,
)
from mediator.demo.report import DemoReport, check_erp, summary
from mediator.demo.wiring import POLLER, demo_config, record_people
from mediator.errors import MediatorError
from mediator.journal import DeadLetterFilter, Watermark, open_journal
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.generator import Firm, generate_firm
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.seeding import approve_through, seed_activity

__all__ = ["ERP_FAULTS", "DemoStateError", "run_demo"]

#: The markup on re-billed expenses in the demo's configuration (`expense_markup`).
_MARKUP = Decimal("0.1")
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


#: What a caller runs inside the demo once its month is done, with the Mediator still running.
Then = Callable[[Mediator, Sandboxes, Firm], Awaitable[object]]
#: Vendor limits a test lifts (the sandbox's and mediator's own): the demo keeps Harvest's
#: real 100 requests / 15 s, which makes onboarding take seconds of waiting.
_LIFTED = """
[policies.ratelimits.harvest]
rate = 1000.0
burst = 100
max_wait = 60.0
"""


async def run_demo(
    *,
    seed: int = 42,
    size: int = 12,
    state_dir: Path | None = None,
    faults: FaultPlan | None = ERP_FAULTS,
    say: Callable[[str], object] = print,
    serve: int | None = None,
    then: Then | None = None,
    lift_limits: bool = False,
) -> DemoReport:
    """Run the demo and return its report; `say` receives the progress lines.

    `faults` is injected into the ERP sandbox (`None`: none). With `serve` (a port on
    127.0.0.1, 0 for any free one), the admin API and dashboard are served during the month
    and, after the summary, until SIGINT or SIGTERM. Raises `DemoStateError` if
    `state_dir` cannot be created or holds an earlier run's journal, `JournalError` if the
    journal there cannot be used. Lines missing in the ERP are in the report (`ok`).
    `then` runs after the month (its checks and reconciliation done) with the Mediator still
    running; `lift_limits` raises Harvest's rate limit in its sandbox and in mediator (tests).
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
            serve=serve,
            then=then,
            lift_limits=lift_limits,
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
    serve: int | None = None,
    then: Then | None = None,
    lift_limits: bool = False,
) -> DemoReport:
    clock = SystemClock()
    # the demo's ERP books in USD: a client billed in another currency would be finance's
    # exception in the receivables flow (README, "Finance"), so the demo's firm bills in USD
    firm = generate_firm(seed=seed, size=size, currencies=("USD",))
    month = firm.month
    eve = month - datetime.timedelta(days=1)
    business = BusinessClock(clock, day=eve)
    started = time.perf_counter()

    def finish() -> DemoReport:
        """Check every system against what the month should have left, and summarise."""
        assert boxes.harvest is not None
        assert boxes.tryton is not None
        connector = stats.systems["tryton"]
        injected = boxes.tryton.faults.statistics()
        checks = (
            onboarded,
            check_billing(boxes, billable=_billable(firm, boxes)),
            check_receivables(boxes),
            check_cash(boxes),
            reconciled,
        )
        approved_ids = [
            str(record["id"])
            for record in boxes.harvest.store.tables["time_entries"].values()
            if record["approval_status"] == "approved"
        ]
        lines = check_erp(approved_ids, _timesheet_lines(boxes.tryton.state()))
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
            checks=checks,
            approvals=approved,
            payments=paid,
            item_writes=_item_writes(boxes),
            billable_entries=sum(
                e.approved_on is not None and e.billable for e in firm.time_entries
            ),
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

    await _refuse_an_earlier_run(path, clock)
    async with open_sandboxes(
        clock=clock,
        seed=seed,
        firm=firm,
        faults=None if faults is None else {"tryton": faults},
        as_of=eve,
        onboarded=False,
        prepared=Sandboxes(
            harvest=HarvestSandbox(
                clock=business, seed=seed, rate_limit=100_000 if lift_limits else 100
            )
        ),
    ) as boxes:
        assert boxes.harvest is not None
        assert boxes.tryton is not None
        assert boxes.stripe is not None
        won = [o for o in firm.opportunities if o.project is not None]
        say(
            f"mediator demo: {firm.size} clients, {len(won)} won deals, "
            f"{len(firm.time_entries):,} time entries in {month:%B %Y} (seed {seed})"
        )
        say(
            "  sandboxes: "
            + ", ".join(f"{name} {url}" for name, url in boxes.urls.items())
            + " (in this process's memory: new on every run)"
        )
        say(
            f"  journal:   {path}"
            if kept
            else "  journal:   a temporary file, discarded at exit (--state-dir DIR keeps it)"
        )
        async with open_journal(path, clock=clock) as journal:
            await record_people(journal, firm, boxes)  # HR's part: people are not onboarded
        tokens = {role: secrets.token_urlsafe(24) for role in ("operator", "viewer")}
        loaded = demo_config(
            boxes, firm, journal=path, secrets=scratch / "secrets",
            admin_listen=None if serve is None else f"127.0.0.1:{serve}", admin_tokens=tokens,
            extra=_LIFTED if lift_limits else "",
        )  # fmt: skip
        read = journaled = read_again = rejected = days = 0
        async with Mediator(loaded, clock=clock, serve_admin=serve is not None) as mediator:
            if mediator.admin_address is not None:
                host, port = mediator.admin_address
                say(f"  dashboard: http://{host}:{port}/ui/ (operator token: "
                    f"{tokens['operator']}, viewer token: {tokens['viewer']})")  # fmt: skip
            # 1. deals won in the CRM → onboarded in the ERP, the PSA and billing
            for name in ("salesforce_accounts", "salesforce_contracts", "salesforce_opportunities"):
                await mediator.poll(name)
                await mediator.wait_idle()
            onboarded = check_onboarding(
                boxes,
                clients={boxes.index.salesforce[p.client] for p in firm.projects},
                projects={p.key for p in firm.projects},
            )
            # 2. the month: time and expenses logged on the projects onboarding made,
            # approved day by day, polled; milestones approved in the CRM invoiced
            unlogged = seed_activity(firm, boxes.harvest, boxes.index, as_of=eve)
            if unlogged:
                say(f"  {unlogged} time entries and expenses not logged: project not onboarded")
            await mediator.poll("salesforce_milestones")
            day = month
            while day.month == month.month:
                business.enter(day)
                if approve_through(firm, boxes.harvest, boxes.index, day):
                    polled = await mediator.poll(POLLER)
                    await mediator.poll("harvest_expenses")
                    read += polled.read
                    journaled += polled.journaled
                    read_again += polled.duplicates
                    rejected += polled.rejected
                    days += 1
                if day.weekday() == 4:  # Fridays: the week's billing aggregates to Stripe
                    await mediator.wait_idle()
                    await mediator.poll("billing_flush")
                day += datetime.timedelta(days=1)
            await mediator.wait_idle()
            # Replay: forget the watermark and read the whole month again.
            await mediator.journal.set_watermark(Watermark(name=POLLER, value=month.isoformat()))
            replay = await mediator.poll(POLLER)
            await mediator.wait_idle()
            # 3. month-end: the close finalizes each client's invoice; Stripe's events feed
            # the receivables (the large ones approved by the controller) and, once customers
            # pay, the cash application
            await mediator.poll("billing_flush")
            await mediator.wait_idle()
            await mediator.poll("billing_close")
            await mediator.wait_idle()
            await _events(mediator)
            approved = await _approve_waiting(mediator)
            await _events(mediator)
            paid = _customers_pay(boxes)
            await _events(mediator)
            await mediator.poll("cash_application_waiting")
            await mediator.wait_idle()
            # 4. the systems reconciled: every record once in every system, nothing else
            reconciled = await reconciliation(mediator, f"{month:%Y-%m}")
            stats = mediator.statistics()
            dead = await mediator.dead_letters(DeadLetterFilter(), limit=1_000)
            report = finish()  # the systems as the month left them
            if then is not None:
                await then(mediator, boxes, firm)
            if serve is not None:  # the summary first, then serving until a signal
                await _serve_until_signalled(say)
    return report


async def _events(mediator: Mediator) -> None:
    # Stripe's events feed: what its webhooks would have pushed (`stripe_events` catches up)
    await mediator.poll("stripe_events")
    await mediator.wait_idle()


async def _approve_waiting(mediator: Mediator) -> int:
    """The controller approves the invoices waiting for a person (above the amount that
    needs one); each decision wakes its flow."""
    pending = await mediator.reader.approvals(state="pending", limit=1_000)
    for approval in pending:
        await mediator.decide_approval(
            approval.id, approve=True, reason="month-end review", by="demo:controller"
        )
    await mediator.wait_idle()
    return len(pending)


def _customers_pay(boxes: Sandboxes) -> int:
    """Every customer pays its open invoices by bank transfer, the first one only half of it
    (a partial payment: the rest stays open in both systems); returns how many paid."""
    assert boxes.stripe is not None
    store = boxes.stripe.store
    invoices: dict[str, dict[str, Any]] = store.invoices
    open_ = sorted(i for i, invoice in invoices.items() if invoice.get("status") == "open")
    for number, invoice_id in enumerate(open_):
        due = int(invoices[invoice_id]["amount_remaining"])
        store.receive_transfer(invoice_id, due // 2 if number == 0 else due)
    return len(open_)


def _billable(firm: Firm, boxes: Sandboxes) -> dict[str, int]:
    """What each Stripe customer should be billed for the month: approved billable hours at
    their project's rates, and billable expenses at cost plus the 10 % markup."""
    assert boxes.harvest is not None
    assert boxes.stripe is not None
    customers: dict[str, dict[str, Any]] = boxes.stripe.store.customers
    by_account = {
        str((c.get("metadata") or {}).get("mediator_client", "")).split(":")[-1]: str(c["id"])
        for c in customers.values()
    }
    projects = {p.key: p for p in firm.projects}
    rates = {(a.project, a.consultant): a.bill_rate for a in firm.assignments}
    owed: dict[str, Decimal] = collections.defaultdict(Decimal)
    for entry in firm.time_entries:
        if entry.approved_on is None or not entry.billable:
            continue
        customer = by_account[boxes.index.salesforce[projects[entry.project].client]]
        owed[customer] += Decimal(str(entry.hours)) * rates[(entry.project, entry.consultant)]
    for expense in firm.expenses:
        if expense.approved_on is None or not expense.billable:
            continue
        customer = by_account[boxes.index.salesforce[projects[expense.project].client]]
        # the markup rounded once per expense (half to even), as each is its own item
        markup = (Decimal(expense.amount) * _MARKUP).quantize(Decimal(1), ROUND_HALF_EVEN)
        owed[customer] += expense.amount + markup
    return {c: int(a) for c, a in owed.items()}


def _item_writes(boxes: Sandboxes) -> int:
    """Stripe's invoice-item writes: what billing's aggregation keeps far below one per entry."""
    assert boxes.stripe is not None
    posts = (r for r in boxes.stripe.requests if r.method == "POST")
    return sum(r.path.startswith("/v1/invoiceitems") for r in posts)


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


async def _serve_until_signalled(say: Callable[[str], object]) -> None:
    """Wait for SIGINT or SIGTERM (the dashboard and the sandboxes serve meanwhile)."""
    say("  serving the dashboard and the sandboxes until Ctrl-C")
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            break
    say("  stopped serving")


def _timesheet_lines(state: dict[str, object]) -> list[str]:
    tables = state.get("tables")
    rows = tables.get("timesheet.line", []) if isinstance(tables, dict) else []
    return [str(row.get("description", "")) for row in rows if isinstance(row, dict)]
