"""The Tryton sandbox's taxes: `account.tax` on invoice lines (many2many `taxes`), the
invoice's `tax_amount` and `total_amount` computed as account_invoice does, rounded per line or
per document as `account.configuration.tax_rounding` says, and paid in full with its tax."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from mediator.sandbox.tryton import TrytonSandbox
from tests.sandbox.test_tryton import Client, Failure, _party, erp

__all__ = ["erp"]  # the fixture, imported to be found


async def invoice_with(
    box: TrytonSandbox, c: Client, lines: list[tuple[float, str]], taxes: list[int]
) -> int:
    setup = box.setup
    _, address = await _party(c)
    [party] = await c.call("party.party", "search", [["name", "=", "ACME Corp"]])
    [invoice] = await c.call(
        "account.invoice",
        "create",
        [
            {
                "company": setup.company, "party": party, "invoice_address": address,
                "account": setup.receivable, "journal": setup.journal,
                "currency": setup.currency,
                "lines": [["create", [
                    {"quantity": quantity, "unit_price": Decimal(price),
                     "account": setup.revenue, "description": "Consulting",
                     "taxes": [["add", taxes]]}
                    for quantity, price in lines
                ]]],
            }
        ],
    )  # fmt: skip
    return int(invoice)


async def amounts(c: Client, invoice: int) -> dict[str, Any]:
    [row] = await c.call(
        "account.invoice",
        "read",
        [invoice],
        ["untaxed_amount", "tax_amount", "total_amount", "amount_to_pay", "state"],
    )
    return dict(row)


async def test_seeded_taxes_are_percentages_as_fractions(erp: tuple[TrytonSandbox, Client]) -> None:
    box, c = erp
    standard = box.setup.taxes["20.0"]
    [tax] = await c.call("account.tax", "read", [standard], ["name", "type", "rate"])
    assert (tax["type"], tax["rate"]) == ("percentage", Decimal("0.2"))


async def test_a_lines_taxes_make_the_invoice_total(erp: tuple[TrytonSandbox, Client]) -> None:
    box, c = erp
    invoice = await invoice_with(box, c, [(5.5, "100.00"), (1, "19.99")], [box.setup.taxes["20.0"]])
    [line] = await c.call(
        "account.invoice.line", "search", [["invoice", "=", invoice], ["unit_price", "=", 100]]
    )
    [read] = await c.call("account.invoice.line", "read", [line], ["taxes", "amount"])
    assert read["taxes"] == [box.setup.taxes["20.0"]]
    # 20 % of 550.00 = 110.00; of 19.99 = 3.998 → 4.00
    assert await amounts(c, invoice) == {
        "id": invoice,
        "untaxed_amount": Decimal("569.99"),
        "tax_amount": Decimal("114.00"),
        "total_amount": Decimal("683.99"),
        "amount_to_pay": Decimal("0"),
        "state": "draft",
    }
    await c.call("account.invoice", "post", [invoice])
    assert (await amounts(c, invoice))["amount_to_pay"] == Decimal("683.99")


async def test_line_rounding_and_document_rounding_differ(
    erp: tuple[TrytonSandbox, Client],
) -> None:
    box, c = erp
    reduced = box.setup.taxes["7.25"]
    # 7.25 % of 0.10 = 0.00725 per line: 0.01 on each of three lines (half even of 0.00725
    # is 0.01) by line; 0.02175 → 0.02 on the document
    invoice = await invoice_with(box, c, [(1, "0.10")] * 3, [reduced])
    assert (await amounts(c, invoice))["tax_amount"] == Decimal("0.03")
    [config] = await c.call("account.configuration", "search", [])
    await c.call("account.configuration", "write", [config], {"tax_rounding": "document"})
    assert (await amounts(c, invoice))["tax_amount"] == Decimal("0.02")


async def test_taxes_are_removed_and_unknown_ones_refused(
    erp: tuple[TrytonSandbox, Client],
) -> None:
    box, c = erp
    standard = box.setup.taxes["20.0"]
    invoice = await invoice_with(box, c, [(1, "100.00")], [standard])
    [line] = await c.call("account.invoice.line", "search", [["invoice", "=", invoice]])
    await c.call("account.invoice.line", "write", [line], {"taxes": [["remove", [standard]]]})
    assert (await amounts(c, invoice))["total_amount"] == Decimal("100.00")
    with pytest.raises(Failure) as caught:
        await c.call("account.invoice.line", "write", [line], {"taxes": [["add", [999]]]})
    kind, (message, _, _) = caught.value.payload
    assert kind == "UserError"
    assert '"999" of "Tax"' in message
    [read] = await c.call("account.invoice.line", "read", [line], ["taxes"])
    assert read["taxes"] == []


async def test_a_taxed_invoice_is_paid_with_its_tax(erp: tuple[TrytonSandbox, Client]) -> None:
    box, c = erp
    invoice = await invoice_with(box, c, [(1, "100.00")], [box.setup.taxes["20.0"]])
    await c.call("account.invoice", "post", [invoice])
    session, _, _ = await c.rpc("wizard.account.invoice.pay.create", [c.context])
    context = {**c.context, "active_id": invoice, "active_ids": [invoice]}
    view = await c.rpc("wizard.account.invoice.pay.execute", [session, {}, "start", context])
    assert view["view"]["defaults"]["amount"] == Decimal("120.00")
