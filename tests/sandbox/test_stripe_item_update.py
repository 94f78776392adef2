"""The Stripe sandbox's ``POST /v1/invoiceitems/{id}``: a draft's item changes and its invoice
follows; an item of a finalized invoice is refused, as Stripe refuses it."""

from __future__ import annotations

from typing import Any

from tests.sandbox.test_stripe import Account, account

__all__ = ["account"]  # the fixture, imported to be found


async def draft_with_item(account: Account) -> tuple[dict[str, Any], dict[str, Any]]:
    status, customer, _ = await account.call("POST", "/v1/customers", {"name": "Globex"})
    assert status == 200
    status, invoice, _ = await account.call(
        "POST",
        "/v1/invoices",
        {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 30},
    )
    assert status == 200
    status, item, _ = await account.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 10_000,
         "currency": "usd", "description": "P-1 · Analyst · 10 h"},
    )  # fmt: skip
    assert status == 200
    return invoice, item


async def test_a_drafts_item_is_updated_and_its_invoice_follows(account: Account) -> None:
    invoice, item = await draft_with_item(account)
    status, updated, _ = await account.call(
        "POST",
        f"/v1/invoiceitems/{item['id']}",
        {"amount": 15_000, "description": "P-1 · Analyst · 15 h", "metadata": {"quantity": "15"}},
        key="update-1",
    )
    assert status == 200
    assert (updated["id"], updated["amount"], updated["quantity"]) == (item["id"], 15_000, 1)
    assert updated["description"] == "P-1 · Analyst · 15 h"
    assert updated["metadata"] == {"quantity": "15"}
    _, read, _ = await account.call("GET", f"/v1/invoices/{invoice['id']}")
    assert (read["subtotal"], read["total"], read["amount_due"]) == (15_000, 15_000, 15_000)
    assert [line["amount"] for line in read["lines"]["data"]] == [15_000]
    kinds = [e["type"] for e in account.box.store.events.values()]
    assert "invoiceitem.updated" in kinds
    # the same key again is Stripe's replay of the first answer, not a second update
    _, again, headers = await account.call(
        "POST", f"/v1/invoiceitems/{item['id']}", {"amount": 15_000,
        "description": "P-1 · Analyst · 15 h", "metadata": {"quantity": "15"}}, key="update-1",
    )  # fmt: skip
    assert headers.get("Idempotent-Replayed") == "true"
    assert again == updated


async def test_unit_amount_and_quantity_make_the_amount(account: Account) -> None:
    _, item = await draft_with_item(account)
    status, updated, _ = await account.call(
        "POST", f"/v1/invoiceitems/{item['id']}", {"unit_amount": 2_500, "quantity": 3}
    )
    assert status == 200
    assert (updated["amount"], updated["quantity"], updated["unit_amount"]) == (7_500, 3, 2_500)


async def test_an_item_of_a_finalized_invoice_cannot_be_updated(account: Account) -> None:
    invoice, item = await draft_with_item(account)
    status, _, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/finalize")
    assert status == 200
    status, body, _ = await account.call("POST", f"/v1/invoiceitems/{item['id']}", {"amount": 1})
    assert status == 400
    assert body["error"]["code"] == "invoice_not_editable"
    assert body["error"]["type"] == "invalid_request_error"
    assert invoice["id"] in body["error"]["message"]
    assert account.box.store.invoiceitems[item["id"]]["amount"] == 10_000
    _, read, _ = await account.call("GET", f"/v1/invoices/{invoice['id']}")
    assert read["total"] == 10_000


async def test_an_unknown_item_or_parameter_is_refused(account: Account) -> None:
    _, item = await draft_with_item(account)
    status, body, _ = await account.call("POST", "/v1/invoiceitems/ii_nothing", {"amount": 1})
    assert status == 404
    assert body["error"]["code"] == "resource_missing"
    status, body, _ = await account.call(
        "POST", f"/v1/invoiceitems/{item['id']}", {"customer": "cus_other"}
    )
    assert status == 400
    assert body["error"]["param"] == "customer"
