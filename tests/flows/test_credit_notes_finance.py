"""Stripe credit notes in the books: each one a posted Tryton credit note (negative lines) for
the receivable's party; one issued before payment settled against the receivable, so an invoice
credited then paid for the rest is paid in Tryton; one issued after payment a refund for
finance. Nothing is posted or applied twice."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mediator.flows.receivable_credits import CREDIT_NOTES
from mediator.journal import DeadLetterFilter, EntryState
from tests.flows.finance_support import MONDAY_10, Finance, open_finance
from tests.flows.test_receivables import OFFICE_HOURS

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def finance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Finance]:
    async with open_finance(tmp_path, monkeypatch) as running:
        yield running


def tryton(finance: Finance, reference: str) -> list[dict[str, Any]]:
    return [r for r in finance.tryton_invoices() if r["reference"] == reference]


def credit(finance: Finance, invoice: str, **extra: Any) -> str:
    assert finance.boxes.stripe is not None
    note = finance.boxes.stripe.credit_notes.create(
        invoice,
        amount=None,
        lines=[("P-1 · Analyst · 2 h less", 15_000, 2)],
        memo="Correction",
        metadata={},
        reason=None,
        credit_amount=None,
        out_of_band_amount=extra.get("out_of_band_amount"),
    )
    return str(note["id"])


async def posted_invoice(finance: Finance, cents: list[int]) -> str:
    invoice = finance.invoice(cents)
    finance.stripe.finalize(invoice)
    await finance.settle()
    assert [r["state"] for r in tryton(finance, invoice)] == ["posted"]
    return invoice


async def test_a_credit_note_is_one_posted_negative_tryton_invoice(finance: Finance) -> None:
    invoice = await posted_invoice(finance, [100_000])
    note = credit(finance, invoice)
    await finance.settle()
    [posted] = tryton(finance, note)
    [receivable] = tryton(finance, invoice)
    assert posted["type"] == "out"
    # posted, then settled against the receivable by cash application at once
    assert (posted["state"], posted["paid_amount"]) == ("paid", Decimal("-300.00"))
    assert (receivable["state"], receivable["paid_amount"]) == ("posted", Decimal("300.00"))
    assert posted["party"] == receivable["party"] == finance.client.party
    assert finance.tryton_total(posted) == Decimal("-300.00")
    assert finance.boxes.tryton is not None
    lines = [line for line in finance.boxes.tryton.db.tables["account.invoice.line"].values()
             if line["invoice"] == posted["id"]]  # fmt: skip
    assert [(Decimal(str(line["quantity"])), line["unit_price"]) for line in lines] == [
        (Decimal(-2), Decimal("150.00"))
    ]
    # the events feed brings the same event again (a missed webhook caught up): nothing new
    await finance.run(finance.mediator.poll("stripe_events"))
    await finance.settle()
    assert len(tryton(finance, note)) == 1
    saga = await finance.mediator.journal.load_flow(CREDIT_NOTES, note)
    assert saga is not None
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []


async def test_credited_then_paid_for_the_rest_is_paid_in_tryton(finance: Finance) -> None:
    invoice = await posted_invoice(finance, [100_000])
    note = credit(finance, invoice)
    await finance.settle()
    assert finance.stripe.invoices[invoice]["amount_remaining"] == 70_000
    finance.stripe.pay(invoice, out_of_band=True)  # the client pays what is left: 700.00
    await finance.settle()
    assert finance.stripe.invoices[invoice]["amount_paid"] == 70_000
    [receivable] = tryton(finance, invoice)
    [credited] = tryton(finance, note)
    assert (receivable["state"], receivable["paid_amount"]) == ("paid", Decimal("1000.00"))
    assert (credited["state"], credited["paid_amount"]) == ("paid", Decimal("-300.00"))
    # everything again (the feed's duplicates): nothing applied twice
    await finance.run(finance.mediator.poll("stripe_events"))
    await finance.settle()
    assert tryton(finance, invoice)[0]["paid_amount"] == Decimal("1000.00")
    assert tryton(finance, note)[0]["paid_amount"] == Decimal("-300.00")
    assert finance.account()["Invoice_Status__c"] == "paid"
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []


async def test_a_credit_note_after_payment_is_a_refund_for_finance(finance: Finance) -> None:
    invoice = await posted_invoice(finance, [100_000])
    finance.stripe.pay(invoice, out_of_band=True)
    await finance.settle()
    note = credit(finance, invoice, out_of_band_amount=30_000)
    await finance.settle()
    [posted] = tryton(finance, note)
    assert posted["state"] == "posted"  # the ledger has the credit; the money is finance's
    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.envelope.key == f"credit_note:{note}"
    assert "refund 300.00 USD to Acme Consulting Client" in str(dead.reason)
    assert "pay it out in the ERP" in str(dead.reason)
    assert dead.error_class == "BusinessRejected"
    assert tryton(finance, invoice)[0]["paid_amount"] == Decimal("1000.00")
    # replayed (finance paid it out and replays it): told once, not again
    where = DeadLetterFilter(ids=(dead.envelope.id,))
    await finance.run(finance.mediator.replay(where, dry_run=False, reason="refund paid out"))
    await finance.settle()
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
    assert len(tryton(finance, note)) == 1


async def test_a_credit_note_before_its_receivable_is_posted_waits_for_it(
    finance: Finance,
) -> None:
    invoice = finance.invoice([100_000])
    finance.stripe.finalize(invoice)
    note = credit(finance, invoice)  # its event may well be handled before the invoice's
    await finance.settle()
    await finance.advance(120)  # a retry of the credit note falls due
    await finance.advance(600)
    [posted] = tryton(finance, note)
    [receivable] = tryton(finance, invoice)
    assert (posted["state"], posted["paid_amount"]) == ("paid", Decimal("-300.00"))
    assert (receivable["state"], receivable["paid_amount"]) == ("posted", Decimal("300.00"))
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []


async def test_outside_the_window_a_credit_note_is_held_then_posted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_finance(tmp_path, monkeypatch, extra=OFFICE_HOURS) as f:  # Monday 10:00
        invoice = await posted_invoice(f, [100_000])
        await f.advance(8 * 3600)  # Monday 18:00: the finance window is closed
        note = credit(f, invoice)
        await f.settle()
        assert tryton(f, note) == []
        saved = await f.mediator.journal.load_flow(CREDIT_NOTES, note)
        assert saved is not None
        assert b"held by posting window finance until 2026-11-03T09:00:00+00:00" in saved.state
        [held] = (await f.mediator.reader.history(f"credit_note:{note}")).entries
        assert held.state is EntryState.RETRY
        assert await f.mediator.dead_letters(DeadLetterFilter()) == []
        await f.advance(MONDAY_10 + 23 * 3600 - f.clock.time())  # to Tuesday 09:00
        [posted] = tryton(f, note)
        assert posted["state"] == "paid"  # posted, and settled against its receivable
        assert tryton(f, invoice)[0]["paid_amount"] == Decimal("300.00")
