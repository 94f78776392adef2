"""Invoice finalized → ERP receivable, through a Mediator, Stripe's webhooks and Tryton."""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from mediator.flows.receivables import FLOW
from mediator.journal import DeadLetterFilter, EntryState
from tests.flows.finance_support import MONDAY_10, Finance, open_finance

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
    assert xref is not None
    assert xref.system_id == str(posted["id"])
    saved = await finance.mediator.journal.load_flow(FLOW, invoice)
    assert saved is not None
    assert b'"status":"done"' in saved.state


async def test_a_repeated_or_replayed_event_posts_nothing_twice(finance: Finance) -> None:
    invoice = finance.invoice([50_000])
    finance.stripe.finalize(invoice)
    await finance.settle()
    [event] = [e for e in finance.stripe.events.values() if e["type"] == "invoice.finalized"]
    assert finance.boxes.stripe is not None
    assert finance.boxes.stripe.webhooks is not None
    body = _event_body(finance, str(event["id"]))
    finance.boxes.stripe.webhooks.enqueue(str(event["id"]), body)  # Stripe delivers it again
    await finance.settle()
    report = await finance.run(finance.mediator.poll("stripe_events"))  # and the feed has it too
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
        {"customer": stranger["id"], "amount": 1000, "currency": "usd", "quantity": 1},
        str(draft["id"]),
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


#: the finance window of a firm that posts on weekdays from 09:00 to 17:00 UTC
OFFICE_HOURS = """
[policies.windows.finance]
zone = "UTC"
opens = "09:00"
closes = "17:00"
"""


async def test_outside_the_window_it_is_held_then_posted_when_the_window_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monday_18 = MONDAY_10 + 8 * 3600
    async with open_finance(tmp_path, monkeypatch, extra=OFFICE_HOURS, start=monday_18) as f:
        invoice = f.invoice([80_000])
        f.stripe.finalize(invoice)
        await f.settle()

        assert f.tryton_invoices() == []
        saved = await f.mediator.journal.load_flow(FLOW, invoice)
        assert saved is not None
        assert b"held by posting window finance until 2026-11-03T09:00:00+00:00" in saved.state
        [held] = (await f.mediator.reader.history(f"invoice:{invoice}")).entries
        assert held.state is EntryState.RETRY
        assert held.due_at == MONDAY_10 + 23 * 3600  # Tuesday 09:00
        assert await f.mediator.dead_letters(DeadLetterFilter()) == []

        await f.advance(MONDAY_10 + 23 * 3600 - f.clock.time())  # to Tuesday 09:00

        [posted] = f.tryton_invoices()
        assert posted["state"] == "posted"
        assert f.clock.time() >= MONDAY_10 + 23 * 3600


async def test_above_the_amount_it_waits_for_an_approval_then_posts(finance: Finance) -> None:
    invoice = finance.invoice([6_000_000])  # 60,000.00: the shipped rule holds 50,000.00 and up
    finance.stripe.finalize(invoice)
    await finance.settle()

    assert finance.tryton_invoices() == []
    [pending] = await finance.mediator.reader.approvals(state="pending")
    assert (pending.flow, pending.entity) == ("receivables", f"invoice:{invoice}")
    assert (pending.amount, pending.currency) == (6_000_000, "USD")
    saved = await finance.mediator.journal.load_flow(FLOW, invoice)
    assert saved is not None
    assert f"waiting for approval {pending.id}".encode() in saved.state

    await finance.mediator.decide_approval(pending.id, approve=True, reason="checked", by="ana")
    await finance.settle()

    [posted] = finance.tryton_invoices()
    assert posted["state"] == "posted"
    assert finance.tryton_total(posted) == Decimal("60000.00")


async def test_a_rejected_approval_posts_nothing_and_says_who(finance: Finance) -> None:
    invoice = finance.invoice([7_500_000])
    finance.stripe.finalize(invoice)
    await finance.settle()
    [pending] = await finance.mediator.reader.approvals(state="pending")
    await finance.mediator.decide_approval(pending.id, approve=False, reason="wrong", by="bo")
    await finance.settle()

    assert finance.tryton_invoices() == []
    saved = await finance.mediator.journal.load_flow(FLOW, invoice)
    assert saved is not None
    assert b'"status":"rejected"' in saved.state
    assert b"rejected by bo: wrong" in saved.state


