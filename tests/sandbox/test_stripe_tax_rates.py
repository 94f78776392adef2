"""The Stripe sandbox's tax rates: created, put on invoices (by default or per item), and the
tax computed per line, rounded half up; exempt and reverse-charge customers pay none."""

from __future__ import annotations

from typing import Any

from tests.sandbox.test_stripe import Account, account

__all__ = ["account"]  # the fixture, imported to be found


async def tax_rate(account: Account, percentage: str) -> dict[str, Any]:
    status, rate, _ = await account.call(
        "POST",
        "/v1/tax_rates",
        {"display_name": "VAT", "percentage": percentage, "inclusive": "false"},
        key=f"rate-{percentage}",
    )
    assert status == 200, rate
    return dict(rate)


async def invoice_of(
    account: Account, amounts: list[int], *, exempt: str = "none", **invoice: object
) -> dict[str, Any]:
    _, customer, _ = await account.call(
        "POST", "/v1/customers", {"name": "Globex", "tax_exempt": exempt}
    )
    status, draft, _ = await account.call(
        "POST",
        "/v1/invoices",
        {"customer": customer["id"], "collection_method": "send_invoice",
         "days_until_due": 30, **invoice},
    )  # fmt: skip
    assert status == 200, draft
    for amount in amounts:
        status, item, _ = await account.call(
            "POST",
            "/v1/invoiceitems",
            {"customer": customer["id"], "invoice": draft["id"], "amount": amount,
             "currency": "usd"},
        )  # fmt: skip
        assert status == 200, item
    _, read, _ = await account.call("GET", f"/v1/invoices/{draft['id']}")
    return dict(read)


async def test_a_tax_rate_is_created_and_read_back(account: Account) -> None:
    rate = await tax_rate(account, "20.0")
    assert rate["id"].startswith("txr_")
    assert (rate["object"], rate["percentage"], rate["inclusive"]) == ("tax_rate", 20.0, False)
    _, read, _ = await account.call("GET", f"/v1/tax_rates/{rate['id']}")
    assert read == rate
    _, listed, _ = await account.call("GET", "/v1/tax_rates")
    assert [r["id"] for r in listed["data"]] == [rate["id"]]
    again = await tax_rate(account, "20.0")  # the same idempotency key: Stripe's replay
    assert again == rate
    assert len(account.box.store.tax_rates) == 1


async def test_a_rate_needs_its_required_parameters_and_a_sane_percentage(
    account: Account,
) -> None:
    status, body, _ = await account.call(
        "POST", "/v1/tax_rates", {"display_name": "VAT", "inclusive": "false"}
    )
    assert (status, body["error"]["param"]) == (400, "percentage")
    status, body, _ = await account.call(
        "POST", "/v1/tax_rates", {"display_name": "VAT", "inclusive": "false", "percentage": "120"}
    )
    assert (status, body["error"]["param"]) == (400, "percentage")


async def test_default_tax_rates_tax_each_line_rounded_half_up(account: Account) -> None:
    rate = await tax_rate(account, "7.5")
    # 7.5% of 1_010 = 75.75 → 76; of 1_030 = 77.25 → 77; of 1_010 again → 76
    invoice = await invoice_of(account, [1_010, 1_030, 1_010], default_tax_rates=[rate["id"]])
    taxes = [line["taxes"][0]["amount"] for line in invoice["lines"]["data"]]
    assert sorted(taxes) == [76, 76, 77]
    assert invoice["subtotal"] == 3_050
    assert invoice["total_taxes"] == [
        {"amount": 229, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": rate["id"]},
         "taxability_reason": "standard_rated", "taxable_amount": 3_050,
         "type": "tax_rate_details"}
    ]  # fmt: skip
    # per line, not on the sum (7.5% of 3_050 = 228.75 → 229 here too; the lines decide)
    assert (invoice["total"], invoice["amount_due"]) == (3_050 + 229, 3_050 + 229)
    assert invoice["total_excluding_tax"] == 3_050


