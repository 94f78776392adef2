"""`/healthz` and `/readyz`: what an orchestrator (systemd, Kubernetes) asks the daemon.

`/readyz` answers 200 only once every part is started and the journal's recovery is done,
and 503 while starting or stopping, so a load balancer sends nothing to a daemon that is
going away. `/healthz` answers 200 while the process can do its work and names each part's
state (journal, dispatcher, flows, systems with their breakers, pollers with their last
error). Every answer is JSON, errors included (`application/problem+json`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

if TYPE_CHECKING:
    from mediator.runtime.mediator import Mediator

__all__ = ["open_health_listener"]

_encoder = msgspec.json.Encoder()
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def open_health_listener(
    mediator: Mediator, *, host: str, port: int
) -> AsyncIterator[tuple[str, int]]:
    """Serve `/healthz` and `/readyz` of `mediator` on `host:port` for the block.

    Yields the bound address (the real port when `port` is 0).
    """
    app = web.Application(middlewares=[_problems], client_max_size=64 * 1024)

    async def healthz(request: web.Request) -> web.Response:
        return await _healthz(mediator)

    async def readyz(request: web.Request) -> web.Response:
        return await _readyz(mediator)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        bound = sockets[0].getsockname()[:2] if sockets else (host, port)
        yield (str(bound[0]), int(bound[1]))
    finally:
        await runner.cleanup()


def _json(
    data: object, *, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    return web.Response(body=_encoder.encode(data), status=status, content_type=content_type)


async def _readyz(mediator: Mediator) -> web.Response:
    ready = mediator.state == "ready"
    return _json({"ready": ready, "state": mediator.state}, status=200 if ready else 503)


async def _healthz(mediator: Mediator) -> web.Response:
    if mediator.state != "ready":
        return _json({"status": mediator.state}, status=200 if mediator.state != "stopped" else 503)
    stats = mediator.statistics()
    systems = {
        name: {
            "calls": s.transport.calls,
            "breakers": [b.state for b in s.policies.breakers if b.system == name],
        }
        for name, s in stats.systems.items()
    }
    return _json(
        {
            "status": "ok",
            "parts": {
                "journal": {"status": "ok", "appends": stats.journal.appends},
                "dispatcher": {"status": "ok", "pending": stats.dispatcher.pending},
                "flows": {
                    name: {"status": "ok", "live": r.live} for name, r in stats.flows.items()
                },
                "systems": systems,
                "pollers": {
                    p.name: {
                        "status": "failing" if p.last_error else "ok",
                        "last_error": p.last_error,
                    }
                    for p in stats.pollers
                },
            },
        }
    )


@web.middleware
async def _problems(request: web.Request, handler: _Handler) -> web.StreamResponse:
    # unknown routes and wrong methods answer in JSON too (RFC 9457), never aiohttp's text
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        problem = {"type": "about:blank", "title": exc.reason, "status": exc.status}
        return _json(problem, status=exc.status, content_type="application/problem+json")
