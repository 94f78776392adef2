"""Payment → cash application: Stripe's payments applied to the Tryton receivable, the CRM told."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mediator.flows.cash_application import FLOW
from mediator.journal import DeadLetterFilter
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.stripe.webhooks import sign
from tests.flows.finance_support import SECRET, Finance, free_port, open_finance

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def finance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Finance]:
    async with open_finance(tmp_path, monkeypatch) as running:
        yield running


def opportunity(finance: Finance) -> str:
    assert finance.boxes.salesforce is not None
    return finance.boxes.salesforce.store.create(
        "Opportunity",
        {
            "Name": "Acme relaunch",
            "StageName": "Closed Won",
            "CloseDate": "2026-10-30",
            "AccountId": finance.client.account,
        },
    )


def receivable(finance: Finance, invoice: str) -> dict[str, Any]:
    [found] = [r for r in finance.tryton_invoices() if r["reference"] == invoice]
    return found


async def test_a_paid_invoice_is_paid_in_tryton_and_the_crm_shows_it(finance: Finance) -> None:
    deal = opportunity(finance)
    invoice = finance.invoice([100_000, 25_000], engagement=deal)
    finance.stripe.finalize(invoice)
    await finance.settle()
    finance.stripe.pay(invoice, out_of_band=True)
    await finance.settle()

    posted = receivable(finance, invoice)
    assert posted["state"] == "paid"
    assert posted["paid_amount"] == Decimal("1250.00")
    assert finance.boxes.salesforce is not None
    sf = finance.boxes.salesforce.store
    number = finance.stripe.invoices[invoice]["number"]
    won = sf.get("Opportunity", deal)
    assert (won["Invoice_Number__c"], won["Invoice_Status__c"]) == (number, "paid")
    assert Decimal(str(won["Amount_Paid__c"])) == Decimal("1250.00")
    account = finance.account()
    assert account["Invoice_Status__c"] == "paid"
    assert account["Last_Payment_Date__c"] == "2026-11-02"


async def test_a_partial_payment_then_the_rest_are_applied_once_each(finance: Finance) -> None:
    invoice = finance.invoice([200_000])
    finance.stripe.finalize(invoice)
    await finance.settle()

    finance.stripe.receive_transfer(invoice, 50_000)
    await finance.settle()
    posted = receivable(finance, invoice)
    assert (posted["state"], posted["paid_amount"]) == ("posted", Decimal("500.00"))
    assert finance.account()["Invoice_Status__c"] == "partially paid"

    finance.stripe.receive_transfer(invoice, 150_000)
    await finance.settle()
    report = await finance.run(
        finance.mediator.poll("stripe_events")
    )  # every event read again: no effect
    await finance.settle()

    assert report.journaled == 0
    posted = receivable(finance, invoice)
    assert (posted["state"], posted["paid_amount"]) == ("paid", Decimal("2000.00"))
    assert finance.account()["Invoice_Status__c"] == "paid"
    saved = await finance.mediator.journal.load_flow(FLOW, invoice)
    assert saved is not None
    done = json.loads(saved.state)["done"]
    assert {name: step.get("applied") for name, step in done.items() if "apply" in name} == {
        "apply:50000": "500.00",
        "apply:200000": "1500.00",
    }


async def test_paid_before_finalized_waits_for_the_receivable_then_applies(
    finance: Finance,
) -> None:
    assert finance.boxes.stripe is not None
    assert finance.boxes.stripe.webhooks is not None
    sender = finance.boxes.stripe.webhooks
    reachable, sender.url = sender.url, f"http://127.0.0.1:{free_port()}/webhooks/stripe"
    invoice = finance.invoice([40_000])
    finance.stripe.finalize(invoice)
    finance.stripe.pay(invoice, out_of_band=True)
    await finance.settle()
    events = {e["type"]: e for e in finance.stripe.events.values() if e["type"].startswith("in")}

    await deliver(finance, events["invoice.paid"])  # out of order: the payment first
    await finance.settle()
    saved = await finance.mediator.journal.load_flow(FLOW, invoice)
    assert saved is not None
    assert b"waiting for the receivable" in saved.state
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []

    await deliver(finance, events["invoice.finalized"])
    await finance.settle()
    assert receivable(finance, invoice)["state"] == "posted"
    woken = await finance.run(finance.mediator.poll("cash_application_waiting"))
    await finance.settle()

    assert woken.journaled == 1
    assert receivable(finance, invoice)["state"] == "paid"
    sender.url = reachable  # Stripe's own retries now arrive: duplicates, nothing twice
    await finance.settle()
    again = await finance.run(finance.mediator.poll("cash_application_waiting"))
    assert again.read == 0
    assert receivable(finance, invoice)["paid_amount"] == Decimal("400.00")
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []


async def test_an_overpayment_is_an_exception_for_finance(finance: Finance) -> None:
    invoice = finance.invoice([90_000])
    finance.stripe.finalize(invoice)
    await finance.settle()
    assert finance.boxes.tryton is not None
    posted = receivable(finance, invoice)
    lines = finance.boxes.tryton.db.tables["account.invoice.line"].values()
    [line] = [line for line in lines if line["invoice"] == posted["id"]]
    line["unit_price"] = Decimal("800.00")  # finance corrected the receivable by hand
    finance.stripe.pay(invoice, out_of_band=True)
    await finance.settle()

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "BusinessRejected"
    assert "overpaid: 900.00 USD paid on a total of 800.00 USD" in str(dead.reason)
    assert receivable(finance, invoice)["state"] == "posted"


async def deliver(finance: Finance, event: dict[str, Any]) -> None:
    """POST `event` to the webhook listener, signed as Stripe signs it."""
    assert finance.mediator.webhook_address is not None
    host, port = finance.mediator.webhook_address
    body = json.dumps(event).encode()
    headers = {"Stripe-Signature": sign(SECRET, body, int(finance.clock.time()))}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"http://{host}:{port}/webhooks/stripe", data=body, headers=headers) as answer,
    ):
        assert answer.status == 200, await answer.text()


async def test_answers_tryton_loses_after_paying_apply_the_payment_once(
    finance: Finance,
) -> None:
    invoice = finance.invoice([64_000])
    finance.stripe.finalize(invoice)
    await finance.settle()
    assert finance.boxes.tryton is not None
    finance.boxes.tryton.faults.install(FaultPlan(drop_next=4))  # done, the answer lost
    finance.stripe.pay(invoice, out_of_band=True)
    await finance.settle(horizon=10.0)  # the connector's backoff between its attempts

    assert finance.boxes.tryton.faults.statistics().drops == 4
    posted = receivable(finance, invoice)
    assert (posted["state"], posted["paid_amount"]) == ("paid", Decimal("640.00"))
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
