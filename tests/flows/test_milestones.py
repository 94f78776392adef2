"""Milestone approved → invoice: from the CRM's poller to a finalized Stripe invoice, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from mediator.flows.milestones import FLOW
from mediator.journal import DeadLetterFilter
from mediator.sandbox.faults import FaultPlan
from tests.flows.finance_support import Finance, open_finance

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test

MILESTONES = """
[flows.milestones.options]
org_currency = "USD"

[ingress.pollers.salesforce_milestones]
interval = 3600.0
enabled = false
"""


@pytest.fixture
async def finance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Finance]:
    async with open_finance(tmp_path, monkeypatch, extra=MILESTONES) as running:
        yield running


def deal(finance: Finance, account: str | None = None) -> str:
    assert finance.boxes.salesforce is not None
    return finance.boxes.salesforce.store.create(
        "Opportunity",
        {
            "Name": "Acme platform, fixed fee",
            "StageName": "Closed Won",
            "CloseDate": "2026-10-30",
            "AccountId": account or finance.client.account,
            "Billing_Model__c": "Fixed Fee",
            "Payment_Terms_Days__c": 14,
            "Service_Line__c": "Cloud",
        },
    )


def milestone(finance: Finance, opportunity: str, *, status: str = "Approved") -> str:
    assert finance.boxes.salesforce is not None
    return finance.boxes.salesforce.store.create(
        "Milestone__c",
        {
            "Name": "Phase 1: discovery",
            "Opportunity__c": opportunity,
            "Amount__c": 12500.00,
            "Status__c": status,
            "Approved_Date__c": "2026-11-01",
        },
    )


def stripe_invoices(finance: Finance) -> list[dict[str, Any]]:
    return [i for i in finance.stripe.invoices.values() if i["customer"] == finance.client.customer]


async def poll(finance: Finance) -> None:
    await finance.run(finance.mediator.poll("salesforce_milestones"))
    await finance.settle()


async def test_an_approved_milestone_is_invoiced_posted_paid_and_the_crm_told(
    finance: Finance,
) -> None:
    opportunity = deal(finance)
    planned = milestone(finance, opportunity, status="Planned")
    approved = milestone(finance, opportunity)
    await poll(finance)

    [invoice] = stripe_invoices(finance)
    assert invoice["status"] == "open"
    assert invoice["total"] == 1_250_000
    assert invoice["metadata"]["mediator_engagement"] == opportunity
    assert invoice["metadata"]["mediator_service_line"] == "Cloud"
    assert invoice["due_date"] == invoice["status_transitions"]["finalized_at"] + 14 * 86_400
    [line] = finance.stripe.lines(invoice)
    assert line["metadata"]["mediator_origin"] == f"milestone:{approved}"
    assert finance.boxes.salesforce is not None
    sf = finance.boxes.salesforce.store
    assert sf.get("Milestone__c", approved)["Status__c"] == "Invoiced"
    assert sf.get("Milestone__c", planned)["Status__c"] == "Planned"
    xref = await finance.mediator.journal.xref_to("milestone", approved, "stripe")
    assert xref is not None
    assert xref.system_id == invoice["id"]
    [receivable] = finance.tryton_invoices()  # its invoice.finalized became the receivable
    assert receivable["reference"] == invoice["id"]
    assert finance.tryton_total(receivable) == Decimal("12500.00")

    finance.stripe.pay(invoice["id"], out_of_band=True)  # the client pays: flow 6 closes it
    await finance.settle()

    assert receivable["state"] == "paid"
    assert sf.get("Opportunity", opportunity)["Invoice_Status__c"] == "paid"
    assert sf.get("Opportunity", opportunity)["Invoice_Number__c"] == invoice["number"]


async def test_the_echo_a_replay_and_a_second_approval_change_nothing(finance: Finance) -> None:
    opportunity = deal(finance)
    approved = milestone(finance, opportunity)
    await poll(finance)
    await poll(finance)  # reads its own "Invoiced" echo
    assert finance.boxes.salesforce is not None
    sf = finance.boxes.salesforce.store
    sf.update("Milestone__c", approved, {"Status__c": "Approved"})  # approved a second time
    await poll(finance)
    replayed = await finance.mediator.replay(DeadLetterFilter(), dry_run=False)  # none dead
    saved = await finance.mediator.journal.load_flow(FLOW, approved)

    assert replayed.sent == ()
    assert len(stripe_invoices(finance)) == 1
    assert len(finance.stripe.invoiceitems) == 1
    assert saved is not None
    assert b'"status":"done"' in saved.state
    assert len(finance.tryton_invoices()) == 1


async def test_a_changed_amount_after_invoicing_is_an_exception_not_a_second_invoice(
    finance: Finance,
) -> None:
    opportunity = deal(finance)
    approved = milestone(finance, opportunity)
    await poll(finance)
    assert finance.boxes.salesforce is not None
    finance.boxes.salesforce.store.update(
        "Milestone__c", approved, {"Amount__c": 15000.00, "Status__c": "Approved"}
    )
    await poll(finance)

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "BusinessRejected"
    invoice = stripe_invoices(finance)[0]["id"]
    assert (
        f"amount changed to 1500000 USD after it was invoiced for 1250000 USD (Stripe invoice "
        f"{invoice})" in str(dead.reason)
    )
    assert len(stripe_invoices(finance)) == 1


async def test_a_client_not_onboarded_is_a_missing_reference_naming_the_account(
    finance: Finance,
) -> None:
    assert finance.boxes.salesforce is not None
    stranger = finance.boxes.salesforce.store.create("Account", {"Name": "Not onboarded"})
    milestone(finance, deal(finance, account=stranger))
    await poll(finance)

    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    assert dead.error_class == "MissingReference"
    assert f"client {stranger}: no stripe id in the xref map" in str(dead.reason)
    assert finance.stripe.invoices == {}


async def test_answers_stripe_loses_after_acting_make_nothing_twice(finance: Finance) -> None:
    opportunity = deal(finance)
    approved = milestone(finance, opportunity)
    assert finance.boxes.stripe is not None
    finance.boxes.stripe.faults.install(FaultPlan(drop_next=3))  # acted on, answer lost
    await finance.run(finance.mediator.poll("salesforce_milestones"))
    await finance.settle(horizon=10.0)  # the connector's backoff between its attempts

    assert finance.boxes.stripe.faults.statistics().drops == 3
    assert len(stripe_invoices(finance)) == 1
    assert len(finance.stripe.invoiceitems) == 1
    assert stripe_invoices(finance)[0]["status"] == "open"
    assert finance.boxes.salesforce is not None
    assert finance.boxes.salesforce.store.get("Milestone__c", approved)["Status__c"] == "Invoiced"
    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []


async def test_an_amount_corrected_before_the_item_was_made_is_invoiced_as_corrected(
    finance: Finance,
) -> None:
    opportunity = deal(finance)
    approved = milestone(finance, opportunity)
    assert finance.boxes.stripe is not None
    assert finance.boxes.salesforce is not None
    refused = FaultPlan(error_rate=1.0, error_status=400, paths=("/v1/invoiceitems",))
    finance.boxes.stripe.faults.install(refused)  # the item refused for good: a dead letter
    await poll(finance)
    [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
    finance.boxes.stripe.faults.install(FaultPlan())
    finance.boxes.salesforce.store.update("Milestone__c", approved, {"Amount__c": 15000.00})
    await poll(finance)  # the corrected version waits behind the dead letter...
    await finance.run(
        finance.mediator.release(dead.id, reason="amount corrected in the CRM", by="finance")
    )
    await finance.settle()  # ...and, released, is invoiced at its corrected amount

    assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
    [invoice] = stripe_invoices(finance)
    assert invoice["total"] == 1_500_000
    assert invoice["status"] == "open"
    assert finance.boxes.salesforce.store.get("Milestone__c", approved)["Status__c"] == "Invoiced"
