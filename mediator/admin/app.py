"""The admin API's aiohttp application and its listener on `[admin] listen`, with the
operator's dashboard (`mediator.dashboard`) beside it.

One table of endpoints (status, dead letters, entities, approvals and audit) drives the
routes and `/openapi.json`. Each request passes, in order: the problem middleware (every
error as RFC 9457 JSON, a missed deadline as 504), the body limit of `[admin] max_body`
(aiohttp refuses more with 413), the token check of the endpoint's role, the decoding of its
query and body, the handler, and the encoding of its answer. `[admin] request_timeout`
bounds reading the request and every read; an action, once decoded, runs to its end. The
journal being unreadable is a 503, never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from importlib import metadata
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from mediator.admin.approval_routes import APPROVAL_ENDPOINTS
from mediator.admin.auth import TokenTable
from mediator.admin.dead_letter_routes import DEAD_LETTER_ENDPOINTS
from mediator.admin.endpoint import Call, Endpoint, decode_body, decode_query
from mediator.admin.entity_routes import ENTITY_ENDPOINTS
from mediator.admin.openapi import openapi_document
from mediator.admin.problems import ProblemError, problem_middleware
from mediator.admin.reconciliation_routes import RECONCILIATION_ENDPOINTS
from mediator.admin.snapshots import Snapshots
from mediator.admin.status_routes import STATUS_ENDPOINTS
from mediator.errors import JournalError
from mediator.ingress.problem_runner import ProblemAppRunner
from mediator.telemetry import collect, render_prometheus

if TYPE_CHECKING:
    from mediator.runtime import Mediator

__all__ = ["ENDPOINTS", "build_admin_app", "open_admin_listener"]

ENDPOINTS: tuple[Endpoint, ...] = (
    *STATUS_ENDPOINTS,
    *DEAD_LETTER_ENDPOINTS,
    *ENTITY_ENDPOINTS,
    *APPROVAL_ENDPOINTS,
    *RECONCILIATION_ENDPOINTS,
)
_encoder = msgspec.json.Encoder()
_log = logging.getLogger("mediator.admin")


def build_admin_app(mediator: Mediator, tokens: TokenTable) -> web.Application:
    """The admin API of `mediator`, with `tokens` deciding who may do what."""
    admin = mediator.loaded.config.admin
    app = web.Application(
        middlewares=[problem_middleware(timeout=admin.request_timeout, max_body=admin.max_body)],
        client_max_size=admin.max_body,
    )
    snapshots = Snapshots(mediator)
    for endpoint in ENDPOINTS:
        handler = functools.partial(_run, endpoint, mediator, tokens, snapshots)
        app.router.add_route(endpoint.method, endpoint.path, handler)
    try:
        version = metadata.version("mediator")
    except metadata.PackageNotFoundError:
        version = "0"
    document = _encoder.encode(openapi_document(ENDPOINTS, version=version))

    async def openapi(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    app.router.add_get("/openapi.json", openapi)

    async def metrics(request: web.Request) -> web.Response:
        if admin.metrics_auth == "token":
            tokens.identify(request, needs="viewer")
        async with asyncio.timeout(admin.request_timeout):
            try:
                found = await collect(mediator, snapshots.statistics())
            except JournalError as exc:
                detail = f"the journal: {exc.reason}"
                raise ProblemError(503, "Service Unavailable", detail) from None
        body, content_type = render_prometheus(found, accept=request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app.router.add_get("/metrics", metrics)

    from mediator.dashboard import mount_dashboard  # the dashboard is a client of this table

    mount_dashboard(app, mediator=mediator, tokens=tokens, snapshots=snapshots,
                    endpoints=ENDPOINTS)  # fmt: skip
    return app


async def _run(
    endpoint: Endpoint,
    mediator: Mediator,
    tokens: TokenTable,
    snapshots: Snapshots,
    request: web.Request,
) -> web.Response:
    deadline = asyncio.get_running_loop().time() + mediator.loaded.config.admin.request_timeout
    async with asyncio.timeout_at(deadline):  # a slow client's body counts too
        principal = None if endpoint.role is None else tokens.identify(request, needs=endpoint.role)
        query = None if endpoint.query is None else decode_query(request, endpoint.query)
        if endpoint.query is None and request.query:
            name = next(iter(request.query))
            raise ProblemError(400, "Bad Request", "this endpoint takes no query parameters",
                               field=f"query.{name}")  # fmt: skip
        admin = mediator.loaded.config.admin
        body = (
            None
            if endpoint.body is None
            else await decode_body(
                request,
                endpoint.body,
                max_body=admin.max_body,
                # before the request's own deadline: a slow body is the client's 408, not a 504
                timeout=0.95 * (deadline - asyncio.get_running_loop().time()),
            )
        )
    call = Call(request=request, mediator=mediator, snapshots=snapshots, principal=principal,
                query=query, body=body, params=request.match_info)  # fmt: skip
    try:
        if endpoint.role == "operator":
            # An action runs to its end: cut short after its journal write, a replay's new
            # entries would wait for the next start to be delivered. Its writes have deadlines.
            answer = await endpoint.handler(call)
        else:
            async with asyncio.timeout_at(deadline):
                answer = await endpoint.handler(call)
    except JournalError as exc:
        raise ProblemError(503, "Service Unavailable", f"the journal: {exc.reason}") from None
    status, struct = answer if isinstance(answer, tuple) else (200, answer)
    return web.Response(body=_encoder.encode(struct), status=status,
                        content_type="application/json")  # fmt: skip


@contextlib.asynccontextmanager
async def open_admin_listener(
    mediator: Mediator, tokens: TokenTable, *, host: str, port: int
) -> AsyncIterator[tuple[str, int]]:
    """Serve the admin API of `mediator` on `host:port` for the block; yield the bound address
    (the real port when `port` is 0)."""
    if not mediator.loaded.config.admin.tokens:
        _log.warning("no [[admin.tokens]] configured: only /healthz and /readyz will answer")
    runner = ProblemAppRunner(  # aiohttp's own refusals as problems too
        build_admin_app(mediator, tokens), access_log=None, handle_signals=False,
        shutdown_timeout=1.0,
    )  # fmt: skip
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        bound = sockets[0].getsockname()[:2] if sockets else (host, port)
        yield (str(bound[0]), int(bound[1]))
    finally:
        await runner.cleanup()
