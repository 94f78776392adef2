"""What every sandbox shares: recording, fault injection, trace echo and the control routes.

Each product subclasses `Sandbox`, adds its routes and says how it answers the faults in its
own vendor style (`limit_response`, `error_response`). The control routes live under
`/__sandbox/` and are neither recorded, rate-limited, authenticated nor faulted:

    GET    /__sandbox/state      the product's final state (what tests verify against)
    GET    /__sandbox/requests   every recorded request, oldest first
    DELETE /__sandbox/requests   forget them
    GET    /__sandbox/faults     the fault plan in force and its statistics
    POST   /__sandbox/faults     install a new plan (JSON `FaultPlan`)
    DELETE /__sandbox/faults     back to no faults

The edge also keeps aiohttp's own answers away from clients: a body over `max_body` bytes
gets the product's 413 (not aiohttp's plain-text one) before any fault is drawn, and an
unexpected exception from a product handler is logged with its traceback and answered as the
vendor's 500 — a safety net: bad input must be refused with a 4xx by the product's own
validation, which the fuzz tests in tests/sandbox check.
"""

from __future__ import annotations

import logging
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import ClassVar

import msgspec
from aiohttp import web

from mediator.clock import Clock, SystemClock
from mediator.sandbox.faults import Decision, FaultInjector, FaultPlan
from mediator.sandbox.recording import RecordedRequest, RequestLog

__all__ = ["CONTROL_PREFIX", "MAX_BODY", "Sandbox", "json_response"]

CONTROL_PREFIX = "/__sandbox/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024
"""The largest request body a sandbox reads (1 MiB, aiohttp's own default)."""

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
_encoder = msgspec.json.Encoder()


