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
        params={  # type: ignore[arg-type]  # stripe 16.1's TypedDict has no top-level unit_amount; the form field still reaches the sandbox
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


def _client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_sandbox", base_addresses={"api": url}, max_network_retries=0
    )


async def test_sdk_sets_documented_array_parameters(clock: FakeClock) -> None:
    # issue #14: `preferred_locales` (an array) was refused as an unknown parameter
    box = StripeSandbox(clock=clock)
    async with open_sandbox(box) as url:
        client = _client(url)

        def scenario() -> tuple[Any, Any]:
            created = client.v1.customers.create(
                params={"name": "ACME", "preferred_locales": ["de", "en-GB"]}
            )
            updated = client.v1.customers.update(created.id, params={"preferred_locales": ["fr"]})
            return created, updated

        created, updated = await asyncio.to_thread(scenario)
    assert created.preferred_locales == ["de", "en-GB"]
    assert updated.preferred_locales == ["fr"]


async def test_sdk_expands_on_retrieve_create_and_lists(clock: FakeClock) -> None:
    # issue #14: `expand` was accepted and ignored
    box = StripeSandbox(clock=clock)
    async with open_sandbox(box) as url:
        client = _client(url)

        def scenario() -> dict[str, Any]:
            customer = client.v1.customers.create(params={"name": "ACME"})
            invoice = client.v1.invoices.create(params={"customer": customer.id})
            item = client.v1.invoice_items.create(
                params={
                    "customer": customer.id,
                    "invoice": invoice.id,
                    "amount": 500,
                    "currency": "usd",
                    "expand": ["invoice.customer"],
                }
            )
            out: dict[str, Any] = {"customer": customer, "item": item}
            out["plain"] = client.v1.invoices.retrieve(invoice.id)
            out["expanded"] = client.v1.invoices.retrieve(
                invoice.id, params={"expand": ["customer"]}
            )
            out["listed"] = client.v1.invoices.list(params={"expand": ["data.customer"]})
            for name, call in (
                (
                    "unexpandable",
                    lambda: client.v1.invoices.retrieve(invoice.id, params={"expand": ["total"]}),
                ),
                ("list_hint", lambda: client.v1.invoices.list(params={"expand": ["customer"]})),
            ):
                try:
                    call()
                except stripe.InvalidRequestError as exc:
                    out[name] = exc
            return out

        out = await asyncio.to_thread(scenario)
    customer = out["customer"]
    assert out["plain"].customer == customer.id
    assert isinstance(out["expanded"].customer, stripe.Customer)
    assert out["expanded"].customer.id == customer.id
    assert out["expanded"].customer.name == "ACME"
    [listed] = out["listed"].data
    assert isinstance(listed.customer, stripe.Customer)
    assert listed.customer.id == customer.id
    assert isinstance(out["item"].invoice, stripe.Invoice)
    assert isinstance(out["item"].invoice.customer, stripe.Customer)
    assert out["item"].invoice.customer.name == "ACME"
    assert out["unexpandable"].http_status == 400
    assert "cannot be expanded (total)" in out["unexpandable"].user_message
    assert "data.customer" in out["list_hint"].user_message


async def test_sdk_sees_metadata_limits(clock: FakeClock) -> None:
    # issue #14: metadata limits were not enforced (50 keys, keys ≤ 40, values ≤ 500)
    box = StripeSandbox(clock=clock)
    async with open_sandbox(box) as url:
        client = _client(url)

        def scenario() -> list[stripe.InvalidRequestError]:
            caught = []
            for metadata in (
                {f"k{i}": "v" for i in range(51)},
                {"k" * 41: "v"},
                {"k": "v" * 501},
            ):
                try:
                    client.v1.customers.create(params={"metadata": metadata})
                except stripe.InvalidRequestError as exc:
                    caught.append(exc)
            return caught

        caught = await asyncio.to_thread(scenario)
    assert [e.http_status for e in caught] == [400, 400, 400]
    assert [e.param for e in caught] == ["metadata", f"metadata[{'k' * 41}]", "metadata[k]"]
    assert box.store.customers == {}


