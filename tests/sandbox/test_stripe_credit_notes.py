"""The Stripe sandbox's credit notes: issued on open or paid invoices only, never more than the
invoice can still be credited, reducing what an open invoice has left to pay, replayed under
the same Idempotency-Key, and announced as ``credit_note.created``."""

from __future__ import annotations

from typing import Any

from tests.sandbox.test_stripe import Account, account
from tests.sandbox.test_stripe_item_update import draft_with_item

__all__ = ["account"]  # the fixture, imported to be found


def custom(unit: int, quantity: int = 1, text: str = "P-1 · Analyst · 2 h") -> dict[str, Any]:
    return {"type": "custom_line_item", "unit_amount": unit, "quantity": quantity,
            "description": text}  # fmt: skip


async def open_invoice(account: Account) -> dict[str, Any]:
    invoice, _ = await draft_with_item(account)  # 10,000
    status, opened, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/finalize")
    assert status == 200
    return dict(opened)


async def test_a_draft_cannot_be_credited(account: Account) -> None:
    invoice, _ = await draft_with_item(account)
    status, body, _ = await account.call(
        "POST", "/v1/credit_notes", {"invoice": invoice["id"], "lines": [custom(1_000)]}
    )
    assert status == 400
    assert body["error"]["code"] == "invoice_not_open"
    assert body["error"]["param"] == "invoice"
    assert account.box.credit_notes.notes == {}


async def test_a_credit_note_reduces_an_open_invoice_and_is_announced(account: Account) -> None:
    invoice = await open_invoice(account)
    params = {"invoice": invoice["id"], "lines": [custom(2_500, 2)], "memo": "2 h less",
              "metadata": {"mediator_origin": "time:1:credit"}}  # fmt: skip
    status, note, _ = await account.call("POST", "/v1/credit_notes", params, key="cn-1")
    assert status == 200
    assert (note["object"], note["status"], note["total"]) == ("credit_note", "issued", 5_000)
    assert (note["pre_payment_amount"], note["post_payment_amount"]) == (5_000, 0)
    assert note["metadata"] == {"mediator_origin": "time:1:credit"}
    [line] = note["lines"]["data"]
    assert (line["type"], line["unit_amount"], line["quantity"], line["amount"]) == (
        "custom_line_item", 2_500, 2, 5_000,
    )  # fmt: skip
    _, read, _ = await account.call("GET", f"/v1/invoices/{invoice['id']}")
    assert (read["status"], read["total"], read["amount_remaining"]) == ("open", 10_000, 5_000)
    assert read["pre_payment_credit_notes_amount"] == 5_000
    assert read["post_payment_credit_notes_amount"] == 0
    # a retry under the same key is the first answer again: one credit note
    _, again, headers = await account.call("POST", "/v1/credit_notes", params, key="cn-1")
    assert headers.get("Idempotent-Replayed") == "true"
    assert again == note
    assert list(account.box.credit_notes.notes) == [note["id"]]
    kinds = [e["type"] for e in account.box.store.events.values()]
    assert kinds.count("credit_note.created") == 1
    _, events, _ = await account.call("GET", "/v1/events", {"type": "credit_note.created"})
    assert [e["data"]["object"]["id"] for e in events["data"]] == [note["id"]]
    _, listed, _ = await account.call("GET", "/v1/credit_notes", {"invoice": invoice["id"]})
    assert [n["id"] for n in listed["data"]] == [note["id"]]
    _, got, _ = await account.call("GET", f"/v1/credit_notes/{note['id']}")
    assert got == note
    # paying the rest pays the invoice: 5,000 paid, 5,000 credited
    status, paid, _ = await account.call(
        "POST", f"/v1/invoices/{invoice['id']}/pay", {"paid_out_of_band": True}
    )
    assert status == 200
    assert (paid["status"], paid["amount_paid"], paid["amount_remaining"]) == ("paid", 5_000, 0)


async def test_no_more_than_what_is_left_can_be_credited(account: Account) -> None:
    invoice = await open_invoice(account)
    status, body, _ = await account.call(
        "POST", "/v1/credit_notes", {"invoice": invoice["id"], "amount": 10_001}
    )
    assert status == 400
    assert "10000" in body["error"]["message"]
    status, _, _ = await account.call(
        "POST", "/v1/credit_notes", {"invoice": invoice["id"], "amount": 6_000}
    )
    assert status == 200
    status, body, _ = await account.call(
        "POST", "/v1/credit_notes", {"invoice": invoice["id"], "lines": [custom(4_001)]}
    )
    assert status == 400
    assert "4000" in body["error"]["message"]
    # crediting what is left pays the open invoice
    status, _, _ = await account.call(
        "POST", "/v1/credit_notes", {"invoice": invoice["id"], "amount": 4_000}
    )
    assert status == 200
    _, read, _ = await account.call("GET", f"/v1/invoices/{invoice['id']}")
    assert (read["status"], read["amount_paid"], read["amount_remaining"]) == ("paid", 0, 0)


async def test_a_paid_invoice_is_credited_after_payment(account: Account) -> None:
    invoice = await open_invoice(account)
    await account.call("POST", f"/v1/invoices/{invoice['id']}/pay", {"paid_out_of_band": True})
    status, body, _ = await account.call(
        "POST", "/v1/credit_notes", {"invoice": invoice["id"], "amount": 3_000}
    )
    assert status == 400  # where the money goes must be said: balance or outside Stripe
    assert body["error"]["param"] == "credit_amount"
    status, note, _ = await account.call(
        "POST", "/v1/credit_notes",
        {"invoice": invoice["id"], "amount": 3_000, "out_of_band_amount": 3_000},
    )  # fmt: skip
    assert status == 200
    assert (note["pre_payment_amount"], note["post_payment_amount"]) == (0, 3_000)
    _, read, _ = await account.call("GET", f"/v1/invoices/{invoice['id']}")
    assert read["post_payment_credit_notes_amount"] == 3_000
    assert (read["status"], read["amount_paid"]) == ("paid", 10_000)
