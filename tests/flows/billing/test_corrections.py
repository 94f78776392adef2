"""Corrections: an entry edited after it reached billing updates its draft's aggregate; once
the invoice is finalized, the difference goes on the next period's invoice, never the sent one."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediator.codecs.canonical.money import Money
from mediator.flows.billing import ADJUSTMENT_APPROVED, PAYLOADS, Adjustment, read_billed_period
from mediator.flows.billing.ledger import invoice_entity
from mediator.flows.billing.state import INVOICE, InvoiceState
from mediator.journal import DeadLetterFilter
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from tests.flows.billing.support import Billing, ShiftedClock, running
from tests.flows.billing.test_month import AFTER_CLOSE, BEFORE_CLOSE

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the runtime per test


def edit(entry: dict[str, Any], days: int, **changes: object) -> None:
    """Change an approved entry in Harvest as an edit after approval does: a new version."""
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    entry.update(changes, updated_at=later.strftime("%Y-%m-%dT%H:%M:%SZ"))


def billable(billing: Billing) -> list[dict[str, Any]]:
    return [e for e in billing.harvest("time_entries") if e["is_closed"] and e["billable"]]


def item_posts(billing: Billing) -> list[str]:
    assert billing.boxes.stripe is not None
    return [r.path for r in billing.boxes.stripe.requests.matching("POST", "/v1/invoiceitems")]


async def test_an_edit_on_a_draft_updates_its_aggregate_item_in_place(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(BEFORE_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        await billing.poll()
        await billing.flush()
        items = {i["id"] for inv in billing.invoices() for i in inv["lines"]["data"]}
        posts = len(item_posts(billing))
        longer, dropped = billable(billing)[:2]
        edit(longer, 1, hours=float(longer["hours"]) + 1.5)
        edit(dropped, 1, billable=False)  # no longer billable: taken off the draft
        await billing.poll()
        await billing.flush()
        assert (
            await billing.mediator.dead_letters(DeadLetterFilter(kind="psa.time_entry.billable"))
            == []
        )
        drafts = billing.invoices()
        assert {i["customer"]: i["total"] for i in drafts} == billing.expected()
        assert {i["id"] for inv in drafts for i in inv["lines"]["data"]} == items  # no new item
        updates = item_posts(billing)[posts:]
        assert updates
        assert all(p.startswith("/v1/invoiceitems/ii_") for p in updates)
        assert len(updates) <= 2  # at most the two lines the entries are on


async def test_an_edit_after_finalization_goes_on_the_next_invoice(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(AFTER_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        await billing.poll()
        await billing.close()  # the close pushes the aggregates and finalizes
        sent = {i["id"]: (i["total"], len(i["lines"]["data"])) for i in billing.invoices()}
        assert sent
        assert {i["status"] for i in billing.invoices()} == {"open"}
        entry = billable(billing)[0]
        edit(entry, 1, hours=float(entry["hours"]) + 2)
        await billing.poll()
        await billing.flush()
        invoices = billing.invoices()
        # the sent invoices are as they were: the correction is a new draft of December
        assert {
            i["id"]: (i["total"], len(i["lines"]["data"])) for i in invoices if i["id"] in sent
        } == sent
        [december] = [i for i in invoices if i["id"] not in sent]
        assert december["status"] == "draft"
        assert december["metadata"]["mediator_period"] == "2026-12"
        [line] = december["lines"]["data"]
        assert line["amount"] == round(2 * float(entry["billable_rate"]) * 100)
        assert "correction for 2026-11" in line["description"]
        # an approved adjustment (a change order's back-billing) for November: on December's
        client = next(c for c, cus in boxes.index.stripe.items() if cus == december["customer"])
        currency = next(c.currency for c in firm.clients if c.key == client)
        adjustment = Adjustment(
            client_id=client,
            period="2026-11",
            description="Back-billing of change order CO-7",
            amount=Money(amount=50_000, currency=currency),
            source="change_order:CO-7",
        )
        for _ in range(2):  # delivered twice (a replay): billed once
            await billing.mediator.accept(
                PAYLOADS.envelope(
                    ADJUSTMENT_APPROVED,
                    adjustment,
                    key=f"opportunity:{client}",
                    source="mediator",
                    idempotency_key=f"{adjustment.source}:adjustment",
                    occurred_at=datetime.datetime.now(datetime.UTC),
                )
            )
        await billing.mediator.wait_idle()
        await billing.flush()
        [december] = [i for i in billing.invoices() if i["id"] not in sent]
        [back_billing] = [
            line for line in december["lines"]["data"] if "CO-7" in line["description"]
        ]
        assert back_billing["amount"] == 50_000
        assert december["total"] == line["amount"] + 50_000
        # the same change order adjusts another month too: both stand, neither replaces
        thirty = Money(amount=30_000, currency=currency)
        october = msgspec.structs.replace(adjustment, period="2026-12", amount=thirty)
        await billing.mediator.accept(
            PAYLOADS.envelope(
                ADJUSTMENT_APPROVED, october, key=f"opportunity:{client}", source="mediator",
                idempotency_key=f"{october.source}:{october.period}:adjustment",
                occurred_at=datetime.datetime.now(datetime.UTC),
            )
        )  # fmt: skip
        await billing.mediator.wait_idle()
        await billing.flush()
        [december] = [i for i in billing.invoices() if i["id"] not in sent]
        assert december["total"] == line["amount"] + 50_000 + 30_000
        totals: dict[str, int] = {}
        for invoice in billing.invoices():
            totals[invoice["customer"]] = totals.get(invoice["customer"], 0) + invoice["total"]
        expected = billing.expected()
        expected[december["customer"]] += 50_000 + 30_000
        assert totals == expected
        # the entry is on November's invoice with its first hours, December's carries the 2 h
        november = await read_billed_period(billing.mediator.journal, client, "2026-11")
        assert november is not None
        assert november.status == "finalized"
        [first] = [e for e in november.entries if e.entry_id == f"time:{entry['id']}"]
        assert float(first.hours) == float(entry["hours"]) - 2
        later = await read_billed_period(billing.mediator.journal, client, "2026-12")
        assert later is not None
        assert sorted(float(e.hours) for e in later.entries) == sorted(
            [float(entry["hours"]), -(float(entry["hours"]) - 2)]
        )


async def test_an_item_made_but_never_learnt_of_is_found_on_the_draft_not_made_twice(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    # A flush whose answers were lost (or whose other line failed): the invoice's state does
    # not know the items Stripe made. The next flush, with more hours on them, finds them on
    # the draft by their line and updates them: no second item, no refused idempotency key.
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(BEFORE_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        await billing.poll()
        await billing.flush()
        journal = billing.mediator.journal
        drafts = {i["id"]: len(i["lines"]["data"]) for i in billing.invoices()}
        for client in {c.key for c in firm.clients}:
            for period in ("2026-11",):
                entity = invoice_entity(client, period)
                saved = await journal.load_flow(INVOICE, entity)
                if saved is None:
                    continue
                state = msgspec.json.decode(saved.state, type=InvoiceState)
                forgot = msgspec.structs.replace(state, items={})  # as if never saved
                assert await journal.save_flow(
                    INVOICE, entity, msgspec.json.encode(forgot), expected_version=saved.version
                )
        longer = billable(billing)[0]
        edit(longer, 1, hours=float(longer["hours"]) + 2)
        await billing.poll()
        await billing.flush()
        dead = await billing.mediator.dead_letters(DeadLetterFilter())
        assert [d for d in dead if d.envelope.kind != "psa.time_entry.approved"] == []  # the
        # ERP's correction waits for a person (approved_time), billing's went through
        after = billing.invoices()
        assert {i["id"]: len(i["lines"]["data"]) for i in after} == drafts  # none made twice
        assert {i["customer"]: i["total"] for i in after} == billing.expected()
