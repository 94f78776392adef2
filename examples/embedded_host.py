"""A host service that embeds mediator: an aiohttp app running a `Mediator` in its own loop.

The host owns the event loop and the HTTP server; the `Mediator` is one more resource of
the app, opened on start-up and closed (drained) on clean-up through aiohttp's
`cleanup_ctx`. The host hands it events it receives itself (here: canonical time entries
POSTed by another internal service) with `await mediator.accept(...)`, which returns once
the entry is durable, so the host answers 202 only then; a duplicate answers 200. Its own
status page reads `mediator.statistics()`.

Run it with a mediator.toml (see examples/mediator.toml):

    python examples/embedded_host.py examples/mediator.toml --port 8090
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from aiohttp import web

from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.codecs.validation import WireDecoder
from mediator.config import load_config
from mediator.errors import DecodeError
from mediator.flows import APPROVED_TIME, PAYLOADS
from mediator.runtime import Mediator

MEDIATOR = web.AppKey("mediator", Mediator)
_entries = WireDecoder("host", TimeEntry)


def create_app(config: Path) -> web.Application:
    """The host's application: its own routes, and a `Mediator` from `config` inside."""
    app = web.Application(client_max_size=1024 * 1024)

    async def run_mediator(app: web.Application) -> AsyncIterator[None]:
        # the host's own listener serves the host; the mediator's health is on the host's page
        async with Mediator(load_config(config), serve_admin=False) as mediator:
            app[MEDIATOR] = mediator
            yield

    app.cleanup_ctx.append(run_mediator)
    app.router.add_post("/approved-time", receive_approved_time)
    app.router.add_get("/status", status)
    return app


async def receive_approved_time(request: web.Request) -> web.Response:
    """Journal one approved time entry for the ERP; 202 once durable, 200 if known."""
    try:
        entry = _entries.decode(await request.read())
    except DecodeError as exc:
        return web.json_response({"field": exc.path, "error": exc.reason}, status=400)
    stamp = entry.updated_at or datetime.datetime.now(datetime.UTC)
    envelope = PAYLOADS.envelope(
        APPROVED_TIME,
        entry,
        key=f"project:{entry.project_id}",
        source=entry.source_system,
        idempotency_key=f"{entry.source_system}:time_entry:{entry.source_id}:{stamp.isoformat()}",
        occurred_at=stamp,
    )
    appended = await request.app[MEDIATOR].accept(envelope)
    return web.json_response(
        {"id": appended.envelope.id, "duplicate": appended.duplicate},
        status=200 if appended.duplicate else 202,
    )


async def status(request: web.Request) -> web.Response:
    """The host's status page: the mediator's statistics as JSON."""
    return web.Response(
        body=msgspec.json.encode(request.app[MEDIATOR].statistics()),
        content_type="application/json",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--port", type=int, default=8090)
    arguments = parser.parse_args()
    web.run_app(create_app(arguments.config), host="127.0.0.1", port=arguments.port)
