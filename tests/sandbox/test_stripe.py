"""The Stripe sandbox: auth, form bodies, idempotency, lists, errors, limits, invoices, webhooks."""

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import stripe
from aiohttp import web
from multidict import CIMultiDictProxy

from mediator.codecs.stripe import encode_form
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.testing import FakeClock

KEY = "sk_test_sandbox"


@dataclass
class Account:
    box: StripeSandbox
    url: str
    http: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        params: dict[str, object] | None = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """Status, JSON body (the sandbox's answer, Any: the test asserts its shape) and
        headers."""
        all_headers = {"Authorization": f"Bearer {KEY}", **(headers or {})}
        data = None
        url = self.url + path
        if method == "POST":
            data = encode_form(params or {})
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
            if key:
                all_headers["Idempotency-Key"] = key
        elif params:
            url += "?" + encode_form(params)
        async with self.http.request(method, url, data=data, headers=all_headers) as resp:
            return resp.status, await resp.json(), resp.headers


@pytest.fixture
async def account(clock: FakeClock, http: aiohttp.ClientSession) -> AsyncIterator[Account]:
    box = StripeSandbox(clock=clock, rate_limit=1000)
    async with open_sandbox(box) as url:
        yield Account(box, url, http)


async def test_auth_bearer_basic_and_errors(account: Account) -> None:
    status, body, headers = await account.call(
        "GET", "/v1/customers", headers={"Authorization": "Bearer sk_test_wrong"}
    )
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert headers["Request-Id"].startswith("req_")
    basic = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
    status, body, _ = await account.call("GET", "/v1/customers", headers={"Authorization": basic})
    assert status == 200
    assert body == {"object": "list", "url": "/v1/customers", "has_more": False, "data": []}
    status, body, _ = await account.call("GET", "/v1/nothing")
    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"


async def test_customer_form_nesting_and_validation(account: Account) -> None:
    status, customer, headers = await account.call(
        "POST",
        "/v1/customers",
        {
            "name": "ACME",
            "email": "ap@acme.example",
            "tax_exempt": "reverse",
            "metadata": {"erp_party": "42"},
            "address": {"country": "DE", "city": "Berlin"},
        },
    )
    assert status == 200
    assert customer["id"].startswith("cus_")
    assert customer["metadata"] == {"erp_party": "42"}
    assert customer["address"] == {"country": "DE", "city": "Berlin"}
    assert headers["Stripe-Version"]
    status, body, _ = await account.call("POST", "/v1/customers", {"nmae": "typo"})
    assert status == 400
    assert body["error"] == {
        "message": "Received unknown parameter: nmae",
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
        "param": "nmae",
    }
    status, body, _ = await account.call("POST", "/v1/customers", {"tax_exempt": "maybe"})
    assert status == 400
    status, body, _ = await account.call("GET", "/v1/customers/cus_missing")
    assert status == 404
    assert body["error"]["code"] == "resource_missing"


async def test_list_pagination_newest_first(account: Account) -> None:
    ids = []
    for i in range(5):
        _, customer, _ = await account.call("POST", "/v1/customers", {"name": f"C{i}"})
        ids.append(customer["id"])
    newest_first = ids[::-1]
    _, page, _ = await account.call("GET", "/v1/customers", {"limit": 2})
    assert [c["id"] for c in page["data"]] == newest_first[:2]
    assert page["has_more"] is True
    _, page, _ = await account.call(
        "GET", "/v1/customers", {"limit": 2, "starting_after": newest_first[1]}
    )
    assert [c["id"] for c in page["data"]] == newest_first[2:4]
    _, page, _ = await account.call(
        "GET", "/v1/customers", {"limit": 2, "ending_before": newest_first[4]}
    )
    assert [c["id"] for c in page["data"]] == newest_first[2:4]
    assert page["has_more"] is True
    _, page, _ = await account.call("GET", "/v1/customers", {"created": {"gt": 1}})
    assert len(page["data"]) == 5
    _, page, _ = await account.call("GET", "/v1/customers", {"created": {"lt": 1}})
    assert page["data"] == []
    status, _, _ = await account.call("GET", "/v1/customers", {"limit": 101})
    assert status == 400
    status, _, _ = await account.call(
        "GET", "/v1/customers", {"starting_after": ids[0], "ending_before": ids[1]}
    )
    assert status == 400