def json_response(
    data: object, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return `data` as a JSON response (msgspec-encoded: Structs, dates and Decimals work)."""
    return web.Response(
        body=_encoder.encode(data),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


class Sandbox(ABC):
    """One product's in-memory server: build its aiohttp application with `app()`.

    `clock` drives every time-based behaviour (token expiry, rate windows, outages,
    timestamps); `seed` makes generated ids deterministic; `faults` is the initial plan.
    A request body over `max_body` bytes is answered 413 in the vendor's style (the class
    attribute is the default; the keyword overrides it per instance).
    """

    product: ClassVar[str]
    max_body: int = MAX_BODY

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        max_body: int | None = None,
    ) -> None:
        if max_body is not None:
            self.max_body = max_body
        self.clock: Clock = clock or SystemClock()
        self.seed = seed
        self.requests = RequestLog()
        self.faults = FaultInjector(self.clock, faults)

    # -- what a product provides ------------------------------------------------------------

    @abstractmethod
    def add_routes(self, app: web.Application) -> None:
        """Add the product's own routes (and middlewares) to `app`."""

    @abstractmethod
    def state(self) -> dict[str, object]:
        """Return the product's current data as JSON-ready values, for verification."""

    @abstractmethod
    def limit_response(self, retry_after: float) -> web.Response:
        """Answer a request refused by a rate or quota limit, in the vendor's own style."""

    @abstractmethod
    def error_response(self, status: int, message: str) -> web.Response:
        """Answer a failure with `status` (an injected 5xx, an unknown route) in vendor style."""

    # -- the application --------------------------------------------------------------------

    def app(self) -> web.Application:
        """Build a fresh aiohttp application serving this sandbox's (shared) state."""
        # aiohttp refuses a larger body itself; the edge reads at most `max_body` (+ slack so
        # that its own check, in the vendor's shape, is the one that answers).
        app = web.Application(middlewares=[self._edge], client_max_size=self.max_body + 1)
        app.router.add_get(CONTROL_PREFIX + "state", self._get_state)
        app.router.add_get(CONTROL_PREFIX + "requests", self._get_requests)
        app.router.add_delete(CONTROL_PREFIX + "requests", self._clear_requests)
        app.router.add_get(CONTROL_PREFIX + "faults", self._get_faults)
        app.router.add_post(CONTROL_PREFIX + "faults", self._post_faults)
        app.router.add_delete(CONTROL_PREFIX + "faults", self._delete_faults)
        app.on_startup.append(self._on_startup)
        self.add_routes(app)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self.faults.start()

    @web.middleware
    async def _edge(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(CONTROL_PREFIX):
            return await handler(request)
        seq = self.requests.next_seq()
        at = self.clock.time()
        body = await self._read_body(request)
        decision = self.faults.decide(request.path) if body is not None else _NO_FAULT
        if decision.delay > 0:
            await self.clock.sleep(decision.delay)
        response: web.StreamResponse
        if body is None:
            response = self.error_response(
                413, f"Request body exceeds the maximum size of {self.max_body} bytes"
            )
            response.force_close()  # the rest of the body is never read
        elif decision.answer == "storm":
            plan = self.faults.plan
            response = self.limit_response(plan.retry_after)
            if plan.retry_after_header and "Retry-After" not in response.headers:
                response.headers["Retry-After"] = str(max(1, math.ceil(plan.retry_after)))
        elif decision.answer == "outage":
            response = self.error_response(503, "Service Unavailable")
        elif decision.answer == "error":
            response = self.error_response(self.faults.plan.error_status, "Injected failure")
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                # Unknown routes and wrong methods still answer in the vendor's error style.
                response = self.error_response(exc.status, exc.reason)
            except Exception:  # noqa: BLE001 - the edge supervises the handlers: log, answer
                _log.exception(
                    "%s sandbox: %s %s failed", self.product, request.method, request.path
                )
                response = self.error_response(500, "Internal Server Error")
        _echo_traceparent(request, response)
        self.requests.append(
            RecordedRequest(
                seq=seq,
                at=at,
                method=request.method,
                path=request.path,
                query=request.query_string,
                headers=dict(request.headers),
                body=body or b"",
                status=None if decision.drop else response.status,
                fault=decision.answer or ("drop" if decision.drop else None),
                dropped=decision.drop,
                response_headers=dict(response.headers),
                response_body=_body_of(response),
            )
        )
        if decision.drop and request.transport is not None:
            # The effect is committed; closing now leaves the client with no answer, which
            # aiohttp then treats as a premature disconnect when it tries to write.
            request.transport.close()
        return response

    async def _read_body(self, request: web.Request) -> bytes | None:
        # None: larger than `max_body`, known from Content-Length or found while reading.
        if request.content_length is not None and request.content_length > self.max_body:
            return None
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return None
        return body if len(body) <= self.max_body else None

    async def _get_state(self, request: web.Request) -> web.Response:
        return json_response(self.state())

    async def _get_requests(self, request: web.Request) -> web.Response:
        entries = [
            {
                "seq": e.seq,
                "at": e.at,
                "method": e.method,
                "path": e.path,
                "query": e.query,
                "headers": e.headers,
                "body": e.text(),
                "status": e.status,
                "fault": e.fault,
                "dropped": e.dropped,
                "response_headers": e.response_headers,
                "response_body": e.response_body.decode("utf-8", "replace"),
            }
            for e in self.requests
        ]
        return json_response({"requests": entries, "evicted": self.requests.evicted})

    async def _clear_requests(self, request: web.Request) -> web.Response:
        self.requests.clear()
        return json_response({"cleared": True})

    async def _get_faults(self, request: web.Request) -> web.Response:
        return json_response({"plan": self.faults.plan, "statistics": self.faults.statistics()})

    async def _post_faults(self, request: web.Request) -> web.Response:
        try:
            plan = msgspec.json.decode(await request.read(), type=FaultPlan)
        except msgspec.ValidationError as exc:
            return json_response({"error": str(exc)}, status=400)
        except msgspec.DecodeError as exc:
            return json_response({"error": f"malformed JSON: {exc}"}, status=400)
        self.faults.install(plan)
        return json_response({"plan": plan, "statistics": self.faults.statistics()})

    async def _delete_faults(self, request: web.Request) -> web.Response:
        self.faults.install(FaultPlan())
        return json_response({"plan": self.faults.plan})


_NO_FAULT = Decision()


def _body_of(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return bytes(body) if isinstance(body, bytes | bytearray) else b""


def _echo_traceparent(request: web.Request, response: web.StreamResponse) -> None:
    # Echo a well-formed W3C traceparent; a malformed one is ignored, never an error.
    value = request.headers.get("traceparent", "").strip().lower()
    match = _TRACEPARENT.match(value)
    if match is None or value.startswith("ff"):
        return
    if set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return
    response.headers["traceparent"] = value
