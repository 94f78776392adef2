"""Serve one sandbox on a loopback port (port 0 picks a free one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from mediator.sandbox.base import Sandbox

__all__ = ["open_sandbox"]


@asynccontextmanager
async def open_sandbox(
    sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve `sandbox` on `host:port` and yield its base URL (`http://host:port`); stop on exit."""
    runner = web.AppRunner(sandbox.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()
