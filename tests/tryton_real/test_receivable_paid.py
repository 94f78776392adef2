"""A customer receivable against a real trytond 8.2: created, posted, paid in two parts.

The same commands the finance flows send (`PostInvoice`, `ApplyPayment`) through the
connector: the pay wizard's partial payment (trytond asks whether the rest stays open or is
written off; the connector answers partial), the full payment that follows, a repeated
payment that applies nothing, and a posting into a closed period refused in Tryton's words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from mediator.codecs.tryton import RpcValue
from mediator.codecs.tryton.rpc import decode_response
from mediator.errors import BusinessRejected, RemoteRejected
from mediator.systems.tryton import (
    AppliedPayment,
    ApplyPayment,
    CreateRecord,
    PostedInvoice,
    PostInvoice,
    RecordRef,
)
from mediator.testing.tryton_server import TrytonServer
from tests.systems.harness_tryton import record_ids

from .conftest import INSTALL_TIMEOUT
from .connector_harness import RealTrytonHarness, open_real_harness

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.fixture
async def harness(tryton_server: TrytonServer, tag: str) -> AsyncIterator[RealTrytonHarness]:
    async with open_real_harness(tryton_server, tag) as found:
        yield found


async def _party(harness: RealTrytonHarness) -> tuple[int, int]:
    (party,) = await harness.connector.execute_batch(
        [
            CreateRecord(
                idempotency_key=f"client:{harness.tag}",
                model="party.party",
                values={
                    "name": f"Globex {harness.tag}",
                    "addresses": [["create", [{"street": "1 Cypress Creek", "city": "Dallas"}]]],
                },
                reference=f"G-{harness.tag}",
            )
        ]
    )
    assert isinstance(party, RecordRef)
    (row,) = await harness.connector.read("party.party", [party.id], ["addresses"])
    (address,) = record_ids(row["addresses"])
    return party.id, address


async def _payment_method(harness: RealTrytonHarness) -> int:
    # a bank method on the Cash journal, into Cash and Cash Equivalents (the chart's 1.1.1)
    connector, setup = harness.connector, harness.server.setup
    [journal] = await connector.search_read("account.journal", [["type", "=", "cash"]], ["id"])
    [cash] = await connector.search_read("account.account", [["code", "=", "1.1.1"]], ["id"])
    created = await connector.call(
        "model.account.invoice.payment.method.create",
        [
            {
                "name": f"Bank {harness.tag}",
                "company": setup.company,
                "journal": journal["id"],
                "credit_account": cash["id"],
                "debit_account": cash["id"],
            }
        ],
    )
    assert isinstance(created, list)
    (method,) = created
    assert isinstance(method, int)
    return method


def _invoice(harness: RealTrytonHarness, party: int, address: int, day: dt.date) -> PostInvoice:
    setup, reference = harness.server.setup, f"in_{harness.tag}_{day.isoformat()}"
    return PostInvoice(
        idempotency_key=f"receivables:{reference}:post",
        reference=reference,
        values={
            "company": setup.company,
            "party": party,
            "invoice_address": address,
            "currency": setup.currency,
            "journal": setup.revenue_journal,
            "account": setup.receivable_account,
            "payment_term": setup.payment_term,
            "invoice_date": day,
            "lines": [
                [
                    "create",
                    [
                        {
                            "product": setup.product,
                            "description": "Milestone: discovery",
                            "quantity": 1.0,
                            "unit": setup.uom_hour,
                            "unit_price": Decimal("1250.00"),
                            "account": setup.revenue_account,
                        }
                    ],
                ]
            ],
        },
    )


def _pay(invoice: int, method: int, total: str) -> ApplyPayment:
    return ApplyPayment(
        idempotency_key=f"cash_application:{invoice}:{total}",
        invoice=invoice,
        paid_total=Decimal(total),
        currency="USD",
        payment_method=method,
        received_on=dt.date.today(),
        description="Stripe test payment",
    )


async def test_a_receivable_is_posted_then_paid_in_two_parts_once_each(
    harness: RealTrytonHarness,
) -> None:
    connector = harness.connector
    party, address = await _party(harness)
    method = await _payment_method(harness)
    (posted,) = await connector.execute_batch([_invoice(harness, party, address, dt.date.today())])
    assert isinstance(posted, PostedInvoice), posted
    assert (posted.state, posted.total_amount) == ("posted", Decimal("1250.00"))

    (part,) = await connector.execute_batch([_pay(posted.id, method, "500.00")])
    (again,) = await connector.execute_batch([_pay(posted.id, method, "500.00")])
    (rest,) = await connector.execute_batch([_pay(posted.id, method, "1250.00")])
    (over,) = await connector.execute_batch([_pay(posted.id, method, "1300.00")])

    assert isinstance(part, AppliedPayment), part
    assert (part.applied, part.state) == (Decimal("500.00"), "posted")
    assert isinstance(again, AppliedPayment), again
    assert (again.paid_before, again.applied) == (Decimal("500.00"), Decimal(0))
    assert isinstance(rest, AppliedPayment), rest
    assert (rest.applied, rest.state) == (Decimal("750.00"), "paid")
    assert isinstance(over, BusinessRejected)
    assert "overpaid" in str(over)
    (row,) = await connector.read("account.invoice", [posted.id], ["state", "amount_to_pay"])
    assert (row["state"], row["amount_to_pay"]) == ("paid", Decimal("0"))


async def test_posting_into_a_closed_period_is_refused_in_trytons_words(
    harness: RealTrytonHarness,
) -> None:
    connector = harness.connector
    party, address = await _party(harness)
    day = dt.date(dt.date.today().year, 1, 15)
    [period] = await connector.search_read(
        "account.period", [["start_date", "<=", day], ["end_date", ">=", day]], ["id"]
    )
    await connector.call("model.account.period.close", [period["id"]])
    try:
        (refused,) = await connector.execute_batch([_invoice(harness, party, address, day)])
    finally:  # the session's other tests share the database
        await connector.call("model.account.period.reopen", [period["id"]])

    assert isinstance(refused, RemoteRejected), refused
    assert refused.code == "UserError"
    fault = decode_response(refused.detail.encode()).error
    assert fault is not None
    assert fault.message == (
        f'To continue, you must reopen the period "{day:%Y-%m}" of company '
        f'"Mediator Consulting Ltd" for the date "{day:%m/%d/%Y}".'
    )


def _credit_note(harness: RealTrytonHarness, party: int, address: int) -> PostInvoice:
    # what the receivables flow posts for a Stripe credit note: a customer invoice whose line
    # has a negative quantity (2 h less at 150.00), referenced by the credit note's id
    setup, reference = harness.server.setup, f"cn_{harness.tag}"
    line: dict[str, RpcValue] = {
        "product": setup.product,
        "description": "P-1 · Analyst · 2 h less",
        "quantity": -2.0,
        "unit": setup.uom_hour,
        "unit_price": Decimal("150.00"),
        "account": setup.revenue_account,
    }
    values: dict[str, RpcValue] = {
        **_invoice(harness, party, address, dt.date.today()).values,
        "reference": reference,
        "lines": [["create", [line]]],
    }
    return PostInvoice(
        idempotency_key=f"receivables:{reference}:post", reference=reference, values=values
    )


async def test_a_credit_note_is_posted_and_settled_against_its_receivable(
    harness: RealTrytonHarness,
) -> None:
    connector = harness.connector
    party, address = await _party(harness)
    method = await _payment_method(harness)
    (posted,) = await connector.execute_batch([_invoice(harness, party, address, dt.date.today())])
    (credit,) = await connector.execute_batch([_credit_note(harness, party, address)])
    assert isinstance(posted, PostedInvoice), posted
    assert isinstance(credit, PostedInvoice), credit
    assert (credit.state, credit.total_amount) == ("posted", Decimal("-300.00"))

    # as cash application settles it: the credit note paid with its negative amount, the
    # receivable paid that much on top of the cash (950.00 of 1250.00 paid in Stripe)
    (settled,) = await connector.execute_batch([_pay(credit.id, method, "-300.00")])
    (again,) = await connector.execute_batch([_pay(credit.id, method, "-300.00")])
    (paid,) = await connector.execute_batch([_pay(posted.id, method, "1250.00")])
    assert isinstance(settled, AppliedPayment), settled
    assert (settled.applied, settled.state) == (Decimal("-300.00"), "paid")
    assert isinstance(again, AppliedPayment), again
    assert again.applied == Decimal(0)
    assert isinstance(paid, AppliedPayment), paid
    assert paid.state == "paid"