async def test_idempotency_replay_and_mismatch(account: Account) -> None:
    status, first, _ = await account.call("POST", "/v1/customers", {"name": "A"}, key="k1")
    status, again, headers = await account.call("POST", "/v1/customers", {"name": "A"}, key="k1")
    assert status == 200
    assert again == first
    assert headers["Idempotent-Replayed"] == "true"
    assert len(account.box.store.customers) == 1
    status, body, _ = await account.call("POST", "/v1/customers", {"name": "B"}, key="k1")
    assert status == 400
    assert body["error"]["type"] == "idempotency_error"
    # a validation failure stores nothing: the corrected retry with the same key goes through
    status, _, _ = await account.call("POST", "/v1/customers", {"bad": "x"}, key="k2")
    assert status == 400
    status, _, _ = await account.call("POST", "/v1/customers", {"name": "C"}, key="k2")
    assert status == 200


async def test_idempotency_keys_expire_after_a_day(account: Account, clock: FakeClock) -> None:
    await account.call("POST", "/v1/customers", {"name": "A"}, key="k")
    await clock.advance(86_401)
    _, _, headers = await account.call("POST", "/v1/customers", {"name": "A"}, key="k")
    assert "Idempotent-Replayed" not in headers
    assert len(account.box.store.customers) == 2


async def test_concurrent_same_key_is_409(clock: FakeClock, http: aiohttp.ClientSession) -> None:
    box = StripeSandbox(clock=clock, processing_time=1.0)
    async with open_sandbox(box) as url:
        account = Account(box, url, http)
        first = asyncio.ensure_future(
            account.call("POST", "/v1/customers", {"name": "A"}, key="same")
        )
        await clock.wait_for_timers(1)
        status, body, _ = await account.call("POST", "/v1/customers", {"name": "A"}, key="same")
        assert status == 409
        assert body["error"]["code"] == "idempotency_key_in_use"
        await clock.advance(1.0)
        status, _, _ = await first
        assert status == 200


async def test_per_second_rate_limit(clock: FakeClock, http: aiohttp.ClientSession) -> None:
    box = StripeSandbox(clock=clock, rate_limit=3)
    async with open_sandbox(box) as url:
        account = Account(box, url, http)
        for _ in range(3):
            status, _, _ = await account.call("GET", "/v1/customers")
            assert status == 200
        status, body, headers = await account.call("GET", "/v1/customers")
        assert status == 429
        assert body["error"]["code"] == "rate_limit"
        assert headers["Stripe-Should-Retry"] == "true"
        await clock.advance(1.0)
        status, _, _ = await account.call("GET", "/v1/customers")
        assert status == 200


async def test_invoice_state_machine(account: Account) -> None:
    _, customer, _ = await account.call("POST", "/v1/customers", {"name": "ACME"})
    _, invoice, _ = await account.call(
        "POST",
        "/v1/invoices",
        {"customer": customer["id"], "collection_method": "send_invoice", "days_until_due": 30},
    )
    assert invoice["status"] == "draft"
    assert invoice["number"] is None
    for hours, rate in ((3, 15000), (2, 12000)):
        status, item, _ = await account.call(
            "POST",
            "/v1/invoiceitems",
            {
                "customer": customer["id"],
                "invoice": invoice["id"],
                "currency": "eur",
                "quantity": hours,
                "unit_amount": rate,
                "description": "Consulting",
            },
        )
        assert status == 200
        assert item["amount"] == hours * rate
    status, body, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/pay")
    assert status == 400
    assert "open" in body["error"]["message"]
    _, invoice, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/finalize")
    assert invoice["status"] == "open"
    assert invoice["amount_due"] == 69000
    assert invoice["lines"]["total_count"] == 2
    assert invoice["number"] == f"{customer['invoice_prefix']}-0001"
    status, _body, _ = await account.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 1, "currency": "eur"},
    )
    assert status == 400
    status, _, _ = await account.call("DELETE", f"/v1/invoices/{invoice['id']}")
    assert status == 400
    _, invoice, _ = await account.call(
        "POST", f"/v1/invoices/{invoice['id']}/pay", {"paid_out_of_band": True}
    )
    assert invoice["status"] == "paid"
    assert invoice["amount_paid"] == 69000
    status, _, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/void")
    assert status == 400
    _, second, _ = await account.call("POST", "/v1/invoices", {"customer": customer["id"]})
    await account.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": customer["id"], "invoice": second["id"], "amount": 500, "currency": "eur"},
    )
    await account.call("POST", f"/v1/invoices/{second['id']}/finalize")
    _, second, _ = await account.call("POST", f"/v1/invoices/{second['id']}/mark_uncollectible")
    assert second["status"] == "uncollectible"
    _, second, _ = await account.call("POST", f"/v1/invoices/{second['id']}/void")
    assert second["status"] == "void"
    _, events, _ = await account.call("GET", "/v1/events", {"type": "invoice.*", "limit": 100})
    kinds = [e["type"] for e in events["data"]][::-1]
    assert kinds == [
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.created",
        "invoice.finalized",
        "invoice.marked_uncollectible",
        "invoice.voided",
    ]


