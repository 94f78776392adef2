"""Taxes on billing: a client's draft carries the Stripe tax rate of its tax treatment, so
Stripe taxes each line; an exempt or reverse-charge client's invoice carries no tax."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import msgspec
import pytest

from mediator.flows.billing.taxes import RATES, SavedRate
from mediator.journal import DeadLetterFilter
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from tests.flows.billing.support import ShiftedClock, running
from tests.flows.billing.test_month import AFTER_CLOSE, BEFORE_CLOSE
from tests.flows.billing.test_options import problems

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the runtime per test


async def test_each_clients_invoice_is_taxed_at_its_treatments_rate(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    assert boxes.stripe is not None
    customers = sorted({boxes.index.stripe[c.key] for c in firm.clients
                        if c.key in boxes.index.stripe})  # fmt: skip
    # the generated firm gives each client a treatment; make sure both kinds are there
    store = boxes.stripe.store
    store.customers[customers[0]]["tax_exempt"] = "reverse"  # an EU client: reverse charge
    store.customers[customers[1]]["tax_exempt"] = "none"
    clock = ShiftedClock()
    clock.at(BEFORE_CLOSE)
    async with running(
        firm,
        boxes,
        tmp_path,
        clock,
        tax_rates={"standard": "20.0", "reverse": "20.0", "exempt": "20"},
    ) as billing:
        await billing.poll()
        await billing.flush()
        assert await billing.mediator.dead_letters(DeadLetterFilter()) == []
        expected = billing.expected()  # Σ hours × rate (+ expenses): the subtotals
        drafts = billing.invoices()
        assert len(drafts) >= 2
        taxed = 0
        # one tax rate made in Stripe, its id kept in flow state
        [rate] = boxes.stripe.store.tax_rates.values()
        assert (rate["percentage"], rate["inclusive"]) == (20.0, False)
        saved = await billing.mediator.journal.load_flow(RATES, "20.0")
        assert saved is not None
        assert msgspec.json.decode(saved.state, type=SavedRate).rate_id == rate["id"]
        for invoice in drafts:
            assert invoice["default_tax_rates"] == [rate["id"]]
            taxed += store.customers[invoice["customer"]]["tax_exempt"] == "none"
            assert invoice["subtotal"] == expected[invoice["customer"]]
            exempt = store.customers[invoice["customer"]]["tax_exempt"]
            if exempt != "none":  # reverse (its rate says 0) or exempt (no rate configured)
                assert invoice["total"] == invoice["subtotal"]
                reasons = {t["taxability_reason"] for t in invoice["total_taxes"]}
                assert reasons == {"reverse_charge" if exempt == "reverse" else "customer_exempt"}
            else:
                # 20 % of each line, rounded half up per line (Stripe's rule)
                tax = sum(
                    int((Decimal(line["amount"]) / 5).to_integral_value(ROUND_HALF_UP))
                    for line in invoice["lines"]["data"]
                )
                assert tax > 0
                assert invoice["total"] == invoice["subtotal"] + tax
        assert 0 < taxed < len(drafts)
        clock.at(AFTER_CLOSE)
        await billing.close()
        finalized = billing.invoices()
        assert {i["status"] for i in finalized} == {"open"}
        assert {i["id"]: i["amount_due"] for i in finalized} == {
            i["id"]: i["total"] for i in drafts
        }
        assert len(boxes.stripe.store.tax_rates) == 1  # created once, whatever the clients


async def test_untaxed_without_a_rate_for_the_treatment(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    assert boxes.stripe is not None
    for customer in boxes.stripe.store.customers.values():
        customer["tax_exempt"] = "exempt"
    clock = ShiftedClock()
    clock.at(BEFORE_CLOSE)
    async with running(firm, boxes, tmp_path, clock, tax_rates={"standard": "20"}) as billing:
        await billing.poll()
        await billing.flush()
        drafts = billing.invoices()
        assert drafts
        assert {i["customer"]: i["total"] for i in drafts} == billing.expected()
        assert all(i["default_tax_rates"] == [] for i in drafts)
        assert boxes.stripe.store.tax_rates == {}


def test_tax_rates_are_percentages_by_treatment_refused_by_key() -> None:
    assert problems('[flows.billing.options.tax_rates]\nstandard = "19.5"\nreverse = "0"\n') == []
    [(key, reason, _)] = problems('[flows.billing.options.tax_rates]\nstandard = "120"\n')
    assert key == "flows.billing.options.tax_rates.standard"
    assert "percentage" in reason
    [(key, _, _)] = problems('[flows.billing.options.tax_rates]\nluxury = "30"\n')
    assert key.startswith("flows.billing.options.tax_rates")