async def test_per_line_rounding_differs_from_rounding_the_sum(account: Account) -> None:
    rate = await tax_rate(account, "20.0")
    # 20% of 3 = 0.6 → 1 per line: 3 lines → 3, where 20% of 9 = 1.8 → 2 on the sum
    invoice = await invoice_of(account, [3, 3, 3], default_tax_rates=[rate["id"]])
    assert (invoice["subtotal"], invoice["total"]) == (9, 12)


async def test_an_items_own_rates_win_over_the_invoices_defaults(account: Account) -> None:
    standard, reduced = await tax_rate(account, "20.0"), await tax_rate(account, "5.0")
    invoice = await invoice_of(account, [], default_tax_rates=[standard["id"]])
    status, _, _ = await account.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": invoice["customer"], "invoice": invoice["id"], "amount": 10_000,
         "currency": "usd", "tax_rates": [reduced["id"]]},
    )  # fmt: skip
    assert status == 200
    _, read, _ = await account.call("GET", f"/v1/invoices/{invoice['id']}")
    assert read["total"] == 10_500


async def test_exempt_and_reverse_charge_customers_pay_no_tax(account: Account) -> None:
    rate = await tax_rate(account, "20.0")
    for exempt, reason in (("exempt", "customer_exempt"), ("reverse", "reverse_charge")):
        invoice = await invoice_of(account, [10_000], exempt=exempt, default_tax_rates=[rate["id"]])
        assert (invoice["subtotal"], invoice["total"]) == (10_000, 10_000)
        [tax] = invoice["total_taxes"]
        assert (tax["amount"], tax["taxability_reason"]) == (0, reason)


async def test_an_unknown_rate_is_refused_naming_it(account: Account) -> None:
    _, customer, _ = await account.call("POST", "/v1/customers", {"name": "Globex"})
    status, body, _ = await account.call(
        "POST",
        "/v1/invoices",
        {"customer": customer["id"], "collection_method": "send_invoice",
         "days_until_due": 30, "default_tax_rates": ["txr_nope"]},
    )  # fmt: skip
    assert status == 400
    assert (body["error"]["code"], body["error"]["param"]) == (
        "resource_missing",
        "default_tax_rates[0]",
    )


async def test_changing_a_drafts_default_rates_recomputes_it(account: Account) -> None:
    rate = await tax_rate(account, "10.0")
    invoice = await invoice_of(account, [10_000])
    assert invoice["total"] == 10_000
    status, updated, _ = await account.call(
        "POST", f"/v1/invoices/{invoice['id']}", {"default_tax_rates": [rate["id"]]}
    )
    assert status == 200
    assert (updated["total"], updated["amount_due"]) == (11_000, 11_000)
    status, paid, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/finalize")
    assert (status, paid["amount_due"]) == (200, 11_000)


async def test_a_customers_exemption_retaxes_its_drafts_but_not_its_sent_invoices(
    account: Account,
) -> None:
    rate = await tax_rate(account, "20.0")
    sent = await invoice_of(account, [10_000], default_tax_rates=[rate["id"]])
    customer = sent["customer"]
    await account.call("POST", f"/v1/invoices/{sent['id']}/finalize")
    _, draft, _ = await account.call(
        "POST",
        "/v1/invoices",
        {"customer": customer, "collection_method": "send_invoice", "days_until_due": 30,
         "default_tax_rates": [rate["id"]]},
    )  # fmt: skip
    await account.call(
        "POST", "/v1/invoiceitems",
        {"customer": customer, "invoice": draft["id"], "amount": 5_000, "currency": "usd"},
    )  # fmt: skip
    status, _, _ = await account.call("POST", f"/v1/customers/{customer}", {"tax_exempt": "exempt"})
    assert status == 200
    _, draft_now, _ = await account.call("GET", f"/v1/invoices/{draft['id']}")
    assert draft_now["total"] == 5_000  # re-taxed: exempt now
    _, sent_now, _ = await account.call("GET", f"/v1/invoices/{sent['id']}")
    assert sent_now["total"] == 12_000  # as it was sent
    [line] = sent_now["lines"]["data"]
    assert [t["amount"] for t in line["taxes"]] == [2_000]