async def test_sdk_sends_the_documented_hashes_and_arrays(clock: FakeClock) -> None:
    # the class behind issue #14's `preferred_locales`: documented parameters of the
    # resources we use are read with Stripe's checks instead of refused as unknown
    box = StripeSandbox(clock=clock)
    async with open_sandbox(box) as url:
        client = _client(url)

        def scenario() -> dict[str, Any]:
            out: dict[str, Any] = {}
            out["customer"] = customer = client.v1.customers.create(
                params={
                    "name": "ACME GmbH",
                    "invoice_settings": {
                        "custom_fields": [{"name": "PO", "value": "4711"}],
                        "footer": "Thank you",
                    },
                    "shipping": {"name": "ACME", "address": {"city": "Berlin", "country": "DE"}},
                    "tax_id_data": [{"type": "eu_vat", "value": "DE123456789"}],
                }
            )
            out["updated"] = client.v1.customers.update(
                customer.id, params={"invoice_settings": {"footer": "Danke"}}
            )
            out["with_tax_ids"] = client.v1.customers.retrieve(
                customer.id, params={"expand": ["tax_ids"]}
            )
            out["invoice"] = invoice = client.v1.invoices.create(
                params={
                    "customer": customer.id,
                    "collection_method": "send_invoice",
                    "due_date": 1_900_000_000,
                    "custom_fields": [{"name": "Project", "value": "P-1"}],
                    "footer": "Net 30",
                    "statement_descriptor": "ACME SERVICES",
                }
            )
            out["item"] = client.v1.invoice_items.create(
                params={  # type: ignore[arg-type]  # unit_amount_decimal as the string the form sends; the SDK types it Decimal
                    "customer": customer.id,
                    "invoice": invoice.id,
                    "currency": "eur",
                    "unit_amount_decimal": "1250.5",
                    "quantity": 3,
                    "discountable": False,
                    "tax_behavior": "exclusive",
                }
            )
            for name, call in (
                (
                    "tax_rate",
                    lambda: client.v1.invoices.create(
                        params={"customer": customer.id, "default_tax_rates": ["txr_nope"]}
                    ),
                ),
                (
                    "too_many",
                    lambda: client.v1.invoices.create(
                        params={
                            "customer": customer.id,
                            "custom_fields": [{"name": f"n{i}", "value": "v"} for i in range(5)],
                        }
                    ),
                ),
                (
                    "long_name",
                    lambda: client.v1.customers.update(
                        customer.id,
                        params={
                            "invoice_settings": {
                                "custom_fields": [{"name": "n" * 41, "value": "v"}]
                            }
                        },
                    ),
                ),
                (
                    "tax_id_type",
                    lambda: client.v1.customers.create(
                        params={"tax_id_data": [{"type": "xx_vat", "value": "1"}]}
                    ),
                ),
                (
                    "descriptor",
                    lambda: client.v1.invoices.create(
                        params={"customer": customer.id, "statement_descriptor": "x" * 23}
                    ),
                ),
            ):
                try:
                    call()
                except stripe.InvalidRequestError as exc:
                    out[name] = exc
            return out

        out = await asyncio.to_thread(scenario)
    customer_id = out["customer"].id
    settings = out["customer"].invoice_settings
    assert settings.custom_fields[0].to_dict() == {"name": "PO", "value": "4711"}
    assert settings.footer == "Thank you"
    assert out["customer"].shipping.address.city == "Berlin"
    assert "tax_ids" not in out["customer"]  # includable: only when expanded
    [tax_id] = out["with_tax_ids"].tax_ids.data
    assert (tax_id.type, tax_id.value, tax_id.customer) == ("eu_vat", "DE123456789", customer_id)
    # an update merges into invoice_settings: the custom field stays
    assert out["updated"].invoice_settings.footer == "Danke"
    assert out["updated"].invoice_settings.custom_fields[0].name == "PO"
    assert out["invoice"].due_date == 1_900_000_000
    assert out["invoice"].custom_fields[0].value == "P-1"
    assert (out["item"].amount, out["item"].unit_amount_decimal) == (3752, "1250.5")
    assert out["item"].discountable is False
    assert (out["tax_rate"].code, out["tax_rate"].param) == (
        "resource_missing",
        "default_tax_rates[0]",
    )
    assert out["too_many"].param == "custom_fields"
    assert out["long_name"].param == "invoice_settings[custom_fields][0][name]"
    assert out["tax_id_type"].param == "tax_id_data[0][type]"
    assert out["descriptor"].param == "statement_descriptor"
