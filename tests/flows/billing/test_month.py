"""A generated month through the Mediator: billed once, at the right rate, on one draft per
client and period, finalized at the period's close."""

from __future__ import annotations

import datetime
import zoneinfo
from pathlib import Path

import pytest

from mediator.flows.billed_periods import load_billed_period
from mediator.flows.billing import read_billed_period
from mediator.journal import DeadLetterFilter
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from tests.flows.billing.support import ShiftedClock, running

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the runtime per test

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
#: the generated month is November 2026; its last business day is Monday the 30th
BEFORE_CLOSE = datetime.datetime(2026, 11, 30, 17, 0, tzinfo=BERLIN)
AFTER_CLOSE = datetime.datetime(2026, 11, 30, 18, 30, tzinfo=BERLIN)


async def test_a_month_is_billed_once_at_its_rates_and_closed_at_the_cutoff(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(BEFORE_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        await billing.poll()
        assert await billing.mediator.dead_letters(DeadLetterFilter()) == []
        assert billing.stripe_writes() == 0  # a delivery only books: no Stripe call
        await billing.flush()
        expected = billing.expected()
        drafts = billing.invoices()
        assert {i["customer"]: i["total"] for i in drafts} == expected
        assert {i["status"] for i in drafts} == {"draft"}
        for invoice in drafts:
            assert invoice["collection_method"] == "send_invoice"
            assert invoice["auto_advance"] is False
            assert invoice["days_until_due"] == 45
            assert invoice["metadata"]["mediator_period"] == "2026-11"
        await billing.flush()  # nothing changed: nothing written
        writes = billing.stripe_writes()
        await billing.close()  # before the cut-off: nothing closes
        assert {i["status"] for i in billing.invoices()} == {"draft"}
        clock.at(AFTER_CLOSE)
        await billing.close()
        assert billing.stripe_writes() == writes + len(drafts)  # one finalize each
        finalized = billing.invoices()
        assert {i["customer"]: i["total"] for i in finalized} == expected
        assert {i["status"] for i in finalized} == {"open"}
        assert all(i["number"] for i in finalized)
        # each billable hour once: the billed periods name every approved billable entry once
        billed: list[str] = []
        for client in {c.key for c in firm.clients if c.key in boxes.index.stripe}:
            period = await read_billed_period(billing.mediator.journal, client, "2026-11")
            if period is not None:
                assert period.status == "finalized"
                billed += [e.entry_id for e in period.entries]
                # and recorded where the other flows (change orders) read what was invoiced
                shared = await load_billed_period(billing.mediator.journal, client, "2026-11")
                assert shared is not None
                assert shared.status == "finalized"
                assert [e.entry_id for e in shared.entries] == [e.entry_id for e in period.entries]
        approved = [e for e in billing.harvest("time_entries") if e["is_closed"]]
        assert sorted(billed) == sorted(f"time:{e['id']}" for e in approved if e["billable"])
        # non-billable entries never reached billing (their ERP lines are there all the same)
        never = {str(e["id"]) for e in approved if not e["billable"]}
        assert never
        assert not any(t.endswith(tuple(never)) for t in billed)
        # every delivery to billing: the billable versions, the expenses, a flush and a close
        # per invoice (the second flush and the early close journaled nothing)
        delivered = billing.mediator.statistics().throughput["billing"].delivered
        expenses = [x for x in billing.harvest("expenses") if x["is_closed"] and x["billable"]]
        assert delivered == len(billed) + len(expenses) + 2 * len(drafts)
