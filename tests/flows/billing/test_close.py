"""Period close: an invoice waits for its client's entries still on their way, and one whose
entries are dead letters is held and flagged to finance instead of going out incomplete."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.flows.billing import BILLABLE_TIME, CLOSE_PERIOD, PAYLOADS, InvoiceState
from mediator.flows.rate_history import RateHistory, RatePeriod, update_rates
from mediator.journal import DeadLetterFilter
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from tests.flows.billing.support import ADMIN_TOKEN, Billing, ShiftedClock, running
from tests.flows.billing.test_month import AFTER_CLOSE

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the runtime per test


def first_billable(billing: Billing) -> dict[str, Any]:
    return next(e for e in billing.harvest("time_entries") if e["is_closed"] and e["billable"])


def client_of(billing: Billing, entry: dict[str, Any]) -> tuple[str, str]:
    """The firm key and the Stripe customer of an entry's client."""
    project = next(p for p in billing.harvest("projects") if p["id"] == entry["project_id"])
    key = next(k for k, v in billing.boxes.index.harvest.items() if v == project["client_id"])
    return key, billing.boxes.index.stripe[key]


async def invoice_state(billing: Billing, client: str) -> InvoiceState:
    saved = await billing.mediator.journal.load_flow("billing", f"invoice:{client}:2026-11")
    assert saved is not None
    return msgspec.json.decode(saved.state, type=InvoiceState)


