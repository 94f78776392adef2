"""Receivables with taxes: each Tryton line carries the tax of the client's treatment, so the
posted receivable's total is Stripe's total with its tax; a reverse-charge client's carries
none; a treatment the options name no Tryton tax for is refused, not posted short."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from mediator.errors import ConfigError
from mediator.journal import DeadLetterFilter
from mediator.runtime.finance_flows import ReceivablesFlow
from mediator.sandbox.tryton.computed import invoice_tax, invoice_total
from tests.flows.finance_support import Finance, open_finance

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test

#: the Tryton sandbox seeds VAT 20% as account.tax 1 (and 7.25% as 2)
OPTIONS = "\n[flows.receivables.options]\ntaxes = { standard = 1 }\n"


def taxed_invoice(finance: Finance, cents: list[int], percentage: str) -> str:
    """A draft with one item per amount, taxed by Stripe at `percentage` (its default rate)."""
    invoice = finance.invoice(cents)
    rate = finance.stripe.create_tax_rate(
        {"display_name": "VAT", "percentage": float(percentage), "inclusive": False,
         "active": True}
    )  # fmt: skip
    finance.stripe.invoices[invoice]["default_tax_rates"] = [rate["id"]]
    finance.stripe.recompute(finance.stripe.invoices[invoice])
    return invoice


async def test_a_taxed_invoice_posts_with_its_tax_and_equal_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_finance(tmp_path, monkeypatch, extra=OPTIONS) as finance:
        tryton = finance.boxes.tryton
        assert tryton is not None
        assert tryton.setup.taxes["20.0"] == 1
        # 20 % per line: 240.00 + 60.10 + 0.666 → 0.67 (Stripe and Tryton round per line)
        invoice = taxed_invoice(finance, [120_000, 30_050, 333], "20.0")
        stripe_invoice = finance.stripe.invoices[invoice]
        assert (stripe_invoice["subtotal"], stripe_invoice["total"]) == (150_383, 180_460)
        finance.stripe.finalize(invoice)
        await finance.settle()

        assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
        [posted] = finance.tryton_invoices()
        assert posted["state"] == "posted"
        assert invoice_total(tryton.db, posted) == Decimal("1804.60")
        assert invoice_tax(tryton.db, posted) == Decimal("300.77")
        lines = [r for r in tryton.db.tables["account.invoice.line"].values()
                 if r["invoice"] == posted["id"]]  # fmt: skip
        assert len(lines) == 3
        assert all(line["taxes"] == [1] for line in lines)
        saved = await finance.mediator.journal.load_flow("receivables", invoice)
        assert saved is not None
        assert b'"total":"180460"' in saved.state


async def test_a_reverse_charge_clients_invoice_posts_without_tax(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_finance(tmp_path, monkeypatch, extra=OPTIONS) as finance:
        tryton = finance.boxes.tryton
        assert tryton is not None
        finance.stripe.customers[finance.client.customer]["tax_exempt"] = "reverse"
        invoice = taxed_invoice(finance, [50_000], "20.0")
        assert finance.stripe.invoices[invoice]["total"] == 50_000  # Stripe charged no tax
        finance.stripe.finalize(invoice)
        await finance.settle()

        assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
        [posted] = finance.tryton_invoices()
        assert invoice_total(tryton.db, posted) == Decimal("500.00")
        [line] = [r for r in tryton.db.tables["account.invoice.line"].values()
                  if r["invoice"] == posted["id"]]  # fmt: skip
        assert line["taxes"] == []


async def test_an_invoice_stripe_did_not_tax_posts_as_it_was_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_finance(tmp_path, monkeypatch, extra=OPTIONS) as finance:
        tryton = finance.boxes.tryton
        assert tryton is not None
        invoice = finance.invoice([40_000])  # a standard client billed without a rate
        finance.stripe.finalize(invoice)
        await finance.settle()

        assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
        [posted] = finance.tryton_invoices()
        assert invoice_total(tryton.db, posted) == Decimal("400.00")


async def test_a_tax_tryton_computes_otherwise_is_finances_to_correct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the options name the 7.25 % tax for the standard treatment, Stripe charges 20 %
    extra = "\n[flows.receivables.options]\ntaxes = { standard = 2 }\n"
    async with open_finance(tmp_path, monkeypatch, extra=extra) as finance:
        invoice = taxed_invoice(finance, [10_000], "20.0")
        finance.stripe.finalize(invoice)
        await finance.settle()

        [dead] = await finance.mediator.dead_letters(DeadLetterFilter())
        assert dead.error_class == "BusinessRejected"
        assert "Tryton totals 107.25, Stripe 120.00 USD (tax included)" in str(dead.reason)


def test_the_taxes_option_names_treatments_only() -> None:
    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError("mediator.toml", key, reason)

    flow = ReceivablesFlow.from_options({"taxes": {"standard": 1, "reverse": 2}}, fail)
    assert flow.options.taxes == {"standard": 1, "reverse": 2}
    with pytest.raises(ConfigError, match=r"\[taxes\.luxury\].*not a treatment"):
        ReceivablesFlow.from_options({"taxes": {"luxury": 1}}, fail)
