"""Corrections as credit notes (``corrections = "credit_note"``): an entry lowered after its
invoice was finalized becomes one Stripe credit note on that invoice (the sent invoice itself
never changes); a raise still goes on the next invoice; nothing is credited twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediator.flows.billed_periods import load_billed_period
from mediator.flows.billing import read_billed_period
from mediator.flows.billing.credit_notes import CREDIT_NOTES
from mediator.flows.saga import SagaState
from mediator.journal import DeadLetterFilter
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from tests.flows.billing.support import Billing, ShiftedClock, running
from tests.flows.billing.test_corrections import billable, edit, item_posts
from tests.flows.billing.test_month import AFTER_CLOSE

#: billing's dead letters (the ERP's approved-time flow refuses corrections of posted lines)
BILLING = DeadLetterFilter(kind="psa.time_entry.billable")
pytestmark = pytest.mark.slow  # three sandboxes, a journal and the runtime per test


def notes(billing: Billing) -> list[dict[str, Any]]:
    assert billing.boxes.stripe is not None
    return list(billing.boxes.stripe.credit_notes.notes.values())


def cents(hours: Decimal, rate: object) -> int:
    return int((hours * Decimal(str(rate)) * 100).to_integral_value())


async def test_a_lowered_entry_is_credited_on_its_finalized_invoice_once(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    clock = ShiftedClock()
    clock.at(AFTER_CLOSE)
    async with running(firm, boxes, tmp_path, clock, corrections="credit_note") as billing:
        await billing.poll()
        await billing.close()
        sent = {i["id"]: i for i in billing.invoices()}
        assert {i["status"] for i in sent.values()} == {"open"}
        entry = next(e for e in billable(billing) if float(e["hours"]) >= 3)
        hours = Decimal(str(entry["hours"]))
        posts = len(item_posts(billing))
        edit(entry, 1, hours=float(hours - 2))
        await billing.poll()
        await billing.flush()
        assert await billing.mediator.dead_letters(BILLING) == []
        [note] = notes(billing)
        invoice = sent[note["invoice"]]
        assert note["total"] == cents(Decimal(2), entry["billable_rate"])
        assert note["metadata"]["mediator_origin"].startswith(f"time:{entry['id']}:credit:")
        assert "correction" in note["memo"].lower()
        # the sent invoice keeps its lines and total; what is left to pay is lower
        after = {i["id"]: i for i in billing.invoices()}
        assert after[invoice["id"]]["total"] == invoice["total"]
        assert after[invoice["id"]]["lines"] == invoice["lines"]
        assert after[invoice["id"]]["amount_remaining"] == invoice["total"] - note["total"]
        assert after[invoice["id"]]["pre_payment_credit_notes_amount"] == note["total"]
        assert set(after) == set(sent)  # no draft of the next period for it
        # the hours billed for November (what change orders back-bill) are net of the credit
        client = next(c for c, cus in boxes.index.stripe.items() if cus == invoice["customer"])
        november = await read_billed_period(billing.mediator.journal, client, "2026-11")
        assert november is not None
        mine = [e.hours for e in november.entries if e.entry_id == f"time:{entry['id']}"]
        assert sum(mine) == hours - 2
        shared = await load_billed_period(billing.mediator.journal, client, "2026-11")
        assert shared is not None
        assert sum(e.hours for e in shared.entries if e.entry_id == f"time:{entry['id']}") == (
            hours - 2
        )
        assert len(item_posts(billing)) == posts
        # read again (a poll that finds the same version), and a newer version with the same
        # hours: no second credit note
        await billing.poll()
        edit(entry, 2, notes="same hours, new version")
        await billing.poll()
        await billing.flush()
        assert len(notes(billing)) == 1
        # the credit's saga forgotten (a crash after Stripe answered, before it was saved): the
        # next delivery finds the credit note on the invoice by its origin instead of a second
        journal = billing.mediator.journal
        origin = note["metadata"]["mediator_origin"]
        saga = await journal.load_flow(CREDIT_NOTES, origin)
        assert saga is not None
        fresh = msgspec.json.encode(SagaState())
        assert await journal.save_flow(CREDIT_NOTES, origin, fresh, expected_version=saga.version)
        assert billing.boxes.stripe is not None
        requests = billing.boxes.stripe.requests
        posts = len(requests.matching("POST", "/v1/credit_notes"))
        edit(entry, 3, notes="and once more")
        await billing.poll()
        assert len(notes(billing)) == 1
        assert len(requests.matching("POST", "/v1/credit_notes")) == posts  # found, not re-sent
        assert requests.matching("GET", "/v1/credit_notes")
        found = await journal.load_flow(CREDIT_NOTES, origin)
        assert found is not None
        assert note["id"] in found.state.decode()
        # lowered again: a second credit note, for the new difference only
        edit(entry, 4, hours=float(hours - 3))
        await billing.poll()
        first, second = notes(billing)
        assert second["total"] == cents(Decimal(1), entry["billable_rate"])
        assert second["invoice"] == invoice["id"]
        # raised above what was billed: a credit note cannot add; the next invoice carries it
        edit(entry, 5, hours=float(hours + 1))
        await billing.poll()
        await billing.flush()
        assert len(notes(billing)) == 2
        [december] = [i for i in billing.invoices() if i["id"] not in sent]
        assert december["metadata"]["mediator_period"] == "2026-12"
        # what the finalized invoice still bills (hours − 3 after its credit notes) is reversed
        # and the new hours added: 4 h more, and the entry is billed hours + 1 in all
        assert december["total"] == cents(Decimal(4), entry["billable_rate"])
        billed = invoice["total"] - first["total"] - second["total"] + december["total"]
        assert billed == invoice["total"] + cents(Decimal(1), entry["billable_rate"])
        assert await billing.mediator.dead_letters(BILLING) == []