async def test_declined_payment_is_a_402_card_error(account: Account) -> None:
    _, customer, _ = await account.call(
        "POST", "/v1/customers", {"name": "Broke", "metadata": {"sandbox_payment": "decline"}}
    )
    _, invoice, _ = await account.call("POST", "/v1/invoices", {"customer": customer["id"]})
    await account.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": customer["id"], "invoice": invoice["id"], "amount": 100, "currency": "usd"},
    )
    await account.call("POST", f"/v1/invoices/{invoice['id']}/finalize")
    status, body, _ = await account.call("POST", f"/v1/invoices/{invoice['id']}/pay", key="p1")
    assert status == 402
    assert body["error"]["type"] == "card_error"
    # an error raised once execution began is stored and replayed
    status, _, headers = await account.call("POST", f"/v1/invoices/{invoice['id']}/pay", key="p1")
    assert status == 402
    assert headers["Idempotent-Replayed"] == "true"


async def test_signed_webhooks_retry_until_2xx(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    received: list[tuple[bytes, str]] = []
    answers = iter([500, 200, 200])
    arrived = asyncio.Event()

    async def endpoint(request: web.Request) -> web.Response:
        received.append((await request.read(), request.headers["Stripe-Signature"]))
        arrived.set()
        return web.Response(status=next(answers))

    hook_app = web.Application()
    hook_app.router.add_post("/hook", endpoint)
    runner = web.AppRunner(hook_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        box = StripeSandbox(clock=clock, webhook_url=hook_url, webhook_secret="whsec_test")
        async with open_sandbox(box) as url, box.delivering() as sender:
            assert sender is not None
            account = Account(box, url, http)
            await account.call("POST", "/v1/customers", {"name": "ACME"}, key="c1")
            await arrived.wait()
            await sender.wait_idle()
            assert [a.status for a in sender.attempts] == [500]
            arrived.clear()
            await clock.advance(60)
            await arrived.wait()
            await sender.wait_idle()
            assert [a.status for a in sender.attempts] == [500, 200]
    finally:
        await runner.cleanup()
    payload, signature = received[-1]
    event = stripe.Webhook.construct_event(
        payload.decode(),
        signature,
        "whsec_test",
        tolerance=None,  # type: ignore[arg-type]  # None skips the age check (FakeClock time), as verify_header allows
    )
    assert event["type"] == "customer.created"
    assert event["request"]["idempotency_key"] == "c1"
    assert received[0] == received[1] or received[0][0] == received[1][0]
    assert json.loads(payload)["data"]["object"]["name"] == "ACME"


async def test_webhook_duplicates_are_deterministic(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    seen: list[str] = []

    async def endpoint(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read())["id"])
        return web.Response()

    hook_app = web.Application()
    hook_app.router.add_post("/hook", endpoint)
    runner = web.AppRunner(hook_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        box = StripeSandbox(clock=clock, seed=3, webhook_url=hook_url, webhook_duplicate_rate=0.5)
        async with open_sandbox(box) as url, box.delivering() as sender:
            assert sender is not None
            account = Account(box, url, http)
            for i in range(8):
                await account.call("POST", "/v1/customers", {"name": f"C{i}"})
            while len(sender.attempts) < 8 or sender.pending:
                await sender.wait_idle()
                await asyncio.sleep(0)
            duplicates = [a.event_id for a in sender.attempts if a.duplicate]
    finally:
        await runner.cleanup()
    assert len(set(seen)) == 8
    assert duplicates  # some events arrived twice, as Stripe warns they may
    assert sorted(seen) == sorted([*set(seen), *duplicates])


# -- hostile values: every parameter's type and bounds answer Stripe's 400, never a 500 ------


async def _customer(account: Account) -> str:
    _, customer, _ = await account.call("POST", "/v1/customers", {"name": "ACME"})
    return str(customer["id"])


async def test_a_non_integer_period_start_is_a_stripe_400(account: Account) -> None:
    # issue #13: `period[start]=abc` on /v1/invoiceitems was a 500 with a traceback
    customer = await _customer(account)
    status, body, _ = await account.call(
        "POST",
        "/v1/invoiceitems",
        {"customer": customer, "amount": 100, "currency": "usd", "period": {"start": "abc"}},
    )
    assert status == 400
    assert body["error"] == {
        "message": "Invalid integer: abc",
        "type": "invalid_request_error",
        "code": "parameter_invalid_integer",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-invalid-integer",
        "param": "period[start]",
    }
    assert account.box.store.invoiceitems == {}


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/v1/invoiceitems", {"period": {"start": "1", "end": "x"}}, "period[end]"),
        ("/v1/invoiceitems", {"period": {"start": "1"}}, "period[end]"),
        ("/v1/invoiceitems", {"period": {"start": "1", "end": "2", "mid": "1"}}, "period[mid]"),
        ("/v1/invoiceitems", {"period": {"start": "9", "end": "2"}}, "period[end]"),
        ("/v1/invoiceitems", {"period": "abc"}, "period"),
        ("/v1/invoiceitems", {"amount": "1e3"}, "amount"),
        ("/v1/invoiceitems", {"amount": "1_000"}, "amount"),
        ("/v1/invoiceitems", {"amount": "9" * 30}, "amount"),
        ("/v1/invoiceitems", {"amount": "100000000"}, "amount"),
        ("/v1/invoiceitems", {"unit_amount": "99999999", "quantity": "2"}, "quantity"),
        ("/v1/invoiceitems", {"quantity": "-1", "unit_amount": "5"}, "quantity"),
        ("/v1/invoiceitems", {"currency": "xyz"}, "currency"),
        ("/v1/invoiceitems", {"description": "d" * 5001}, "description"),
        ("/v1/invoiceitems", {"description": {"a": "b"}}, "description"),
        ("/v1/invoiceitems", {"customer": ["a", "b"]}, "customer"),
        ("/v1/invoices", {"days_until_due": "10000000000000"}, "days_until_due"),
        ("/v1/invoices", {"auto_advance": "yes"}, "auto_advance"),
        ("/v1/invoices", {"collection_method": "cash"}, "collection_method"),
        ("/v1/customers", {"email": "not-an-email"}, "email"),
        ("/v1/customers", {"phone": "1" * 21}, "phone"),
        ("/v1/customers", {"name": "n" * 257}, "name"),
        ("/v1/customers", {"invoice_prefix": "ab"}, "invoice_prefix"),
        ("/v1/customers", {"address": {"planet": "Mars"}}, "address[planet]"),
        ("/v1/customers", {"address": {"country": "DEU"}}, "address[country]"),
        ("/v1/customers", {"preferred_locales": "en"}, "preferred_locales"),
        ("/v1/customers", {"preferred_locales": ["en", "!!"]}, "preferred_locales[1]"),
        ("/v1/customers", {"expand": "customer"}, "expand"),
    ],
)
async def test_invalid_values_are_refused_naming_the_parameter(
    account: Account, path: str, params: dict[str, object], param: str
) -> None:
    customer = await _customer(account)
    base: dict[str, object] = (
        {"customer": customer, "amount": 100, "currency": "usd"}
        if path == "/v1/invoiceitems"
        else {"customer": customer}
        if path == "/v1/invoices"
        else {}
    )
    if "unit_amount" in params:
        base.pop("amount", None)
    status, body, _ = await account.call("POST", path, {**base, **params})
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param


@pytest.mark.parametrize(
    ("path", "query", "param"),
    [
        ("/v1/customers", "limit=abc", "limit"),
        ("/v1/customers", "limit=0", "limit"),
        ("/v1/customers", "created[gt]=soon", "created[gt]"),
        ("/v1/customers", "created[between]=1", "created[between]"),
        ("/v1/customers", "created[]=1", "created"),
        ("/v1/invoices", "status=lost", "status"),
        ("/v1/invoiceitems", "pending=maybe", "pending"),
        ("/v1/events", "types=invoice.paid", "types"),
        ("/v1/events", "delivery_success=1", "delivery_success"),
        ("/v1/customers", "starting_after=cus_unknown", "starting_after"),
        ("/v1/customers", "ending_before=cus_unknown", "ending_before"),
    ],
)
async def test_invalid_list_filters_are_refused_naming_the_parameter(
    account: Account, path: str, query: str, param: str
) -> None:
    async with account.http.get(
        f"{account.url}{path}?{query}", headers={"Authorization": f"Bearer {KEY}"}
    ) as resp:
        status, body = resp.status, await resp.json()
    assert status == 400, body
    assert body["error"]["param"] == param


async def test_an_unknown_cursor_is_a_400_resource_missing(account: Account) -> None:
    status, body, _ = await account.call("GET", "/v1/customers", {"starting_after": "cus_nope"})
    assert status == 400
    assert body["error"]["code"] == "resource_missing"
    assert body["error"]["message"] == "No such customer: 'cus_nope'"


async def test_collection_method_filters_invoices(account: Account) -> None:
    customer = await _customer(account)
    await account.call("POST", "/v1/invoices", {"customer": customer})
    await account.call(
        "POST",
        "/v1/invoices",
        {"customer": customer, "collection_method": "send_invoice", "days_until_due": 30},
    )
    _, page, _ = await account.call("GET", "/v1/invoices", {"collection_method": "send_invoice"})
    assert [i["collection_method"] for i in page["data"]] == ["send_invoice"]


async def test_metadata_limits_and_unsetting(account: Account) -> None:
    status, body, _ = await account.call(
        "POST", "/v1/customers", {"metadata": {f"k{i}": "v" for i in range(51)}}
    )
    assert (status, body["error"]["param"]) == (400, "metadata")
    status, body, _ = await account.call("POST", "/v1/customers", {"metadata": {"k" * 41: "v"}})
    assert (status, body["error"]["param"]) == (400, f"metadata[{'k' * 41}]")
    status, body, _ = await account.call("POST", "/v1/customers", {"metadata": {"k": "v" * 501}})
    assert (status, body["error"]["param"]) == (400, "metadata[k]")
    status, body, _ = await account.call("POST", "/v1/customers", {"metadata": {"k": {"a": "b"}}})
    assert (status, body["error"]["param"]) == (400, "metadata[k]")
    # the limits themselves are allowed
    full = {f"k{i:039d}": "v" * 500 for i in range(50)}
    status, customer, _ = await account.call("POST", "/v1/customers", {"metadata": full})
    assert status == 200
    assert customer["metadata"] == full
    # "" unsets one key; merging may not push past 50 keys; metadata="" unsets them all
    path = f"/v1/customers/{customer['id']}"
    status, updated, _ = await account.call("POST", path, {"metadata": {f"k{0:039d}": ""}})
    assert status == 200
    assert len(updated["metadata"]) == 49
    status, body, _ = await account.call("POST", path, {"metadata": {"a": "1", "b": "2"}})
    assert (status, body["error"]["param"]) == (400, "metadata")
    status, updated, _ = await account.call("POST", path, {"metadata": ""})
    assert (status, updated["metadata"]) == (200, {})


async def test_a_refused_expand_changes_nothing(account: Account) -> None:
    status, body, _ = await account.call(
        "POST", "/v1/customers", {"name": "A", "expand": ["nothing"]}
    )
    assert status == 400
    assert body["error"]["message"] == "This property cannot be expanded (nothing)."
    assert account.box.store.customers == {}
    customer = await _customer(account)
    status, body, _ = await account.call("GET", "/v1/invoices", {"expand": ["customer"]})
    assert status == 400
    assert "You may want to try expanding 'data.customer' instead." in body["error"]["message"]
    status, body, _ = await account.call(
        "GET", f"/v1/customers/{customer}", {"expand": ["a.b.c.d.e"]}
    )
    assert status == 400
    assert body["error"]["param"] == "expand[0]"


async def test_an_idempotency_key_over_255_characters_is_refused(account: Account) -> None:
    status, body, _ = await account.call("POST", "/v1/customers", {"name": "A"}, key="k" * 256)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert account.box.store.customers == {}
    status, _, _ = await account.call("POST", "/v1/customers", {"name": "A"}, key="k" * 255)
    assert status == 200


async def test_a_deleted_customer_reads_as_its_stub_and_expands_as_one(account: Account) -> None:
    customer = await _customer(account)
    _, invoice, _ = await account.call("POST", "/v1/invoices", {"customer": customer})
    status, stub, _ = await account.call("DELETE", f"/v1/customers/{customer}")
    assert (status, stub) == (200, {"id": customer, "object": "customer", "deleted": True})
    status, body, _ = await account.call("GET", f"/v1/customers/{customer}")
    assert (status, body) == (200, stub)
    _, expanded, _ = await account.call(
        "GET", f"/v1/invoices/{invoice['id']}", {"expand": ["customer"]}
    )
    assert expanded["customer"] == stub
    status, body, _ = await account.call("POST", f"/v1/customers/{customer}", {"name": "B"})
    assert (status, body["error"]["code"]) == (404, "resource_missing")
    _, page, _ = await account.call("GET", "/v1/customers")
    assert page["data"] == []


async def test_unknown_urls_and_versions_answer_as_stripe(account: Account) -> None:
    status, body, _ = await account.call("PUT", "/v1/customers")
    assert status == 404
    assert body["error"]["message"].startswith("Unrecognized request URL (PUT: /v1/customers).")
    status, body, _ = await account.call("GET", "/v1/nothing/here")
    assert (status, body["error"]["type"]) == (404, "invalid_request_error")
    assert "(GET: /v1/nothing/here)" in body["error"]["message"]
    status, body, headers = await account.call(
        "GET", "/v1/customers", headers={"Stripe-Version": "yesterday"}
    )
    assert status == 400
    assert body["error"]["message"] == "Invalid Stripe API version: yesterday"
    status, _, headers = await account.call(
        "GET", "/v1/customers", headers={"Stripe-Version": "2024-06-20"}
    )
    assert (status, headers["Stripe-Version"]) == (200, "2024-06-20")


async def test_a_bracket_key_of_unicode_digits_is_a_map_key_not_a_500(account: Account) -> None:
    # found by the fuzz test: `metadata[²]=x` crashed the form decoder ("²".isdigit())
    status, customer, _ = await account.call("POST", "/v1/customers", {"metadata": {"²": "x"}})
    assert status == 200
    assert customer["metadata"] == {"²": "x"}
    status, body, _ = await account.call("POST", "/v1/customers", {"name": {"²": "x"}})
    assert (status, body["error"]["param"]) == (400, "name")


async def test_days_until_due_only_with_send_invoice(account: Account) -> None:
    customer = await _customer(account)
    status, body, _ = await account.call(
        "POST", "/v1/invoices", {"customer": customer, "days_until_due": 30}
    )
    assert (status, body["error"]["param"]) == (400, "days_until_due")
    _, invoice, _ = await account.call("POST", "/v1/invoices", {"customer": customer})
    status, body, _ = await account.call(
        "POST", f"/v1/invoices/{invoice['id']}", {"days_until_due": 30}
    )
    assert (status, body["error"]["param"]) == (400, "days_until_due")


@pytest.mark.parametrize(
    ("param", "value"),
    [("email", "ap@acme.example\n"), ("invoice_prefix", "ACME\n"), ("preferred_locales", ["en\n"])],
)
async def test_a_trailing_newline_does_not_pass_a_format_check(
    account: Account, param: str, value: object
) -> None:
    status, body, _ = await account.call("POST", "/v1/customers", {param: value})
    assert status == 400
    assert body["error"]["param"].startswith(param)
