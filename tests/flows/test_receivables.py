"""Invoice finalized → ERP receivable, through a Mediator, Stripe's webhooks and Tryton."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from mediator.flows.receivables import FLOW
from mediator.journal import DeadLetterFilter
from tests.flows.finance_support import Finance, open_finance

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def finance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Finance]:
    async with open_finance(tmp_path, monkeypatch) as running:
        yield running


async def test_a_finalized_invoice_becomes_one_posted_receivable_with_equal_totals(
    finance: Finance,
) -> None:
    invoice = finance.invoice([120_000, 30_050])
    finance.stripe.finalize(invoice)
    await finance.settle()

    [posted] = finance.tryton_invoices()
    assert posted["reference"] == invoice
    assert posted["state"] == "posted"
    assert posted["party"] == finance.client.party
    assert finance.tryton_total(posted) == Decimal("1500.50")
    xref = await finance.mediator.journal.xref_to("invoice", invoice, "tryton")
    assert xref is not None and xref.system_id == str(posted["id"])
    saved = await finance.mediator.journal.load_flow(FLOW, invoice)
    assert saved is not None and b'"status":"done"' in saved.state


async def test_a_repeated_or_replayed_event_posts_nothing_twice(finance: Finance) -> None:
    invoice = finance.invoice([50_000])
    finance.stripe.finalize(invoice)
    await finance.settle()
    [event] = [e for e in finance.stripe.events.values() if e["type"] == "invoice.finalized"]
    assert finance.boxes.stripe is not None and finance.boxes.stripe.webhooks is not None
    body = _event_body(finance, str(event["id"]))
    finance.boxes.stripe.webhooks.enqueue(str(event["id"]), body)  # Stripe delivers it again
    await finance.settle()
    report = await finance.mediator.poll("stripe_events")  # and the feed has it too
    await finance.settle()

    assert report.duplicates >= 1
    assert report.journaled == 0
    assert len(finance.tryton_invoices()) == 1


async def test_a_client_not_onboarded_is_a_dead_letter_for_finance_naming_it(
    finance: Finance,
) -> None:
    stranger = finance.stripe.create_customer({"name": "Stranger"}, announce=False)
    draft = finance.stripe.create_invoice(
        {"customer": stranger["id"], "currency": "usd"}, include_pending=False
    )
    finance.stripe.create_invoiceitem(
        {"customer": stranger["id"], "amount": 1000, "currency": "usd", "quantity": 1}, str(draft["id"])
    )
    finance.stripe.finalize(str(draft["id"]))
    await finance.settle()

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "MissingReference"
    assert f"stripe client {stranger['id']}: " in str(dead.reason)
    assert "not in the xref map (not onboarded yet?)" in str(dead.reason)
    assert finance.tryton_invoices() == []


def _event_body(finance: Finance, event_id: str) -> bytes:
    return json.dumps(finance.stripe.events[event_id]).encode()
