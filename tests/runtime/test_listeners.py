"""Both of the daemon's listeners, the webhook listener and the admin API, answer what aiohttp
refuses before any handler runs (a header line too long, a Content-Length that is not a
number, bytes that are not HTTP) in problem+json, as they answer everything else, and log it
without a traceback."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from tests.ingress.webhook_support import running_mediator

MALFORMED = [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 10_000 + b"\r\n\r\n",
    b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
]


async def _exchange(address: tuple[str, int], raw: bytes) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await reader.read()  # closed by the server after a protocol error
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


@pytest.mark.parametrize("listener", ["webhooks", "admin"])
async def test_protocol_errors_are_problem_json_on_both_listeners(
    tmp_path: Path, listener: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_mediator(tmp_path, serve_admin=True) as running:
        mediator = running.mediator
        address = mediator.webhook_address if listener == "webhooks" else mediator.admin_address
        assert address is not None
        for raw in MALFORMED:
            head, body = await _exchange(address, raw)
            assert head.split(b" ")[1] == b"400", head
            assert b"Content-Type: application/problem+json" in head, head
            assert json.loads(body)["status"] == 400
            assert b"pppp" not in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
