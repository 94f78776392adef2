"""The webhook listener when the journal fails, when it stops, and when our own code breaks,
driven through a stand-in for the `Mediator` whose `accept` the test controls.

A journal failure is a 503 with `Retry-After` (Stripe delivers again), never a 2xx; a request
already being journaled when the stop begins finishes with its 200 while new ones get 503;
before the mediator is ready, deliveries get 503 too; an unexpected error is a 500
problem+json without a traceback (the traceback is logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from mediator.clock import Clock, SystemClock
from mediator.codecs import Envelope
from mediator.config import WebhookConfig
from mediator.errors import JournalError
from mediator.ingress.webhooks import open_webhook_listener
from mediator.journal import Appended
from mediator.systems import Secret
from tests.ingress.webhook_support import NEW_SECRET, PAID, event, signed


async def _journaled(envelope: Envelope) -> Appended:
    return Appended(envelope=envelope, duplicate=False)


@dataclasses.dataclass
class _Target:
    """The part of a `Mediator` the listener uses, with an `accept` the test provides."""

    accepting: Callable[[Envelope], Awaitable[Appended]] = _journaled
    state: str = "ready"
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    handled_kinds: frozenset[str] = frozenset({PAID})

    async def accept(self, envelope: Envelope) -> Appended:
        return await self.accepting(envelope)


@contextlib.asynccontextmanager
async def _listening(target: _Target, *, read_timeout: float = 30.0) -> AsyncIterator[str]:
    config = WebhookConfig(listen="127.0.0.1:0", stripe_secrets=["env:UNUSED"])
    secrets = [Secret(NEW_SECRET)]
    async with open_webhook_listener(
        target, config, secrets, host="127.0.0.1", port=0, read_timeout=read_timeout
    ) as bound:
        yield f"http://{bound[0]}:{bound[1]}/webhooks/stripe"


async def _post(url: str, body: bytes) -> tuple[int, dict[str, object], str | None]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers=signed(body)) as r,
    ):
        assert r.content_type in ("application/json", "application/problem+json")
        return r.status, json.loads(await r.read()), r.headers.get("Retry-After")


async def test_a_journal_failure_is_503_with_retry_after() -> None:
    async def failing(envelope: Envelope) -> Appended:
        raise JournalError("journal.sqlite", "disk I/O error")

    async with _listening(_Target(failing)) as url:
        status, answer, retry_after = await _post(url, event())
    assert status == 503
    assert retry_after == "30"
    assert answer["title"] == "Service Unavailable"


@pytest.mark.parametrize("state", ["starting", "stopping", "stopped"])
async def test_deliveries_before_ready_or_while_stopping_get_503(state: str) -> None:
    accepted: list[Envelope] = []

    async def keep(envelope: Envelope) -> Appended:
        accepted.append(envelope)
        return Appended(envelope=envelope, duplicate=False)

    async with _listening(_Target(keep, state=state)) as url:
        status, answer, retry_after = await _post(url, event())
    assert (status, retry_after) == (503, "30")
    assert state in str(answer["detail"])
    assert accepted == []


async def test_a_delivery_being_journaled_when_the_stop_begins_finishes() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def slow(envelope: Envelope) -> Appended:
        entered.set()
        await release.wait()
        return Appended(envelope=envelope, duplicate=False)

    target = _Target(slow)
    async with _listening(target) as url:
        first = asyncio.ensure_future(_post(url, event("evt_first")))
        await entered.wait()
        target.state = "stopping"
        status, _, retry_after = await _post(url, event("evt_second"))
        assert (status, retry_after) == (503, "30")
        release.set()
        status, answer, _ = await first
    assert (status, answer) == (200, {"received": True, "duplicate": False})


async def test_our_own_bug_is_a_500_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(envelope: Envelope) -> Appended:
        raise KeyError("a bug of ours")

    async with _listening(_Target(broken)) as url:
        status, answer, _ = await _post(url, event())
    assert status == 500
    assert "Traceback" not in json.dumps(answer)
    assert "a bug of ours" not in json.dumps(answer)
    assert any(r.exc_info and "webhooks" in r.getMessage() for r in caplog.records)


async def test_a_body_that_trickles_in_is_408() -> None:
    accepted: list[Envelope] = []

    async def keep(envelope: Envelope) -> Appended:
        accepted.append(envelope)
        return Appended(envelope=envelope, duplicate=False)

    async with _listening(_Target(keep), read_timeout=0.2) as url:
        host, port = url.removeprefix("http://").split("/")[0].split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            # the headers, then a tenth of the body promised, then nothing
            writer.write(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
            writer.write(b"Stripe-Signature: t=1,v1=" + b"a" * 64 + b"\r\n\r\n0123456789")
            await writer.drain()
            # the answer, by its length: the server lingers a while for the rest of the body
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            body = await reader.readexactly(length)
        finally:
            writer.close()
            await writer.wait_closed()
    assert head.split(b" ")[1] == b"408", head
    assert json.loads(body)["detail"] == "the body took longer than 0.2 s to arrive"
    assert accepted == []
