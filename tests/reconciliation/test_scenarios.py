"""The reconciliation's match classes, one scenario at a time, on one running demo month.

Each test makes its drift behind mediator's back (in a vendor's own records, as a person in
its screens would) or through mediator's own front door (a late edit polled from Harvest),
runs the checks it concerns, asserts what they say about the entities it touched, and puts
back what it broke where the next test would trip on it. The month is made once for the
module: the scenarios do not touch each other's entities.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from mediator.demo.wiring import POLLER
from mediator.reconciliation import Break, Options, Report
from tests.reconciliation.support import Month, live_month

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

Record = dict[str, Any]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def month() -> AsyncIterator[Month]:
    async with live_month(seed=23, size=3) as running:
        report = await running.mediator.reconciliation.reconcile(running.period)
        assert report.breaks == (), [b.detail for b in report.breaks]
        yield running


def _harvest(month: Month) -> Any:
    assert month.boxes.harvest is not None
    return month.boxes.harvest.store


def _tryton(month: Month) -> Any:
    assert month.boxes.tryton is not None
    return month.boxes.tryton.db


def _stripe(month: Month) -> Any:
    assert month.boxes.stripe is not None
    return month.boxes.stripe.store


def _of(report: Report, entity: str) -> list[Break]:
    return [b for b in report.breaks if b.entity == entity]


def _time_items(month: Month) -> list[Record]:
    items: dict[str, Record] = _stripe(month).invoiceitems
    return [
        i
        for i in items.values()
        if str(i["metadata"].get("mediator_origin", "")).startswith("hour|")
    ]


def _entries(month: Month, **where: object) -> list[Record]:
    period = month.period
    return [
        e
        for e in _harvest(month).tables["time_entries"].values()
        if str(e["spent_date"]).startswith(period) and all(e.get(k) == v for k, v in where.items())
    ]


def _line_of(month: Month, entry_id: object) -> Record:
    tag = re.compile(rf"\[mediator harvest:{entry_id}:r\d+\]$")
    [line] = [
        line
        for line in _tryton(month).tables["timesheet.line"].values()
        if tag.search(str(line["description"]))
    ]
    return dict(line)


async def _client_of_item(month: Month, item: Record) -> str:
    for xref in await month.mediator.reader.xrefs_of_type("client"):
        if xref.system == "stripe" and xref.system_id == item["customer"]:
            return f"client:{xref.canonical_id}"
    raise AssertionError(f"no client has Stripe customer {item['customer']}")


# -- money: within tolerance, or not; a break's fingerprint and its acceptance ----------------


async def test_a_few_cents_are_within_tolerance_and_with_none_a_divergent_break(
    month: Month,
) -> None:
    reconciliation = month.mediator.reconciliation
    item = _time_items(month)[0]
    client = await _client_of_item(month, item)
    original = int(item["amount"])
    item["amount"] = original + 3
    try:
        report = await reconciliation.reconcile(month.period, ["money"])
        assert report.breaks == ()
        assert report.counts["money"]["tolerance"] == 1
        [tolerated] = report.tolerated
        assert (tolerated.entity, tolerated.currency, tolerated.delta) == (client, "USD", "0.03")
        # with no tolerance for dollars, the same 3 cents are a break, the item named
        reconciliation.options = Options(lag=0.0, tolerance={"USD": "0"})
        strict = await reconciliation.reconcile(month.period, ["money"])
        [divergent] = _of(strict, client)
        assert (divergent.match, divergent.delta) == ("divergent", "0.03")
        assert divergent.repair == "accept"
        assert [d.field for d in divergent.diffs] == [f"item {item['id']} amount"]
        assert strict.tolerated == ()
        # the same drift is the same break in the next run; accepted, it stays accepted ...
        again = await reconciliation.reconcile(month.period, ["money"])
        assert [b.id for b in _of(again, client)] == [divergent.id]
        await reconciliation.accept(again.run_id, divergent.id, reason="rounding", by="test:ops")
        accepted = await reconciliation.reconcile(month.period, ["money"])
        assert _of(accepted, client) == []
        assert [b.id for b in accepted.accepted] == [divergent.id]
        assert accepted.clean
        # ... only while it is the same: a cent more is another break, open
        item["amount"] = original + 4
        changed = await reconciliation.reconcile(month.period, ["money"])
        [moved] = _of(changed, client)
        assert moved.id != divergent.id
        assert moved.accepted is None
        assert moved.delta == "0.04"
    finally:
        item["amount"] = original
        reconciliation.options = Options(lag=0.0)
    assert (await reconciliation.reconcile(month.period, ["money"])).clean


async def test_an_accepted_shortfall_is_not_accepted_once_more_is_missing(month: Month) -> None:
    # no item tampered with, items deleted: only the amount tells one shortfall from another
    reconciliation = month.mediator.reconciliation
    items: dict[str, Record] = _stripe(month).invoiceitems
    first = _time_items(month)[0]
    client = await _client_of_item(month, first)
    others = [i for i in _time_items(month) if i["customer"] == first["customer"]][1:]
    assert others, "the scenario needs a client with two time items"
    second = others[0]
    removed = [items.pop(first["id"])]
    try:
        report = await reconciliation.reconcile(month.period, ["money"])
        [short] = _of(report, client)
        assert Decimal(str(short.delta)) == -Decimal(first["amount"]) / 100
        await reconciliation.accept(report.run_id, short.id, reason="credited", by="test:ops")
        removed.append(items.pop(second["id"]))
        more = await reconciliation.reconcile(month.period, ["money"])
        [shorter] = _of(more, client)
        assert shorter.id != short.id, "a larger shortfall is not the break that was accepted"
        assert shorter.accepted is None
    finally:
        for item in removed:
            items[item["id"]] = item
    assert (await reconciliation.reconcile(month.period, ["money"])).clean


# -- time: changed after delivery, a dead letter to replay, in flight, duplicate, orphan -------


async def test_an_entry_edited_after_its_line_was_posted_changed_after_delivery(
    month: Month,
) -> None:
    mediator = month.mediator
    store = _harvest(month)
    entry = next(e for e in _entries(month, approval_status="approved") if not e["billable"])
    line = _line_of(month, entry["id"])
    posted_hours = Decimal(str(entry["hours"])).quantize(Decimal("0.01"))
    # un-approved, edited, approved again: what Harvest's screens allow
    store.tables["time_entries"][entry["id"]].update(is_locked=False, approval_status="submitted")
    store.update("time_entries", entry["id"], {"hours": float(entry["hours"]) + 1.5})
    store.approve("time_entries", entry["id"])
    await mediator.poll(POLLER)
    await mediator.wait_idle()
    report = await mediator.reconciliation.reconcile(month.period, ["time"])
    [changed] = _of(report, f"time_entry:{entry['id']}")
    assert changed.match == "changed_after_delivery"
    assert changed.repair == "accept"  # a replay would be refused again: a person's to settle
    assert [d.field for d in changed.diffs] == ["hours"]
    assert changed.diffs[0].found == str(posted_hours)  # what the ERP line still says
    [letter] = changed.dead_letters
    stored = await mediator.reader.entry(letter)
    assert stored is not None
    assert "changed after ERP line" in str(stored.reason)
    assert letter in changed.journal
    assert str(line["id"]) in changed.detail
    repair = await mediator.reconciliation.repair(report.run_id, breaks=[changed.id])
    assert (repair.steps, repair.skipped) == ((), (changed.id,))
