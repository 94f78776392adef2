"""The reconciliation's match classes, one scenario at a time, on one running demo month.

Each test makes its drift behind mediator's back (in a vendor's own records, as a person in
its screens would) or through mediator's own front door (a late edit polled from Harvest),
runs the checks it concerns, asserts what they say about the entities it touched, and puts
back what it broke where the next test would trip on it. The month is made once for the
module: the scenarios do not touch each other's entities.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from mediator.demo.wiring import POLLER
from mediator.journal import DeadLetterFilter, EntryState
from mediator.reconciliation import Break, Options, Report
from mediator.sandbox.faults import FaultPlan
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
    # its line doubled in the ERP too: a duplicate, which no replay of that correction undoes
    lines: dict[int, Record] = _tryton(month).tables["timesheet.line"]
    copy_id = max(lines) + 1
    lines[copy_id] = {**line, "id": copy_id}
    try:
        doubled = await mediator.reconciliation.reconcile(month.period, ["time"])
        [duplicate] = _of(doubled, f"time_entry:{entry['id']}")
        assert duplicate.match == "duplicate"
        assert duplicate.dead_letters == (letter,)  # linked, for the person who settles it
        assert duplicate.repair == "accept"
    finally:
        del lines[copy_id]


async def _quiet_project(month: Month) -> int:
    """A project of the month with no dead letter (whose entries are not parked)."""
    for project in sorted(_harvest(month).tables["projects"]):
        if not _entries(month, project_id=project, approval_status="approved"):
            continue
        where = DeadLetterFilter(entity=f"project:{project}")
        if not await month.mediator.dead_letters(where):
            return int(project)
    raise AssertionError("every project of the month has a dead letter")


def _log_time(month: Month, project: int, user: int, day: str, hours: float) -> int:
    store = _harvest(month)
    [internal] = store.find("tasks", name="Internal")  # not billable: billing leaves it be
    entry = store.create(
        "time_entries",
        {
            "project_id": project,
            "task_id": internal["id"],
            "user_id": user,
            "spent_date": f"{month.period}-{day}",
            "hours": hours,
        },
    )
    store.approve("time_entries", entry["id"])
    return int(entry["id"])


async def test_a_dead_letter_is_replayed_once_its_cause_is_fixed_and_parked_time_is_in_flight(
    month: Month,
) -> None:
    mediator, reconciliation = month.mediator, month.mediator.reconciliation
    store = _harvest(month)
    project = await _quiet_project(month)
    # a consultant HR has not recorded yet: no ERP employee, so the line's post dies
    hire = store.create(
        "users", {"first_name": "Late", "last_name": "Hire", "email": "late.hire@example.com"}
    )
    store.create("user_assignments", {"project_id": project, "user_id": hire["id"]})
    late = _log_time(month, project, hire["id"], "09", 3.0)
    await mediator.poll(POLLER)
    await mediator.wait_idle()
    # the project's next entry waits behind that dead letter (parked): in flight, no break
    people = {
        int(x.system_id)
        for x in await mediator.reader.xrefs_of_type("consultant")
        if x.system == "harvest"
    }
    colleague = next(
        a["user_id"]
        for a in store.find("user_assignments", project_id=project)
        if a["user_id"] in people
    )
    parked = _log_time(month, project, colleague, "10", 1.25)
    await mediator.poll(POLLER)
    await mediator.wait_idle()
    report = await reconciliation.reconcile(month.period, ["time"])
    [missing] = _of(report, f"time_entry:{late}")
    assert _of(report, f"time_entry:{parked}") == []
    waiting = (await mediator.reader.open_by_keys([f"project:{project}"]))[f"project:{project}"]
    assert {
        e.state
        for e in waiting
        if e.envelope.idempotency_key.startswith(f"harvest:time_entry:{parked}:")
    } == {EntryState.PARKED}
    assert report.counts["time"]["in_flight"] >= 1
    assert (missing.match, missing.repair, missing.system) == ("missing", "replay", "tryton")
    [letter] = missing.dead_letters
    dead = await mediator.reader.entry(letter)
    assert dead is not None
    assert "has no ERP record" in str(dead.reason)
    assert letter in missing.journal
    dry = await reconciliation.repair(report.run_id, breaks=[missing.id])
    [step] = dry.steps
    assert step.action == "replay"
    assert step.calls[0].startswith(f"journal: replay dead letter {letter}")
    assert f"harvest:time_entry:{late}:" in step.calls[0]
    # HR records the hire; the replay posts the line and lets the parked entry go on
    db = _tryton(month)
    [party] = db.create("party.party", [{"name": "Late Hire", "code": "late-hire"}])
    company = month.boxes.tryton.setup.company  # type: ignore[union-attr]  # started above
    [employee] = db.create(
        "company.employee",
        [{"party": party, "company": company, "start_date": datetime.date(2020, 1, 1)}],
    )
    await mediator.journal.record_xref("consultant", "late-hire", "harvest", str(hire["id"]))
    await mediator.journal.record_xref("consultant", "late-hire", "tryton", str(employee))
    done = await reconciliation.repair(
        report.run_id, breaks=[missing.id], dry_run=False, by="test:ops", reason="HR caught up"
    )
    assert (done.steps[0].done, done.steps[0].outcome) == (True, "replayed 1 of 1 dead letter(s)")
    await mediator.wait_idle()
    # repairing the same run again sends nothing, and says so
    twice = await reconciliation.repair(
        report.run_id, breaks=[missing.id], dry_run=False, by="test:ops", reason="HR caught up"
    )
    assert (twice.steps[0].done, twice.steps[0].outcome) == (
        False,
        "replayed 0 of 1 dead letter(s)",
    )
    assert _line_of(month, late)["id"]
    assert _line_of(month, parked)["id"]
    after = await reconciliation.reconcile(month.period, ["time"])
    assert _of(after, f"time_entry:{late}") == []
    assert _of(after, f"time_entry:{parked}") == []
    status, page = await month.call("GET", "/audit", role="viewer", params={"limit": "500"})
    assert status == 200
    replays = [a for a in page["items"] if a["action"] == "replay" and a["who"] == "test:ops"]
    assert replays
    assert {(a["reason"], a["target"]) for a in replays} == {("HR caught up", letter)}


async def test_a_doubled_erp_line_is_a_duplicate_and_one_for_an_unapproved_entry_an_orphan(
    month: Month,
) -> None:
    reconciliation = month.mediator.reconciliation
    lines: dict[int, Record] = _tryton(month).tables["timesheet.line"]
    project = await _quiet_project(month)
    doubled_entry, other = _entries(month, project_id=project, approval_status="approved")[:2]
    unapproved = next(e for e in _entries(month) if e["approval_status"] != "approved")
    original = _line_of(month, doubled_entry["id"])
    before = _counted(await reconciliation.reconcile(month.period, ["time"]))
    copy_id, orphan_id = max(lines) + 1, max(lines) + 2
    lines[copy_id] = {**original, "id": copy_id}
    source = _line_of(month, other["id"])
    lines[orphan_id] = {
        **source,
        "id": orphan_id,
        "description": re.sub(
            r"harvest:\d+:", f"harvest:{unapproved['id']}:", str(source["description"])
        ),
    }
    try:
        report = await reconciliation.reconcile(month.period, ["time"])
        [duplicate] = _of(report, f"time_entry:{doubled_entry['id']}")
        assert (duplicate.match, duplicate.system, duplicate.repair) == (
            "duplicate",
            "tryton",
            "accept",
        )
        assert f"{original['id']}, {copy_id}" in duplicate.detail
        [orphan] = _of(report, f"time_entry:{unapproved['id']}")
        assert (orphan.match, orphan.repair) == ("orphan", "accept")
        assert f"ERP line {orphan_id}" in orphan.detail
        assert _of(report, f"time_entry:{other['id']}") == []  # its own line still matches
        counted = _counted(report)
        assert counted[("tryton", "timesheet lines")] == before[("tryton", "timesheet lines")] + 2
        assert (
            counted[("harvest", "approved time entries")]
            == before[("harvest", "approved time entries")]
        )
    finally:
        del lines[copy_id], lines[orphan_id]
    after = await reconciliation.reconcile(month.period, ["time"])
    assert not {b.match for b in after.breaks} & {"duplicate", "orphan"}


def _counted(report: Report) -> dict[tuple[str, str], int]:
    return {(t.system, t.what): t.count for t in report.totals}


# -- invoices: pending approval is in flight ----------------------------------------------------


async def test_an_invoice_waiting_for_approval_is_in_flight_not_missing(month: Month) -> None:
    mediator, reconciliation = month.mediator, month.mediator.reconciliation
    receivables: dict[int, Record] = _tryton(month).tables["account.invoice"]
    receivable = next(
        r for r in receivables.values() if str(r.get("reference", "")).startswith("in_")
    )
    stripe_id, state = str(receivable["reference"]), receivable["state"]
    entity = f"invoice:{stripe_id}"
    receivable["state"] = "cancelled"  # as good as gone: no receivable for the invoice
    try:
        report = await reconciliation.reconcile(month.period, ["invoices"])
        [missing] = _of(report, entity)
        assert (missing.match, missing.system) == ("missing", "tryton")
        waiting = report.counts["invoices"].get("in_flight", 0)
        await mediator.request_approval(
            flow="receivables", entity=entity, what=f"post {stripe_id} to the ledger"
        )
        pending = await reconciliation.reconcile(month.period, ["invoices"])
        assert _of(pending, entity) == []
        assert pending.counts["invoices"]["in_flight"] == waiting + 1
    finally:
        receivable["state"] = state
    assert _of(await reconciliation.reconcile(month.period, ["invoices"]), entity) == []


# -- presence: a customer deleted, another tagged with the same account ------------------------


async def test_a_deleted_stripe_customer_is_missing_and_a_second_one_a_duplicate(
    month: Month,
) -> None:
    reconciliation = month.mediator.reconciliation
    stripe = _stripe(month)
    clients: dict[str, dict[str, str]] = {}
    for xref in await month.mediator.reader.xrefs_of_type("client"):
        clients.setdefault(xref.canonical_id, {})[xref.system] = xref.system_id
    (gone, gone_ids), (doubled, doubled_ids) = sorted(clients.items())[:2]
    stripe.delete_customer(gone_ids["stripe"])
    tag = stripe.customers[doubled_ids["stripe"]]["metadata"]["mediator_client"]
    second = stripe.create_customer(
        {"name": "Same account again", "metadata": {"mediator_client": tag}}, announce=False
    )
    report = await reconciliation.reconcile(month.period, ["presence"])
    [missing] = _of(report, f"client:{gone}")
    assert (missing.match, missing.system, missing.repair) == ("missing", "stripe", "accept")
    assert gone_ids["stripe"] in missing.detail
    [duplicate] = _of(report, f"client:{doubled}")
    assert (duplicate.match, duplicate.system) == ("duplicate", "stripe")
    assert second["id"] in duplicate.detail
    assert len(report.breaks) == 2, [b.detail for b in report.breaks]
    totals = {(t.system, t.what): t.count for t in report.totals}
    assert totals[("stripe", "clients")] == len(clients)  # what the xref map says it has


async def test_a_receivable_whose_post_was_refused_links_its_dead_letter_and_is_replayed(
    month: Month,
) -> None:
    mediator, reconciliation = month.mediator, month.mediator.reconciliation
    stripe, db = _stripe(month), _tryton(month)
    [customer] = [
        x.system_id
        for x in await mediator.reader.xrefs_of_type("client")
        if x.system == "stripe" and x.system_id in stripe.customers
    ][:1]
    invoice = stripe.create_invoice(
        {"customer": customer, "metadata": {"mediator_period": month.period}},
        include_pending=False,
    )
    stripe.create_invoiceitem(
        {
            "customer": customer,
            "currency": "usd",
            "amount": 12_500,
            "quantity": 1,
            "unit_amount": 12_500,
            "unit_amount_decimal": "12500",
            "description": "Workshop",
        },
        invoice["id"],
    )
    # finance closed the ERP's period of today: Tryton refuses to post the receivable
    today = datetime.datetime.now(datetime.UTC).date()
    company = next(iter(db.tables["company.company"]))
    [closed] = db.create(
        "account.period",
        [
            {
                "name": "Closed for the audit",
                "company": company,
                "start_date": today - datetime.timedelta(days=1),
                "end_date": today + datetime.timedelta(days=1),
                "state": "close",
            }
        ],
    )
    stripe.finalize(invoice["id"])
    await mediator.poll("stripe_events")
    await mediator.wait_idle()
    entity = f"invoice:{invoice['id']}"
    [letter] = await mediator.dead_letters(DeadLetterFilter(entity=entity))
    assert "reopen the period" in str(letter.reason)
    report = await reconciliation.reconcile(month.period, ["invoices"])
    [broken] = _of(report, entity)
    assert broken.match == "divergent"
    assert [(d.field, d.expected) for d in broken.diffs] == [("state", "posted")]
    assert broken.dead_letters == (letter.id,)
    assert broken.repair == "replay"
    # finance reopens it; the replay posts the receivable the first attempt left in draft
    db.tables["account.period"][closed]["state"] = "open"
    done = await reconciliation.repair(
        report.run_id, breaks=[broken.id], dry_run=False, by="test:ops", reason="reopened"
    )
    assert done.steps[0].done
    await mediator.wait_idle()
    after = await reconciliation.reconcile(month.period, ["invoices"])
    assert _of(after, entity) == []
    receivables = [
        r for r in db.tables["account.invoice"].values() if r.get("reference") == invoice["id"]
    ]
    assert [r["state"] for r in receivables] == ["posted"]


# -- payments: the CRM told another amount, a payment gone from the ERP -------------------------


async def test_a_crm_paid_amount_that_differs_and_an_erp_payment_gone_are_breaks(
    month: Month,
) -> None:
    reconciliation = month.mediator.reconciliation
    assert month.boxes.salesforce is not None
    crm = month.boxes.salesforce.store
    told = next(o for o in crm.records("Opportunity") if o.get("Invoice_Number__c"))
    paid = Decimal(str(told["Amount_Paid__c"]))
    stripe_id = next(
        i["id"]
        for i in _stripe(month).invoices.values()
        if i["number"] == told["Invoice_Number__c"]
    )
    opportunity = str(told["Id"])
    crm.update("Opportunity", opportunity, {"Amount_Paid__c": float(paid + 10)})
    receivables: dict[int, Record] = _tryton(month).tables["account.invoice"]
    settled = next(
        r for r in receivables.values() if r["state"] == "paid" and r["reference"] != stripe_id
    )
    saved = dict(settled)
    settled.update(state="posted", paid_amount=Decimal("0.00"))
    try:
        report = await reconciliation.reconcile(month.period, ["payments"])
        [divergent] = _of(report, f"invoice:{stripe_id}")
        assert (divergent.match, divergent.system) == ("divergent", "salesforce")
        assert [d.field for d in divergent.diffs] == ["Amount_Paid__c"]
        assert Decimal(str(divergent.delta)) == 10
        [gone] = _of(report, f"invoice:{settled['reference']}")
        assert (gone.match, gone.system) == ("missing", "tryton")
        assert [(d.field, d.found) for d in gone.diffs] == [("paid", "0.00")]
        assert report.totals
    finally:
        crm.update("Opportunity", opportunity, {"Amount_Paid__c": float(paid)})
        settled.clear()
        settled.update(saved)
    after = await reconciliation.reconcile(month.period, ["payments"])
    assert after.breaks == ()


# -- a system that fails the reads --------------------------------------------------------------


async def test_a_system_that_refuses_the_reads_is_a_503_naming_it_not_a_500(month: Month) -> None:
    assert month.boxes.harvest is not None
    faults = month.boxes.harvest.faults
    faults.install(FaultPlan(error_rate=1.0, error_status=400, paths=("/v2/clients",)))
    try:
        status, problem = await month.call(
            "POST", "/reconciliation/runs", json={"period": month.period, "scope": ["presence"]}
        )
    finally:
        faults.install(FaultPlan())
    assert status == 503, problem
    assert "harvest" in problem["detail"]
    status, report = await month.call(
        "POST", "/reconciliation/runs", json={"period": month.period, "scope": ["presence"]}
    )
    assert status == 200, report
