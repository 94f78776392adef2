"""Fuzzing the Stripe sandbox: hostile form bodies, queries and ids on every route.

Whatever arrives — unknown or mistyped parameters, nested brackets, huge numbers, broken
percent-escapes, invalid UTF-8, ids of the wrong kind — the answer is never a 5xx, and every
4xx is Stripe's error object `{"error": {"type", "message", ...}}`. Bounded for CI; see
`fuzzing.py` for the longer run.
"""

import asyncio
from typing import Any
from urllib.parse import quote

import requests
from hypothesis import given
from hypothesis import strategies as st

from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.stripe.documented import CUSTOMER_EXTRAS, INVOICE_EXTRAS, ITEM_EXTRAS
from mediator.testing import FakeClock
from tests.sandbox.fuzz_settings import fuzzed, no_server_error

KEY = "sk_test_sandbox"

_LIST = "limit starting_after ending_before created expand"
_CUSTOMER = (
    "name email description phone currency invoice_prefix tax_exempt metadata address "
    "preferred_locales expand"
)
# Each route with the parameters it takes, so that most examples get past "unknown
# parameter" and reach the typed readers; a few foreign names still come through.
_EXTRAS = {
    "/v1/customers": " ".join(CUSTOMER_EXTRAS),
    "/v1/invoices": " ".join(INVOICE_EXTRAS),
    "/v1/invoiceitems": " ".join(ITEM_EXTRAS),
}
ROUTES: list[tuple[str, str, list[str]]] = [
    (method, path, (names + " " + _EXTRAS.get(path.removesuffix("/{id}"), "")).split())
    for method, path, names in [
        ("POST", "/v1/customers", _CUSTOMER),
        ("GET", "/v1/customers", _LIST + " email test_clock"),
        ("GET", "/v1/customers/{id}", "expand"),
        ("POST", "/v1/customers/{id}", _CUSTOMER),
        ("DELETE", "/v1/customers/{id}", ""),
        (
            "POST",
            "/v1/invoiceitems",
            "customer amount currency description quantity unit_amount invoice metadata "
            "period expand",
        ),
        ("GET", "/v1/invoiceitems", _LIST + " customer invoice pending"),
        ("GET", "/v1/invoiceitems/{id}", "expand"),
        (
            "POST",
            "/v1/invoices",
            "customer auto_advance collection_method days_until_due description metadata "
            "currency pending_invoice_items_behavior expand",
        ),
        ("GET", "/v1/invoices", _LIST + " customer status collection_method subscription"),
        ("GET", "/v1/invoices/{id}", "expand"),
        ("POST", "/v1/invoices/{id}", "metadata description auto_advance days_until_due expand"),
        ("DELETE", "/v1/invoices/{id}", ""),
        ("POST", "/v1/invoices/{id}/finalize", "auto_advance expand"),
        (
            "POST",
            "/v1/invoices/{id}/pay",
            "paid_out_of_band payment_method source off_session forgive expand",
        ),
        ("POST", "/v1/invoices/{id}/void", "expand"),
        ("POST", "/v1/invoices/{id}/mark_uncollectible", "expand"),
        ("POST", "/v1/invoices/{id}/send", "expand"),
        ("GET", "/v1/invoices/{id}/lines", "limit starting_after ending_before expand"),
        ("GET", "/v1/events", _LIST + " type types delivery_success"),
        ("GET", "/v1/events/{id}", "expand"),
        ("PUT", "/v1/customers", ""),
        ("GET", "/v1/{id}", ""),
    ]
]

SUBKEYS = [
    "custom_fields",
    "name",
    "value",
    "footer",
    "address",
    "type",
    "coupon",
    "enabled",
    "rendering_options",
    "start",
    "end",
    "gt",
    "gte",
    "lt",
    "lte",
    "line1",
    "city",
    "country",
    "postal_code",
    "0",
    "1",
    "",
    "customer",
    "data",
    "k",
]
SCALARS = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1",
            "abc",
            "true",
            "false",
            "usd",
            "USD",
            "xyz",
            "99999999",
            "100000000",
            "9" * 25,
            "1e3",
            "1.5",
            " 7",
            "٣",
            "send_invoice",
            "include",
            "ap@example.com",
            "en",
            "customer",
            "data.customer",
            "invoice.customer",
            "a.b.c.d.e",
            "none",
            "reverse",
            "draft",
            "open",
            "invoice.*",
        ]
    ),
    st.text(max_size=20),
    st.text(min_size=490, max_size=600),
    st.integers(-(2**70), 2**70).map(str),
)


@st.composite
def keys(draw: st.DrawFn, names: list[str]) -> str:
    known = bool(names) and draw(st.integers(0, 9)) != 0
    key = draw(st.sampled_from(names) if known else st.text(max_size=10))
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 3]))):
        key += "[" + draw(st.one_of(st.sampled_from(SUBKEYS), st.text(max_size=5))) + "]"
    if not draw(st.integers(0, 9)):
        key += draw(st.sampled_from(["[", "]", "][", "[]", "[0][]", "[[x]]"]))
    return key


def encoded(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in pairs)


def bodies(names: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(st.tuples(keys(names), SCALARS), max_size=6).map(encoded),
        st.text(max_size=60),
        st.sampled_from(["%", "%zz", "a=%ff", "=1", "&&&", "a[b]=1&a=2", "a=1&a[b]=2"]),
    )


@st.composite
def ids(draw: st.DrawFn, known: list[str]) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(known))
    text = draw(st.text(min_size=1, max_size=30))
    return quote(text, safe="") or "x"


async def test_stripe_routes_never_answer_5xx_and_4xx_is_stripe_shaped(clock: FakeClock) -> None:
    box = StripeSandbox(clock=clock, rate_limit=10**9)
    async with open_sandbox(box) as url:

        def scenario() -> None:
            with requests.Session() as http:
                http.trust_env = False
                http.headers["Authorization"] = f"Bearer {KEY}"
                customer = http.post(url + "/v1/customers", data={"name": "ACME"}).json()
                invoice = http.post(url + "/v1/invoices", data={"customer": customer["id"]})
                known = [customer["id"], invoice.json()["id"], "cus_nope", "in_nope"]

                @fuzzed
                @given(route=st.sampled_from(ROUTES), data=st.data())
                def probe(route: tuple[str, str, list[str]], data: Any) -> None:
                    method, template, names = route
                    body = data.draw(bodies(names))
                    path = template.replace("{id}", data.draw(ids(known)))
                    target, payload = url + path, None
                    if method == "POST":
                        payload = body.encode("utf-8", "surrogatepass")
                    else:
                        # aiohttp's request-line limit (8,190 bytes) answers before any
                        # sandbox code runs; the long values go in POST bodies instead.
                        target += "?" + body[:1500]
                    headers = {"Content-Type": "application/x-www-form-urlencoded"}
                    key = data.draw(
                        st.none()
                        | st.text(
                            st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300
                        )
                    )
                    if key is not None:
                        headers["Idempotency-Key"] = key.strip() or "k"
                    what = f"{method} {path} {body[:200]!r} key={key!r}"
                    response = http.request(method, target, data=payload, headers=headers)
                    answer = no_server_error(response, what)
                    if 400 <= response.status_code < 500:
                        error = answer["error"]
                        assert isinstance(error["type"], str), what
                        assert isinstance(error["message"], str), what

                probe()

        await asyncio.to_thread(scenario)
