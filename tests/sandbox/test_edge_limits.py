"""The shared edge answers in each vendor's shape: oversized bodies and handler bugs alike."""

import io
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from mediator.sandbox.base import MAX_BODY, Sandbox
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.tryton import TrytonSandbox
from mediator.testing import FakeClock

# One write route per product (any body goes through the edge before the product sees it).
PRODUCTS: list[tuple[type[Sandbox], str]] = [
    (StripeSandbox, "/v1/customers"),
    (SalesforceSandbox, "/services/data/v59.0/sobjects/Account"),
    (HarvestSandbox, "/v2/clients"),
    (TrytonSandbox, "/tryton/rpc/"),
]


def _shape(status: int, content_type: str, body: bytes) -> tuple[int, str, bytes]:
    return status, content_type, body


async def _expected(box: Sandbox, status: int, message: str) -> tuple[int, str, bytes]:
    sample = box.error_response(status, message)
    return _shape(sample.status, sample.content_type, bytes(sample.body))  # type: ignore[arg-type]  # a web.Response built from bytes


@pytest.mark.parametrize(("product", "path"), PRODUCTS, ids=lambda p: getattr(p, "product", p))
async def test_a_body_over_one_mebibyte_gets_the_vendors_413(
    product: type[Sandbox], path: str, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = product(clock=clock)
    assert box.max_body == MAX_BODY == 1024 * 1024
    async with open_sandbox(box) as url:
        async with http.post(url + path, data=io.BytesIO(b"x" * (MAX_BODY + 1))) as resp:
            got = _shape(resp.status, resp.content_type, await resp.read())
        # exactly the limit is still read and handed to the product (which refuses it its way)
        async with http.post(url + path, data=io.BytesIO(b"x" * MAX_BODY)) as resp:
            assert resp.status != 413
    expected = await _expected(
        box, 413, f"Request body exceeds the maximum size of {MAX_BODY} bytes"
    )
    assert got == expected
    first, second = box.requests.matching("POST", path)
    assert (first.status, first.body, first.fault) == (413, b"", None)
    assert second.status != 413
    assert len(second.body) == MAX_BODY


@pytest.mark.parametrize(("product", "path"), PRODUCTS, ids=lambda p: getattr(p, "product", p))
async def test_max_body_is_a_constructor_option_and_chunked_bodies_are_counted(
    product: type[Sandbox], path: str, clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = product(clock=clock)
    box.max_body = 100  # as `max_body=100` would; the subclasses' constructors pass it on

    async def chunks() -> AsyncIterator[
        bytes
    ]:  # no Content-Length: the limit is found while reading
        for _ in range(3):
            yield b"y" * 60

    async with open_sandbox(box) as url, http.post(url + path, data=chunks()) as resp:
        assert resp.status == 413
    assert [r.status for r in box.requests.matching("POST")] == [413]


@pytest.mark.parametrize("product", [StripeSandbox, SalesforceSandbox])
async def test_max_body_keyword(product: type[Sandbox], clock: FakeClock) -> None:
    assert product(clock=clock, max_body=10).max_body == 10


@pytest.mark.parametrize(("product", "path"), PRODUCTS, ids=lambda p: getattr(p, "product", p))
async def test_a_handler_bug_is_logged_and_answered_in_the_vendors_shape(
    product: type[Sandbox],
    path: str,
    clock: FakeClock,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise ZeroDivisionError("a bug, not bad input")

    class Broken(product):  # type: ignore[valid-type, misc]  # a product chosen at run time
        def add_routes(self, app: web.Application) -> None:
            super().add_routes(app)
            app.router.add_get(path + "boom", broken)

    box = Broken(clock=clock)
    if isinstance(box, SalesforceSandbox):
        headers = {"Authorization": f"Bearer {box.issue_token()}"}
    elif isinstance(box, StripeSandbox):
        headers = {"Authorization": "Bearer sk_test_sandbox"}
    elif isinstance(box, HarvestSandbox):
        headers = {
            "Authorization": "Bearer sandbox-token",
            "Harvest-Account-Id": "1234567",
            "User-Agent": "edge test",
        }
    else:
        headers = {}
    with caplog.at_level(logging.ERROR, logger="mediator.sandbox.base"):
        async with open_sandbox(box) as url, http.get(url + path + "boom", headers=headers) as resp:
            got = _shape(resp.status, resp.content_type, await resp.read())
    expected = await _expected(box, 500, "Internal Server Error")
    assert got[:2] == expected[:2]
    if expected[1] == "application/json":
        # Stripe and Salesforce answer in JSON; compare the error objects, not request ids
        assert got[2] == expected[2]
    assert "Server got itself in trouble" not in got[2].decode()
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError
    assert [r.status for r in box.requests.matching("GET")] == [500]
