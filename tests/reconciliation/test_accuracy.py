"""Reconciliation accuracy: a generated month run through every flow, drift of each class
injected behind mediator's back, every break found and nothing else, repairs, a clean rerun.

The month is the demo's (a small firm, every flow, the vendors' APIs on loopback). The drift
is made in the sandboxes directly, as a person would in each vendor's own screens: an ERP
timesheet line deleted, a Stripe item's amount changed, a Tryton receivable duplicated, a
Harvest project made by hand under an onboarded client, a payment applied twice in Tryton, and
a time entry approved after the last poll (in flight: not a break).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mediator.demo import run_demo
from mediator.reconciliation import Options, Report
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm

pytestmark = pytest.mark.slow


def _breaks(report: Report) -> set[tuple[str, str, str]]:
    return {(b.check, b.match, b.system) for b in report.breaks}


def _tables(boxes: Sandboxes) -> dict[str, dict[Any, dict[str, Any]]]:
    assert boxes.tryton is not None
    return boxes.tryton.db.tables


class Scenario:
    """The drift, the runs and the repairs, with what each step found kept for the asserts."""

    def __init__(self) -> None:
        self.first: Report | None = None
        self.drifted: Report | None = None
        self.after: Report | None = None
        self.deleted_line: dict[str, Any] = {}
        self.lines_for_entry_after_repair = 0
        self.dry_run_calls: tuple[str, ...] = ()
        self.in_flight_entry = 0
        self.accepted = 0

    async def __call__(self, mediator: Mediator, boxes: Sandboxes, firm: Firm) -> None:
        period = f"{firm.month:%Y-%m}"
        reconciliation = mediator.reconciliation
        # the demo's customers paid seconds ago: with no lag window, every change is old
        # enough to be judged (the default, 15 minutes, would call those payments in flight)
        reconciliation.options = Options(lag=0.0)
        self.first = await reconciliation.reconcile(period)
        self._drift(boxes, firm)
        self.drifted = await reconciliation.reconcile(period)
        # repairs: first a dry run (nothing changes), then for real
        dry = await reconciliation.repair(self.drifted.run_id)
        self.dry_run_calls = tuple(c for step in dry.steps for c in step.calls)
        assert all(not step.done for step in dry.steps)
        done = await reconciliation.repair(self.drifted.run_id, dry_run=False, by="test:ops")
        # a second repair of the same run can never duplicate: the key finds the first one
        await reconciliation.repair(self.drifted.run_id, dry_run=False, by="test:ops")
        assert {s.action for s in done.steps} == {"redrive"}
        await mediator.wait_idle()
        entry = self.deleted_line["description"]
        self.lines_for_entry_after_repair = sum(
            line["description"] == entry for line in _tables(boxes)["timesheet.line"].values()
        )
        for skipped in done.skipped:
            await reconciliation.accept(
                self.drifted.run_id, skipped, reason="finance fixes it in the vendor", by="test:ops"
            )
            self.accepted += 1
        self.after = await reconciliation.reconcile(period)

    def _drift(self, boxes: Sandboxes, firm: Firm) -> None:
        assert boxes.tryton is not None
        assert boxes.stripe is not None
        assert boxes.harvest is not None
        tables = _tables(boxes)
        db = boxes.tryton.db
        # 1. an ERP timesheet line deleted
        line = next(iter(tables["timesheet.line"].values()))
        self.deleted_line = dict(line)
        db.delete("timesheet.line", [line["id"]], {})
        # 2. a Stripe item's amount changed (a time item of the month)
        items: dict[str, dict[str, Any]] = boxes.stripe.store.invoiceitems
        item = next(
            i
            for i in items.values()
            if str(i["metadata"].get("mediator_origin", "")).startswith("hour|")
        )
        item["amount"] = int(item["amount"]) + 12_345
        # 3. a payment applied twice: the invoice paid in part gets the same payment again
        invoices = tables["account.invoice"]
        partial = next(
            i
            for i in invoices.values()
            if i["state"] == "posted" and (i.get("paid_amount") or Decimal(0)) > 0
        )
        partial["paid_amount"] = partial["paid_amount"] * 2
        # 4. a Tryton receivable duplicated (with its lines)
        original = next(
            i
            for i in invoices.values()
            if str(i.get("reference", "")).startswith("in_") and i["id"] != partial["id"]
        )
        copy_id = max(invoices) + 1
        invoices[copy_id] = {**original, "id": copy_id, "number": f"{original['number']}-COPY"}
        lines = tables["account.invoice.line"]
        for invoice_line in [dict(x) for x in lines.values() if x["invoice"] == original["id"]]:
            new_id = max(lines) + 1
            lines[new_id] = {**invoice_line, "id": new_id, "invoice": copy_id}
        # 5. a Harvest project made by hand under an onboarded client
        client = next(iter(boxes.harvest.store.tables["clients"].values()))
        boxes.harvest.store.create("projects", {"client_id": client["id"], "name": "Side job"})
        # 6. a time entry approved after the last poll: in flight, not a break
        entries: dict[int, dict[str, Any]] = boxes.harvest.store.tables["time_entries"]
        pending = next(
            e
            for e in entries.values()
            if e["approval_status"] != "approved"
            and e["spent_date"].startswith(f"{firm.month:%Y-%m}")
        )
        boxes.harvest.store.approve("time_entries", pending["id"])
        self.in_flight_entry = int(pending["id"])


async def test_every_injected_break_is_found_repaired_or_accepted_and_the_next_run_is_clean() -> (
    None
):
    scenario = Scenario()
    report = await run_demo(
        seed=11, size=3, faults=None, say=lambda _: None, then=scenario, lift_limits=True
    )
    assert report.ok, [c.problems for c in report.checks]
    first, drifted, after = scenario.first, scenario.drifted, scenario.after
    assert first is not None
    assert drifted is not None
    assert after is not None
    # the month as the flows left it reconciles clean, every check having compared records
    assert first.breaks == (), [b.detail for b in first.breaks]
    assert set(first.counts) == {"presence", "time", "money", "invoices", "payments"}
    assert all(sum(c.values()) > 0 for c in first.counts.values())
    # recall and precision: exactly the injected breaks
    assert _breaks(drifted) == {
        ("time", "missing", "tryton"),
        ("money", "divergent", "stripe"),
        ("invoices", "duplicate", "tryton"),
        ("presence", "orphan", "harvest"),
        ("payments", "duplicate", "tryton"),
    }, [b.detail for b in drifted.breaks]
    assert len(drifted.breaks) == 5
    assert drifted.counts["time"].get("in_flight", 0) >= 1  # the late approval
    money = next(b for b in drifted.breaks if b.check == "money")
    assert money.delta == "123.45"
    assert any(d.field.startswith("item ") for d in money.diffs)
    missing = next(b for b in drifted.breaks if b.check == "time")
    assert missing.repair == "redrive"
    assert missing.redrive_of in missing.journal
    # the dry run said what it would call, and the repair made the line once, not twice
    assert any("idempotency key harvest:time_entry:" in c for c in scenario.dry_run_calls)
    assert scenario.lines_for_entry_after_repair == 1
    # the second run of the same scope is clean; the accepted breaks are listed as accepted
    assert after.breaks == (), [b.detail for b in after.breaks]
    assert len(after.accepted) == scenario.accepted == 4
    assert all(b.accepted is not None and b.accepted.by == "test:ops" for b in after.accepted)
    assert after.totals
    assert after.calls["harvest"] > 0