async def test_a_close_waits_for_entries_still_in_the_journal(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(AFTER_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        late = first_billable(billing)
        late["is_closed"] = False  # not read by this poll
        await billing.poll()
        client, customer = client_of(billing, late)
        currency = next(c.currency for c in firm.clients if c.key == client)
        projects = {p["id"]: p for p in billing.harvest("projects")}
        # journaled but not delivered yet (as after a crash, before recovery)
        entry = TimeEntry(
            source_system="harvest",
            source_id=str(late["id"]),
            project_id=str(late["project_id"]),
            consultant_id=str(late["user_id"]),
            client_id=str(projects[late["project_id"]]["client_id"]),
            spent_on=datetime.date.fromisoformat(late["spent_date"]),
            hours=Decimal(str(late["hours"])),
            billable=True,
            approved=True,
            bill_rate=Money(amount=round(late["billable_rate"] * 100), currency=currency),
            updated_at=datetime.datetime.now(datetime.UTC),
        )
        await billing.mediator.journal.append(
            PAYLOADS.envelope(
                BILLABLE_TIME,
                entry,
                key=f"billing:project:{late['project_id']}",
                source="harvest",
                idempotency_key=f"harvest:time_entry:{late['id']}:late:billing",
                occurred_at=entry.updated_at or datetime.datetime.now(datetime.UTC),
            )
        )
        await billing.close()
        waiting = await invoice_state(billing, client)
        assert waiting.status == "draft"
        assert waiting.note == "waiting for 1 entries still being delivered"
        others = [i for i in billing.invoices() if i["customer"] != customer]
        assert others
        assert {i["status"] for i in others} == {"open"}  # the other clients went out
    late["is_closed"] = True
    async with running(firm, boxes, tmp_path, clock) as billing:  # recovery delivers it
        await billing.mediator.wait_idle()
        await billing.close()
        assert (await invoice_state(billing, client)).status == "finalized"
        assert {i["status"] for i in billing.invoices()} == {"open"}
        totals = {i["customer"]: i["total"] for i in billing.invoices()}
        assert totals == billing.expected()


async def test_dead_letters_hold_a_close_and_flag_it_until_resolved(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(AFTER_CLOSE)
    async with running(firm, boxes, tmp_path, clock, admin=True) as billing:
        unpriced = first_billable(billing)
        unpriced["billable_rate"] = None  # no rate in Harvest, and no rate history yet
        await billing.poll()
        [dead] = await billing.mediator.dead_letters(DeadLetterFilter(kind=BILLABLE_TIME))
        assert "has no rate in force" in str(dead.reason)
        client, customer = client_of(billing, unpriced)
        await billing.flush()
        await billing.close()
        [held] = await billing.mediator.dead_letters(DeadLetterFilter(kind=CLOSE_PERIOD))
        assert held.envelope.key == f"invoice:{client}:2026-11"
        assert dead.id in str(held.reason)
        assert "dead letters or parked" in str(held.reason)
        # the dead letter, and the entries of its project parked behind it
        held_back = (await invoice_state(billing, client)).held
        assert held_back[0] == dead.id
        assert len(held_back) == str(held.reason).count("(parked, ") + 1
        assert [i["status"] for i in billing.invoices(customer)] == ["draft"]  # not sent
        # flagged to finance on the admin API: the invoice's history says what holds it
        assert billing.mediator.admin_address is not None
        host, port = billing.mediator.admin_address
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with (
            aiohttp.ClientSession(f"http://{host}:{port}", headers=auth) as http,
            http.get(f"/entities/invoice:{client}:2026-11") as answer,
        ):
            assert answer.status == 200
            history = await answer.json()
        assert "open dead letter" in history["summary"]
        assert dead.id in history["summary"]
        [state] = [f for f in history["flows"] if f["flow"] == "billing"]
        assert json.loads(state["state"])["held"][0] == dead.id
        # finance adds the project's rates (as onboarding would write them: the team at the
        # rates Harvest has, the unpriced consultant as a reviewer), then replays both
        users = {v: k for k, v in boxes.index.harvest.items() if k.startswith("U-")}
        project = next(
            k
            for k, v in boxes.index.harvest.items()
            if v == unpriced["project_id"] and k.startswith("P-")
        )
        currency = next(c.currency for c in firm.clients if c.key == client)
        team = {
            users[e["user_id"]]: round(e["billable_rate"] * 100)
            for e in billing.harvest("time_entries")
            if e["project_id"] == unpriced["project_id"] and e["billable_rate"] is not None
        }
        reviewer = users[unpriced["user_id"]]
        team.pop(reviewer, None)
        history = RateHistory(
            project_id=project,
            currency=currency,
            staffing={reviewer: "Reviewer"},
            periods=(
                RatePeriod(
                    role="Reviewer",
                    bill_rate=Money(amount=12_300, currency=currency),
                    effective_from=datetime.date(2026, 11, 1),
                    source="rate_card",
                ),
                *(
                    RatePeriod(
                        role="Consultant",
                        consultant_id=who,
                        bill_rate=Money(amount=rate, currency=currency),
                        effective_from=datetime.date(2026, 11, 1),
                        source="rate_card",
                    )
                    for who, rate in team.items()
                ),
            ),
        )
        await update_rates(billing.mediator.journal, project, lambda _: history)
        await billing.mediator.replay(DeadLetterFilter(ids=(dead.id,)), dry_run=False)
        await billing.mediator.wait_idle()
        await billing.mediator.replay(DeadLetterFilter(ids=(held.id,)), dry_run=False)
        await billing.mediator.wait_idle()
        assert await billing.mediator.dead_letters(DeadLetterFilter()) == []
        [invoice] = billing.invoices(customer)
        assert invoice["status"] == "open"
        expected = billing.expected()  # without the unpriced entry, which Harvest gives no rate
        hours = Decimal(str(unpriced["hours"]))
        assert invoice["total"] == expected[customer] + int(hours * 12_300)
        assert any("Reviewer" in line["description"] for line in invoice["lines"]["data"])


async def test_a_project_whose_first_entry_died_holds_the_close_though_none_was_booked(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    # Nothing of the project reached the invoice (its first entry died, the rest are parked
    # behind it, it has no expense): the close must still see it, not send the invoice short.
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(AFTER_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        unpriced = first_billable(billing)
        for entry in billing.harvest("time_entries"):  # whichever of them comes first
            if entry["project_id"] == unpriced["project_id"]:
                entry["billable_rate"] = None
        for expense in billing.harvest("expenses"):
            if expense["project_id"] == unpriced["project_id"]:
                expense.update(is_closed=False, approval_status="unsubmitted")
        await billing.poll()
        [dead] = await billing.mediator.dead_letters(DeadLetterFilter(kind=BILLABLE_TIME))
        client, customer = client_of(billing, unpriced)
        state = await invoice_state(billing, client)
        assert dead.envelope.key in state.keys
        assert not [i for i in state.items if f"|{unpriced['project_id']}|" in i]
        await billing.flush()
        await billing.close()
        [held] = await billing.mediator.dead_letters(DeadLetterFilter(kind=CLOSE_PERIOD))
        assert dead.id in str(held.reason)
        assert [i["status"] for i in billing.invoices(customer)] == ["draft"]  # not sent short
