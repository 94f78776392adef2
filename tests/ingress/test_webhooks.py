"""The webhook listener over real HTTP: persist, then acknowledge; refuse what is not Stripe's.

A signed event is journaled once (keyed by its event id) and delivered to the flow that
handles its kind; a second delivery is a no-op the answer calls a duplicate. A bad, stale,
missing or malformed signature is a 400 with nothing journaled; an event no flow handles is
acknowledged and dropped; oversized and too-deep bodies, unknown routes and methods get
problem+json; while the mediator drains, new deliveries get 503 with `Retry-After`. The
signing secrets appear in no answer and no log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
from multidict import CIMultiDictProxy

from mediator.daemon import check_daemon_config
from tests.ingress.webhook_support import (
    MAX_BODY,
    NEW_SECRET,
    OLD_SECRET,
    PAID,
    Running,
    event,
    running_mediator,
    signed,
)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async with running_mediator(tmp_path) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object], CIMultiDictProxy[str]]:
    async with http.post(url, data=body, headers=headers) as response:
        assert response.content_type in ("application/json", "application/problem+json")
        return response.status, json.loads(await response.read()), response.headers


async def test_a_signed_event_is_journaled_once_and_delivered(
    running: Running, http: aiohttp.ClientSession
) -> None:
    body = event("evt_paid_1", object_id="in_123")
    status, answer, _ = await _post(http, running.url, body, signed(body))
    assert (status, answer) == (200, {"received": True, "duplicate": False})
    # the answer came after the entry was durable: it is in the file already
    assert running.journaled() == [(PAID, "invoice:in_123", "stripe:event:evt_paid_1", "stripe")]
    await running.mediator.wait_idle()
    [delivered] = running.deliveries.seen
    assert delivered.kind == PAID
    assert delivered.key == "invoice:in_123"
    assert delivered.occurred_at == datetime.datetime.fromtimestamp(1_790_000_000, datetime.UTC)
    assert bytes(delivered.payload) == body  # the raw event, for the billing flow to decode

    # Stripe delivers again (a retry, or its at-least-once duplicate), signed anew
    status, answer, _ = await _post(http, running.url, body, signed(body))
    assert (status, answer) == (200, {"received": True, "duplicate": True})
    assert len(running.journaled()) == 1
    await running.mediator.wait_idle()
    assert len(running.deliveries.seen) == 1


async def test_a_traced_sender_s_traceparent_is_journaled_with_the_event(
    running: Running, http: aiohttp.ClientSession
) -> None:
    traced = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    body = event("evt_traced", object_id="in_7")
    status, _, _ = await _post(http, running.url, body, {**signed(body), "traceparent": traced})
    assert status == 200
    malformed = event("evt_untraced", object_id="in_8")
    headers = {**signed(malformed), "traceparent": "00-not-a-trace-01"}
    status, _, _ = await _post(http, running.url, malformed, headers)
    assert status == 200  # a malformed traceparent is ignored, never an error
    await running.mediator.wait_idle()
    by_key = {d.key: d.traceparent for d in running.deliveries.seen}
    assert by_key == {"invoice:in_7": traced, "invoice:in_8": None}


async def test_either_secret_signs_during_rotation(
    running: Running, http: aiohttp.ClientSession
) -> None:
    for number, secret in enumerate((OLD_SECRET, NEW_SECRET)):
        body = event(f"evt_rot_{number}", object_id=f"in_{number}")
        status, answer, _ = await _post(http, running.url, body, signed(body, secret))
        assert (status, answer["duplicate"]) == (200, False)
    assert len(running.journaled()) == 2


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("wrong secret", "no v1 signature matches"),
        ("other body", "no v1 signature matches"),
        ("stale", "s old"),
        ("missing", "missing"),
        ("malformed", "malformed"),
        ("no timestamp", "no timestamp"),
    ],
)
async def test_a_bad_signature_is_400_and_nothing_is_journaled(
    running: Running, http: aiohttp.ClientSession, case: str, named: str
) -> None:
    body = event("evt_bad")
    headers = {
        "wrong secret": signed(body, "whsec_someone_else"),
        "other body": signed(body + b"\n"),
        "stale": signed(body, at=int(time.time()) - 301),
        "missing": {"Content-Type": "application/json"},
        "malformed": {"Stripe-Signature": "signed by stripe, honest"},
        "no timestamp": {"Stripe-Signature": "v1=" + "a" * 64},
    }[case]
    status, answer, _ = await _post(http, running.url, body, headers)
    assert status == 400
    assert named in str(answer["detail"])
    assert answer["field"] == "header.Stripe-Signature"
    assert running.journaled() == []


async def test_an_event_no_flow_handles_is_acknowledged_not_journaled(
    running: Running, http: aiohttp.ClientSession
) -> None:
    body = event("evt_cust", type="customer.created", object_id="cus_1")
    status, answer, _ = await _post(http, running.url, body, signed(body))
    assert (status, answer) == (200, {"received": True, "ignored": True})
    assert running.journaled() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"id": "evt_1", "type": "invoice.paid", "created": 1}', "body.data"),
        (b'{"id": "evt_1", "type": "invoice.paid", "created": "x", "data": {}}', "body.created"),
        (b'{"id": "", "type": "invoice.paid", "created": 1, "data": {}}', "body.id"),
        (
            b'{"id": "e", "type": "invoice.paid", "created": 1, "data": {"object": {"id": 7}}}',
            "body.data.object.id",
        ),
        (b"[1, 2", "body"),
        (b"\xff\xfe", "body"),
        (b"", "body"),
    ],
)
async def test_an_undecodable_event_is_400_naming_the_field(
    running: Running, http: aiohttp.ClientSession, body: bytes, field: str
) -> None:
    status, answer, _ = await _post(http, running.url, body, signed(body))
    assert status == 400
    assert answer["field"] == field
    assert running.journaled() == []


async def test_deep_json_is_400_not_a_crash(running: Running, http: aiohttp.ClientSession) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    in_the_object = event().replace(b'"amount_paid": 12500', b'"lines": ' + deep)
    at_the_top = b'{"extra": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001
    for body in (in_the_object, at_the_top):
        assert len(body) < MAX_BODY
        status, answer, _ = await _post(http, running.url, body, signed(body))
        assert status == 400, answer
        assert answer["detail"] == "nested too deeply"
    assert running.journaled() == []


async def test_an_oversized_body_is_413_problem_json(
    running: Running, http: aiohttp.ClientSession
) -> None:
    body = event().replace(b'"amount_paid"', b'"pad": "' + b"x" * MAX_BODY + b'", "amount_paid"')
    status, answer, _ = await _post(http, running.url, body, signed(body))
    assert status == 413
    assert str(MAX_BODY) in str(answer["detail"])

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the streamed body counts
        for _ in range(MAX_BODY // 1024 + 8):
            yield b"x" * 1024

    async with http.post(running.url, data=chunks(), headers=signed(b"")) as response:
        assert response.status == 413
        assert response.content_type == "application/problem+json"
    assert running.journaled() == []


async def test_unknown_routes_and_methods_are_json(
    running: Running, http: aiohttp.ClientSession
) -> None:
    base = running.url.removesuffix("/webhooks/stripe")
    async with http.get(f"{base}/nowhere") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert "/nowhere" in (await response.json(content_type=None))["detail"]
    async with http.get(running.url) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert response.content_type == "application/problem+json"


async def test_during_the_drain_new_deliveries_get_503_with_retry_after(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        running = await stack.enter_async_context(running_mediator(tmp_path, gate_open=False))
        first = event("evt_before", object_id="in_1")
        status, _, _ = await _post(http, running.url, first, signed(first))
        assert status == 200
        await running.deliveries.started.wait()  # its delivery holds the drain open
        stopping = asyncio.ensure_future(stack.aclose())
        await asyncio.sleep(0)  # one turn: the exit runs up to the drain, which waits
        assert running.mediator.state == "stopping"
        late = event("evt_during", object_id="in_2")
        status, answer, headers = await _post(http, running.url, late, signed(late))
        assert status == 503
        assert headers["Retry-After"] == "30"
        assert "stopping" in str(answer["detail"])
        running.deliveries.gate.set()
        await stopping
    assert [e.key for e in running.deliveries.seen] == ["invoice:in_1"]
    assert [row[1] for row in running.journaled()] == ["invoice:in_1"]


async def test_the_secrets_appear_in_no_answer_and_no_log(
    running: Running, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: list[bytes] = []
    body = event("evt_log")
    for headers in (signed(body), signed(body, "whsec_other"), signed(body, at=1), {}):
        async with http.post(running.url, data=body, headers=headers) as response:
            answers.append(await response.read())
    ignored = event("evt_ign", type="charge.succeeded")
    async with http.post(running.url, data=ignored, headers=signed(ignored)) as response:
        answers.append(await response.read())
    text = "\n".join(r.getMessage() for r in caplog.records) + repr(answers)
    assert "refused a Stripe webhook" in text  # the refusals were logged
    for secret in (NEW_SECRET, OLD_SECRET):
        assert secret not in text
    stats = msgspec.json.encode(running.mediator.statistics()).decode()
    assert NEW_SECRET not in stats


def test_check_config_refuses_webhooks_without_secrets(tmp_path: Path) -> None:
    path = tmp_path / "mediator.toml"
    path.write_text('[ingress.webhooks]\nlisten = "127.0.0.1:8081"\n')
    _, problems = check_daemon_config(path)
    assert len(problems) == 1
    assert "ingress.webhooks" in str(problems[0])
    assert "stripe_secrets" in str(problems[0])


def test_the_examples_webhook_block_checks_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = Path(__file__).parents[2] / "examples" / "mediator.toml"
    lines = example.read_text().splitlines()
    start = lines.index("# [ingress.webhooks]")
    for index in range(start, start + 7):  # the table and its keys, their comments kept
        lines[index] = lines[index].removeprefix("# ")
    path = tmp_path / "mediator.toml"
    path.write_text("\n".join(lines) + "\n")
    for name, value in {
        "SF_CLIENT_SECRET": "sandbox-secret",
        "HARVEST_TOKEN": "sandbox-token",
        "STRIPE_API_KEY": "sk_test_sandbox",
        "TRYTON_PASSWORD": "admin",
        "MEDIATOR_ADMIN_TOKEN": "change-me",
        "STRIPE_WEBHOOK_SECRET": "whsec_example",
    }.items():
        monkeypatch.setenv(name, value)
    loaded, problems = check_daemon_config(path)
    assert problems == []
    assert loaded is not None
    webhooks = loaded.config.ingress.webhooks
    assert webhooks is not None
    assert webhooks.listen == "127.0.0.1:8081"
    assert webhooks.stripe_secrets == ["env:STRIPE_WEBHOOK_SECRET"]


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nStripe-Signature: t=" + b"1" * 10_000,
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 a TLS hello on the plain port\r\n\r\n",
        b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["long header", "bad length", "two lengths", "not http", "bad chunk"],
)
async def test_requests_aiohttp_refuses_itself_are_problem_json_too(
    running: Running, raw: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert running.mediator.webhook_address is not None
    reader, writer = await asyncio.open_connection(*running.mediator.webhook_address)
    try:
        writer.write(raw + b"\r\n\r\n")
        await writer.drain()
        answer = await reader.read()  # the connection is closed after a protocol error
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400", answer
    assert b"Content-Type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 400
    assert b"1111" not in body  # the request's bytes are not echoed
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert running.journaled() == []


async def test_an_encoded_body_is_415_since_the_signature_covers_the_bytes_as_sent(
    running: Running, http: aiohttp.ClientSession
) -> None:
    body = event()
    for encoded in (gzip.compress(body), b"\x1f\x8bnot gzip"):
        headers = {**signed(body), "Content-Encoding": "gzip"}
        status, answer, response_headers = await _post(http, running.url, encoded, headers)
        assert status == 415, answer
        assert answer["field"] == "header.Content-Encoding"
        assert response_headers.get("Connection") == "close"
    assert running.journaled() == []


async def test_a_missing_event_field_is_named(
    running: Running, http: aiohttp.ClientSession
) -> None:
    obj = b'{"object": {"id": "in_1", "object": "invoice"}}'
    body = b'{"type": "invoice.paid", "created": 1, "data": ' + obj + b"}"
    status, answer, _ = await _post(http, running.url, body, signed(body))
    assert status == 400
    assert answer["field"] == "body.id"
