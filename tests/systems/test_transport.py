"""HttpTransport and Connector retries against a scripted aiohttp server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from mediator.errors import CircuitOpen, ConnectorUnavailable, RemoteRejected
from mediator.policies import PolicyRegistry, parse_policy_config
from mediator.systems import Connector, HttpTransport
from mediator.testing import FakeClock
from mediator.testing.error_codes import EVERY_VENDORS_CODES, any_vendors_error_code

POLICIES = """
[policies.retries.quick]
initial = 1.0
multiplier = 2.0
max_delay = 10.0
max_attempts = 4

[policies.breakers.tight]
consecutive_failures = 3
failure_rate = 1.0
window = 60.0
min_calls = 100
open_for = 30.0
max_open_for = 60.0
half_open_probes = 1

[[targets]]
system = "scripted"
retry = "quick"
breaker = "tight"
"""


_code = any_vendors_error_code


class Script:
    """Answers queued per path (made afresh for each request); the last one repeats."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Callable[[], web.Response]]] = {}
        self.hits: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        queue = self.answers[request.path]
        return (queue.pop(0) if len(queue) > 1 else queue[0])()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Script, str]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield script, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _registry(clock: FakeClock) -> PolicyRegistry:
    registry = PolicyRegistry(
        parse_policy_config(POLICIES, file="test.toml"), clock=clock, random=lambda: 1.0
    )
    registry.register_error_codes("scripted", EVERY_VENDORS_CODES)
    return registry


def _transport(url: str, clock: FakeClock) -> HttpTransport:
    return HttpTransport(
        system="scripted", base_url=url, policies=_registry(clock), clock=clock, error_code=_code
    )


class Scripted(Connector):
    """The base connector's retries, on the scripted system."""

    system = "scripted"
    error_code = staticmethod(_code)
    error_codes = EVERY_VENDORS_CODES


def _connector(url: str, clock: FakeClock) -> Connector:
    return Scripted(base_url=url, policies=_registry(clock), clock=clock)


async def test_success_is_returned_with_lowercased_headers(server: tuple[Script, str]) -> None:
    script, url = server
    script.answers["/ok"] = [lambda: web.json_response({"id": 1}, headers={"X-Thing": "yes"})]
    transport = _transport(url, FakeClock())
    response = await transport.send("GET", "/ok")
    assert (response.status, response.header("x-thing")) == (200, "yes")
    assert json.loads(response.body) == {"id": 1}
    assert transport.statistics().calls == 1
    await transport.aclose()


async def test_429_with_retry_after_is_waited_on_the_clock_then_retried(
    server: tuple[Script, str],
) -> None:
    script, url = server
    script.answers["/busy"] = [
        lambda: web.json_response({"message": "x"}, status=429, headers={"Retry-After": "7"}),
        lambda: web.json_response({"ok": True}),
    ]
    clock = FakeClock()
    connector = _connector(url, clock)
    call = asyncio.create_task(
        connector.run_with_retries(
            lambda: connector.transport.send("GET", "/busy"), endpoint="/busy"
        )
    )
    await clock.wait_for_timers()
    assert script.hits["/busy"] == 1
    await clock.advance(6.9)
    assert not call.done()
    await clock.advance(0.2)
    response = await call
    assert response.status == 200
    assert connector.statistics().retries == 1
    await connector.aclose()


async def test_validation_error_is_not_retried_and_keeps_status_and_code(
    server: tuple[Script, str],
) -> None:
    script, url = server
    script.answers["/bad"] = [
        lambda: web.json_response(
            [{"message": "bad field", "errorCode": "INVALID_FIELD", "fields": ["Name"]}],
            status=400,
        )
    ]
    connector = _connector(url, FakeClock())
    with pytest.raises(RemoteRejected) as info:
        await connector.run_with_retries(
            lambda: connector.transport.send("POST", "/bad", body=b"{}"), endpoint="/bad"
        )
    assert (info.value.status, info.value.code) == (400, "INVALID_FIELD")
    assert "bad field" in info.value.detail
    assert script.hits["/bad"] == 1
    await connector.aclose()


async def test_a_5xx_the_server_says_not_to_retry_is_not_retried(
    server: tuple[Script, str],
) -> None:
    script, url = server
    script.answers["/charge"] = [
        lambda: web.json_response(
            {"error": {"type": "api_error"}}, status=500, headers={"Stripe-Should-Retry": "false"}
        )
    ]
    connector = _connector(url, FakeClock())
    with pytest.raises(RemoteRejected) as info:
        async with asyncio.timeout(5):  # a retry would wait on the fake clock, which stands still
            await connector.run_with_retries(
                lambda: connector.transport.send("POST", "/charge", body=b"{}"), endpoint="/charge"
            )
    assert (info.value.status, info.value.code) == (500, "api_error")
    assert script.hits["/charge"] == 1
    assert connector.statistics().retries == 0
    await connector.aclose()


async def test_repeated_5xx_open_the_breaker_and_calls_stop_going_out(
    server: tuple[Script, str],
) -> None:
    script, url = server
    script.answers["/down"] = [lambda: web.Response(status=503, text="maintenance")]
    transport = _transport(url, FakeClock())
    for _ in range(3):
        with pytest.raises(RemoteRejected):
            await transport.send("GET", "/down")
    with pytest.raises(CircuitOpen) as info:
        await transport.send("GET", "/down")
    assert info.value.retry_after == pytest.approx(30.0)
    assert script.hits["/down"] == 3
    assert transport.statistics().errors["CircuitOpen"] == 1
    await transport.aclose()


async def test_refused_connection_is_connector_unavailable() -> None:
    transport = _transport("http://127.0.0.1:9", FakeClock())
    with pytest.raises(ConnectorUnavailable) as info:
        await transport.send("GET", "/anything")
    assert info.value.system == "scripted"
    await transport.aclose()
