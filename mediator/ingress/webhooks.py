"""The daemon's webhook listener: ``POST /webhooks/stripe`` journals Stripe's events.

Persist, then acknowledge. Each request passes, in order: the drain check (while the
`Mediator` stops, 503 with `Retry-After`: Stripe delivers again later), the body limit of
`[ingress.webhooks] max_body` (the Content-Length first, then the streamed body: 413; a
body trickling in for over `READ_TIMEOUT` seconds: 408), the ``Stripe-Signature`` check on
the raw bytes against every configured secret (400, nothing journaled), a minimal decoding
of the event (`id`, `type`, `created`, ``data.object.id`` and ``data.object.object``; 400
naming the field), the kind check (an event no enabled flow handles is acknowledged with
``{"ignored": true}``, as Stripe expects of every subscribed type we do not consume), and
the journal: `Mediator.accept` returns only once the entry is durable, keyed
``stripe:event:<id>`` so Stripe's duplicate deliveries are no-ops. The raw event is the
payload: its canonical decoding belongs to the billing flows that consume it (issue #17).
Every other answer is problem+json, our own bugs a logged 500 without a trace.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Protocol

import msgspec
from aiohttp import web

from mediator.actors.tracing import format_traceparent, parse_traceparent
from mediator.admin.bodies import read_body
from mediator.admin.endpoint import MISSING_FIELD
from mediator.admin.problems import ProblemError, problem_middleware
from mediator.clock import Clock
from mediator.codecs import Envelope, new_id
from mediator.codecs.validation import WireDecoder
from mediator.config import WebhookConfig
from mediator.errors import DecodeError, JournalError
from mediator.ingress.problem_runner import ProblemAppRunner
from mediator.ingress.stripe_signature import SignatureError, verify_stripe_signature
from mediator.journal import Appended
from mediator.systems import Secret

__all__ = [
    "READ_TIMEOUT",
    "RETRY_AFTER",
    "STRIPE_EVENT_KIND",
    "Ignored",
    "Received",
    "StripeEventData",
    "StripeEventHead",
    "StripeEventObject",
    "WebhookTarget",
    "build_webhook_app",
    "open_webhook_listener",
    "stripe_event_envelope",
]

_log = logging.getLogger("mediator.ingress.webhooks")
_encoder = msgspec.json.Encoder()
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: seconds a refused delivery is asked to wait (while draining, or the journal failing)
RETRY_AFTER = 30
#: seconds a request's body may take to arrive (Stripe sends it at once, then waits)
READ_TIMEOUT = 30.0
#: the journal kind of a Stripe event of type ``invoice.paid``: ``stripe.event.invoice.paid``
STRIPE_EVENT_KIND = "stripe.event.{type}"
#: unix seconds up to the end of year 9999 (what a datetime can hold)
_Epoch = Annotated[int, msgspec.Meta(ge=0, le=253_402_300_799)]
_EventType = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[a-z0-9_.]+$")]
_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class WebhookTarget(Protocol):
    """What the listener needs of the `Mediator`: its state, clock, kinds and `accept`."""

    @property
    def state(self) -> str:
        """``ready`` while events are taken (``starting``, ``stopping``: answered 503)."""
        ...

    @property
    def clock(self) -> Clock:
        """The clock signatures' timestamps are checked against."""
        ...

    @property
    def handled_kinds(self) -> frozenset[str]:
        """The journal kinds some enabled flow handles."""
        ...

    async def accept(self, envelope: Envelope) -> Appended:
        """Journal `envelope` durably (a `JournalError` if it cannot)."""
        ...