async def test_a_closed_erp_period_is_an_exception_for_finance(finance: Finance) -> None:
    assert finance.boxes.tryton is not None
    db = finance.boxes.tryton.db
    db.create(
        "account.period",
        [
            {
                "name": "2026-11",
                "company": finance.boxes.tryton.setup.company,
                "start_date": datetime.date(2026, 11, 1),
                "end_date": datetime.date(2026, 11, 30),
                "state": "close",
            }
        ],
    )
    invoice = finance.invoice([25_000])
    finance.stripe.finalize(invoice)
    await finance.settle()

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "BusinessRejected"
    assert f"receivable of Stripe invoice {invoice}: Tryton refused to post it" in str(dead.reason)
    assert (
        'you must reopen the period "2026-11" of company "Sandbox Consulting" for the date '
        '"11/02/2026".' in str(dead.reason)
    )
    assert [flow.owner for flow in finance.mediator.flows if flow.name == FLOW] == ["finance"]
    [draft] = finance.tryton_invoices()
    assert draft["state"] == "validated"  # nothing posted; finance reopens the period, replays


async def test_an_invoice_in_another_currency_than_the_books_is_refused_for_finance(
    finance: Finance,
) -> None:
    draft = finance.stripe.create_invoice(
        {"customer": finance.client.customer, "currency": "eur"}, include_pending=False
    )
    finance.stripe.create_invoiceitem(
        {"customer": finance.client.customer, "amount": 9_900, "currency": "eur", "quantity": 1},
        str(draft["id"]),
    )
    finance.stripe.finalize(str(draft["id"]))
    await finance.settle()

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "BusinessRejected"
    assert "billed in EUR; the ERP company keeps its books in USD" in str(dead.reason)
    assert finance.tryton_invoices() == []


async def test_the_revenue_account_follows_the_invoices_service_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = "\n[flows.receivables.options]\nrevenue_accounts = { Cloud = 4 }\n"
    async with open_finance(tmp_path, monkeypatch, extra=options) as f:
        assert f.boxes.tryton is not None
        db = f.boxes.tryton.db
        [cloud] = db.create(
            "account.account",
            [{"name": "Cloud Revenue", "code": "4100", "type": 2, "company": 1}],  # type 2: Revenue
        )
        assert cloud == 4  # the id the options name: the sandbox's accounts are 1 to 3
        cloudy = f.invoice([10_000], service_line="Cloud")
        plain = f.invoice([20_000], service_line="Advisory")
        f.stripe.finalize(cloudy)
        f.stripe.finalize(plain)
        await f.settle()

        lines = db.tables["account.invoice.line"].values()
        by_invoice = {r["reference"]: r["id"] for r in f.tryton_invoices()}
        accounts = {
            reference: {line["account"] for line in lines if line["invoice"] == invoice}
            for reference, invoice in by_invoice.items()
        }
        assert accounts == {cloudy: {cloud}, plain: {f.boxes.tryton.setup.revenue}}


async def test_an_invoice_whose_total_is_not_its_lines_is_refused_not_posted_short(
    finance: Finance,
) -> None:
    invoice = finance.invoice([10_000])
    finance.stripe.invoices[invoice]["total"] = 11_900  # Stripe Tax added 19 %
    finance.stripe.finalize(invoice)
    await finance.settle()

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "BusinessRejected"
    # no Tryton tax is configured for the client's treatment: never posted without its tax
    assert "Stripe taxed it 19.00 USD" in str(dead.reason)
    assert "treatment 'standard'" in str(dead.reason)
    assert finance.tryton_invoices() == []


async def test_voided_before_posting_posts_nothing_after_posting_asks_for_a_credit_note(
    finance: Finance,
) -> None:
    held = finance.invoice([5_500_000])  # waits for an approval
    finance.stripe.finalize(held)
    posted = finance.invoice([12_000])
    finance.stripe.finalize(posted)
    await finance.settle()
    finance.stripe.void(held)
    finance.stripe.void(posted)
    await finance.settle()
    [pending] = await finance.mediator.reader.approvals(state="pending")
    await finance.mediator.decide_approval(pending.id, approve=True, reason="late", by="ana")
    await finance.settle()

    assert [r["reference"] for r in finance.tryton_invoices()] == [posted]
    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.envelope.key == f"invoice:{posted}"
    assert dead.error_class == "BusinessRejected"
    assert "voided in Stripe after it was posted: credit it in Tryton" in str(dead.reason)
    saved = await finance.mediator.journal.load_flow(FLOW, held)
    assert saved is not None
    assert b"voided in Stripe before it was posted" in saved.state
