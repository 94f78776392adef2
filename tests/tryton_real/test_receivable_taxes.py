"""A taxed customer receivable against a real trytond 8.2: what the Tryton sandbox models.

A percentage `account.tax` (its `rate` a fraction: 0.2 is 20 %) on every line, added the way
the receivables flow adds it (``taxes: [["add", [id]]]``, built by `invoice_to_tryton`);
`tax_amount` and `total_amount` as trytond computes them, rounded per line when
`account.configuration.tax_rounding` is ``line`` (what Stripe does), per document otherwise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from mediator.codecs.canonical.billing import Invoice, InvoiceLine
from mediator.codecs.canonical.money import Money
from mediator.codecs.tryton.mapping import ErpSetup, invoice_to_tryton
from mediator.systems.tryton import PostedInvoice, PostInvoice
from mediator.testing.tryton_server import TrytonServer
from tests.systems.harness_tryton import record_ids

from .conftest import INSTALL_TIMEOUT
from .connector_harness import RealTrytonHarness, open_real_harness
from .test_receivable_paid import _party

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.fixture
async def harness(tryton_server: TrytonServer, tag: str) -> AsyncIterator[RealTrytonHarness]:
    async with open_real_harness(tryton_server, tag) as found:
        yield found


async def _tax(harness: RealTrytonHarness) -> int:
    setup = harness.server.setup
    created = await harness.connector.call(
        "model.account.tax.create",
        [
            {
                "name": f"VAT 20% {harness.tag}",
                "description": "VAT 20%",
                "company": setup.company,
                "type": "percentage",
                "rate": Decimal("0.2"),
                "invoice_account": setup.payable_account,
                "credit_note_account": setup.payable_account,
            }
        ],
    )
    assert isinstance(created, list)
    (tax,) = created
    assert isinstance(tax, int)
    return tax


async def _taxed_product(harness: RealTrytonHarness, tax: int) -> int:
    # trytond warns (`invoice_taxes`, a UserWarning) on posting a line whose taxes differ from
    # its product's defaults: a taxed service has the tax on its account category
    connector, setup = harness.connector, harness.server.setup
    created = await connector.call(
        "model.product.category.create",
        [
            {
                "name": f"Services (VAT) {harness.tag}",
                "accounting": True,
                "account_revenue": setup.revenue_account,
                "account_expense": setup.expense_account,
                "customer_taxes": [["add", [tax]]],
            }
        ],
    )
    (category,) = record_ids(created)
    created = await connector.call(
        "model.product.template.create",
        [
            {
                "name": f"Consulting hour (VAT) {harness.tag}",
                "type": "service",
                "default_uom": setup.uom_hour,
                "list_price": Decimal("100.0000"),
                "account_category": category,
                "products": [["create", [{}]]],
            }
        ],
    )
    (template,) = record_ids(created)
    (row,) = await connector.read("product.template", [template], ["products"])
    (product,) = record_ids(row["products"])
    return product


def _canonical(cents: list[int], source: str) -> Invoice:
    lines = tuple(
        InvoiceLine(
            description=f"Consulting, part {n + 1}",
            quantity=Decimal(1),
            unit_amount=Money(amount=amount, currency="USD"),
            amount=Money(amount=amount, currency="USD"),
        )
        for n, amount in enumerate(cents)
    )
    subtotal = Money(amount=sum(cents), currency="USD")
    return Invoice(
        source_system="stripe",
        source_id=source,
        client_id="client",
        currency="USD",
        lines=lines,
        subtotal=subtotal,
        total=subtotal,
        amount_due=subtotal,
        issued_on=dt.date.today(),
    )


async def _post(
    harness: RealTrytonHarness, cents: list[int], tax: int, rounding: str
) -> PostedInvoice:
    connector, setup = harness.connector, harness.server.setup
    await connector.call("model.account.configuration.write", [1], {"tax_rounding": rounding})
    party, address = await _party(harness)
    product = await _taxed_product(harness, tax)
    erp = ErpSetup(
        company=setup.company,
        currency=setup.currency,
        journal=setup.revenue_journal,
        receivable_account=setup.receivable_account,
        revenue_account=setup.revenue_account,
        payment_term=setup.payment_term,
        product=product,
        unit=setup.uom_hour,
    )
    reference = f"in_tax_{harness.tag}_{rounding}"
    values = invoice_to_tryton(
        _canonical(cents, reference), party=party, invoice_address=address, setup=erp,
        taxes=(tax,),
    )  # fmt: skip
    values = {**values, "reference": reference}
    try:
        (posted,) = await connector.execute_batch(
            [PostInvoice(idempotency_key=f"{reference}:post", reference=reference, values=values)]
        )
    finally:  # the session's other tests share the database: trytond's default again
        await connector.call("model.account.configuration.write", [1], {"tax_rounding": "document"})
    assert isinstance(posted, PostedInvoice), posted
    return posted


async def test_a_taxed_receivable_rounds_per_line_as_stripe_does(
    harness: RealTrytonHarness,
) -> None:
    tax = await _tax(harness)
    # 20 % of 1200.00, 300.50 and 3.33: 240.00 + 60.10 + 0.666 → 0.67 per line
    posted = await _post(harness, [120_000, 30_050, 333], tax, "line")
    assert (posted.state, posted.total_amount) == ("posted", Decimal("1804.60"))
    (row,) = await harness.connector.read(
        "account.invoice", [posted.id], ["untaxed_amount", "tax_amount", "lines"]
    )
    assert (row["untaxed_amount"], row["tax_amount"]) == (Decimal("1503.83"), Decimal("300.77"))
    lines = await harness.connector.read(
        "account.invoice.line", record_ids(row["lines"]), ["taxes"]
    )
    assert [line["taxes"] for line in lines] == [[tax]] * 3


async def test_per_document_rounding_differs_by_a_cent(harness: RealTrytonHarness) -> None:
    tax = await _tax(harness)
    # 3 × 20 % of 3.33: 0.67 × 3 = 2.01 per line, but 1.998 → 2.00 on the document
    posted = await _post(harness, [333, 333, 333], tax, "document")
    (row,) = await harness.connector.read("account.invoice", [posted.id], ["tax_amount"])
    assert row["tax_amount"] == Decimal("2.00")