class StripeEventObject(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of ``data.object`` the listener keys the entry by."""

    id: _Id
    object: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[a-z0-9_.]+$")]


class StripeEventData(msgspec.Struct, frozen=True, kw_only=True):
    """``data``: only its object is read here."""

    object: StripeEventObject


class StripeEventHead(msgspec.Struct, frozen=True, kw_only=True):
    """What the listener reads of an event; the rest is kept raw for the flows."""

    id: _Id
    type: _EventType
    created: _Epoch
    data: StripeEventData


_decoder = WireDecoder("stripe", StripeEventHead)


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a journaled event (`duplicate`: it was journaled before)."""

    received: bool = True
    duplicate: bool


class Ignored(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a verified event of a type no enabled flow handles."""

    received: bool = True
    ignored: bool = True


def stripe_event_envelope(head: StripeEventHead, body: bytes) -> Envelope:
    """The journal entry of a Stripe event, however it arrived (webhook or ``/v1/events``):
    kind ``stripe.event.<type>``, key ``<object>:<id>`` of its object, idempotency key
    ``stripe:event:<event id>`` (so the two paths deduplicate), the raw event as payload."""
    obj = head.data.object
    return Envelope(
        id=new_id(),
        key=f"{obj.object}:{obj.id}",
        kind=STRIPE_EVENT_KIND.format(type=head.type),
        source="stripe",
        idempotency_key=f"stripe:event:{head.id}",
        occurred_at=datetime.datetime.fromtimestamp(head.created, datetime.UTC),
        payload=msgspec.Raw(body),
    )


def build_webhook_app(
    mediator: WebhookTarget,
    config: WebhookConfig,
    secrets: Sequence[Secret],
    *,
    read_timeout: float = READ_TIMEOUT,
) -> web.Application:
    """The webhook endpoints of `mediator`, checking signatures with `secrets`; a body not
    read within `read_timeout` seconds is a 408."""
    app = web.Application(
        middlewares=[problem_middleware(max_body=config.max_body, listener="webhooks", log=_log)],
        client_max_size=config.max_body,
    )
    kinds = mediator.handled_kinds

    async def stripe(request: web.Request) -> web.Response:
        if mediator.state != "ready":
            raise ProblemError(
                503, "Service Unavailable", f"the mediator is {mediator.state}; send it again",
                headers={"Retry-After": str(RETRY_AFTER)},
            )  # fmt: skip
        body = await read_body(
            request, max_body=config.max_body, timeout=read_timeout, any_encoding=False
        )
        try:
            verify_stripe_signature(
                request.headers.get("Stripe-Signature"), body, secrets,
                clock=mediator.clock, tolerance=config.tolerance,
            )  # fmt: skip
        except SignatureError as exc:
            _log.info("refused a Stripe webhook: %s", exc.reason)
            raise ProblemError(
                400, "Bad Request", exc.reason, field="header.Stripe-Signature"
            ) from None
        try:
            head = _decoder.decode(body)
        except DecodeError as exc:
            field = "body" + exc.path[1:]
            missing = MISSING_FIELD.search(exc.reason)
            if missing:  # msgspec names a missing field in its message, not in the path
                field = f"{field}.{missing.group(1)}"
            raise ProblemError(400, "Bad Request", exc.reason, field=field) from None
        kind = STRIPE_EVENT_KIND.format(type=head.type)
        if kind not in kinds:
            _log.debug("ignored Stripe event %s of type %s: no flow handles it", head.id, head.type)
            return _json(Ignored())
        envelope = stripe_event_envelope(head, body)
        upstream = parse_traceparent(request.headers.get("traceparent"))
        if upstream is not None:  # a traced sender (a relay in front): its trace goes on
            envelope = msgspec.structs.replace(envelope, traceparent=format_traceparent(upstream))
        try:
            appended = await mediator.accept(envelope)
        except JournalError as exc:
            _log.warning("Stripe event %s not journaled: %s", head.id, exc)
            raise ProblemError(
                503, "Service Unavailable", "the journal could not take the event; deliver again",
                headers={"Retry-After": str(RETRY_AFTER)},
            ) from None  # fmt: skip
        _log.debug("journaled Stripe event %s (duplicate: %s)", head.id, appended.duplicate)
        return _json(Received(duplicate=appended.duplicate))

    app.router.add_post("/webhooks/stripe", stripe)
    return app


@contextlib.asynccontextmanager
async def open_webhook_listener(
    mediator: WebhookTarget,
    config: WebhookConfig,
    secrets: Sequence[Secret],
    *,
    host: str,
    port: int,
    read_timeout: float = READ_TIMEOUT,
) -> AsyncIterator[tuple[str, int]]:
    """Serve the webhook endpoints on `host:port` for the block; yield the bound address
    (the real port when `port` is 0). Leaving it waits briefly for requests in flight."""
    app = build_webhook_app(mediator, config, secrets, read_timeout=read_timeout)
    runner = ProblemAppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        bound = sockets[0].getsockname()[:2] if sockets else (host, port)
        yield (str(bound[0]), int(bound[1]))
    finally:
        await runner.cleanup()


def _json(struct: msgspec.Struct) -> web.Response:
    return web.Response(body=_encoder.encode(struct), content_type="application/json")
