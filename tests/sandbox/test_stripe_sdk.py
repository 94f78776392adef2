"""The official `stripe` SDK, unchanged, creates and lists customers and invoices."""

import asyncio
from typing import Any

import pytest
import stripe

from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.testing import FakeClock


def _scenario(client: stripe.StripeClient) -> dict[str, Any]:
    customers = [
        client.v1.customers.create(
            params={
                "name": f"Client {i}",
                "email": f"ap{i}@example.com",
                "metadata": {"erp_party": str(i)},
            }
        )
        for i in range(3)
    ]
    listed = [c.id for c in client.v1.customers.list(params={"limit": 2}).auto_paging_iter()]
    by_email = client.v1.customers.list(params={"email": "ap1@example.com"})
    invoice = client.v1.invoices.create(
        params={
            "customer": customers[0].id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "auto_advance": False,
        }
    )
    client.v1.invoice_items.create(
        params={
            "customer": customers[0].id,
            "invoice": invoice.id,
            "quantity": 4,
            "unit_amount": 12500,
            "currency": "usd",
            "description": "Consulting hours",
        }
    )
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    paid = client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    invoices = client.v1.invoices.list(params={"customer": customers[0].id})
    try:
        client.v1.customers.retrieve("cus_nope")
    except stripe.InvalidRequestError as exc:
        missing = exc
    return {
        "customers": customers,
        "listed": listed,
        "by_email": by_email,
        "finalized": finalized,
        "paid": paid,
        "invoices": invoices,
        "missing": missing,
    }


async def test_stripe_client_round_trip(clock: FakeClock) -> None:
    box = StripeSandbox(clock=clock)
    async with open_sandbox(box) as url:
        client = stripe.StripeClient(
            "sk_test_sandbox",
            base_addresses={"api": url, "files": url, "connect": url, "meter_events": url},
            max_network_retries=0,
        )
        out = await asyncio.to_thread(_scenario, client)
    ids = [c.id for c in out["customers"]]
    assert out["customers"][0].metadata["erp_party"] == "0"
    assert out["listed"] == ids[::-1]  # auto-paging follows starting_after across pages
    assert [c.name for c in out["by_email"].data] == ["Client 1"]
    assert out["finalized"].status == "open"
    assert out["finalized"].amount_due == 50000
    assert out["paid"].status == "paid"
    assert [i.status for i in out["invoices"].data] == ["paid"]
    assert out["missing"].http_status == 404
    assert out["missing"].code == "resource_missing"
    posts = box.requests.matching("POST", "/v1/")
    assert posts
    assert all(r.header("Idempotency-Key") for r in posts)


async def test_global_api_base_and_errors(clock: FakeClock) -> None:
    box = StripeSandbox(clock=clock, rate_limit=2)
    async with open_sandbox(box) as url:

        def scenario() -> None:
            client = stripe.StripeClient(
                "sk_test_wrong", base_addresses={"api": url}, max_network_retries=0
            )
            with pytest.raises(stripe.AuthenticationError):
                client.v1.customers.list()
            client = stripe.StripeClient(
                "sk_test_sandbox", base_addresses={"api": url}, max_network_retries=0
            )
            client.v1.customers.list()
            client.v1.customers.list()
            with pytest.raises(stripe.RateLimitError):
                client.v1.customers.list()

        await asyncio.to_thread(scenario)


@pytest.mark.slow  # the SDK's own retry backoff sleeps ~0.5 s of real time
async def test_sdk_retry_replays_a_dropped_create(clock: FakeClock) -> None:
    # The first create commits but its response is dropped; the SDK retries with the same
    # Idempotency-Key and gets the stored response, so exactly one customer exists.
    box = StripeSandbox(clock=clock, faults=FaultPlan(drop_next=1))
    async with open_sandbox(box) as url:
        client = stripe.StripeClient(
            "sk_test_sandbox", base_addresses={"api": url}, max_network_retries=2
        )
        customer = await asyncio.to_thread(client.v1.customers.create, params={"name": "Once"})
    assert customer.name == "Once"
    assert len(box.store.customers) == 1
    keys = [r.header("Idempotency-Key") for r in box.requests.matching("POST", "/v1/customers")]
    assert len(keys) == 2
    assert keys[0] == keys[1]
    assert [r.dropped for r in box.requests.matching("POST")] == [True, False]


async def test_sdk_sees_idempotency_errors(clock: FakeClock) -> None:
    box = StripeSandbox(clock=clock)
    async with open_sandbox(box) as url:
        client = stripe.StripeClient(
            "sk_test_sandbox", base_addresses={"api": url}, max_network_retries=0
        )

        def scenario() -> tuple[object, object, Exception | None]:
            first = client.v1.customers.create(
                params={"name": "A"}, options={"idempotency_key": "same"}
            )
            again = client.v1.customers.create(
                params={"name": "A"}, options={"idempotency_key": "same"}
            )
            try:
                client.v1.customers.create(
                    params={"name": "B"}, options={"idempotency_key": "same"}
                )
            except stripe.IdempotencyError as exc:
                return first, again, exc
            return first, again, None

        first, again, error = await asyncio.to_thread(scenario)
    assert first == again
    assert isinstance(error, stripe.IdempotencyError)
    assert len(box.store.customers) == 1
