"""The Stripe API v1 sandbox: keys, form bodies, idempotency, lists, limits, webhooks."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import string
from collections import deque
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from typing import ClassVar

import msgspec
from aiohttp import web

from mediator.clock import Clock
from mediator.codecs.stripe import decode_form
from mediator.errors import DecodeError
from mediator.sandbox.base import Handler, Sandbox, json_response
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.stripe.credit_notes import CreditNotes, add_credit_note_routes
from mediator.sandbox.stripe.errors import StripeError
from mediator.sandbox.stripe.idempotency import IdempotencyCache, StoredResponse, fingerprint
from mediator.sandbox.stripe.params import PARAMS_KEY, Params
from mediator.sandbox.stripe.resources import add_resource_routes
from mediator.sandbox.stripe.store import StripeObject, StripeStore
from mediator.sandbox.stripe.webhooks import WebhookSender

__all__ = ["API_VERSION", "StripeSandbox"]

_VERSION = re.compile(r"\A\d{4}-\d{2}-\d{2}(\.[a-z]+)?\Z")  # `2026-10-28.endive`
_MAX_IDEMPOTENCY_KEY = 255  # Stripe: "keys can be up to 255 characters long"

API_VERSION = "2026-10-28.endive"  # what stripe 16.1 sends (shared/reference/tryton/REPORT.md §7)


class StripeSandbox(Sandbox):
    """A Stripe test-mode account over API v1, in memory.

    `api_keys` are the secret keys accepted (Bearer or Basic). Each key may make `rate_limit`
    requests per second (test mode's 25 by default) before 429 `rate_limit`.
    `processing_time` is how long each POST holds its idempotency key on the clock (0 by
    default), which is what lets a test race two requests with one key into a 409.
    Events go to `webhook_url`, signed with `webhook_secret`, while `delivering()` is open.
    """

    product: ClassVar[str] = "stripe"

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 0,
        faults: FaultPlan | None = None,
        api_keys: Collection[str] = ("sk_test_sandbox",),
        rate_limit: int = 25,
        processing_time: float = 0.0,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_sandbox",
        webhook_retry_delays: tuple[float, ...] = (60.0, 300.0, 1800.0, 3600.0, 10800.0),
        webhook_duplicate_rate: float = 0.0,
        max_body: int | None = None,
    ) -> None:
        super().__init__(clock=clock, seed=seed, faults=faults, max_body=max_body)
        self.store = StripeStore(self.clock, seed=seed)
        self.credit_notes = CreditNotes(self.store)
        self.api_keys = set(api_keys)
        self.rate_limit = rate_limit
        self.processing_time = processing_time
        self.idempotency = IdempotencyCache(self.clock)
        self.webhooks = (
            WebhookSender(
                self.clock,
                url=webhook_url,
                secret=webhook_secret,
                retry_delays=webhook_retry_delays,
                duplicate_rate=webhook_duplicate_rate,
                seed=seed,
            )
            if webhook_url
            else None
        )
        self._rng = random.Random(seed + 1)
        self._windows: dict[str, deque[float]] = {}
        self._request: tuple[str, str | None] | None = None  # (request id, idempotency key)
        self.store.on_event(self._record_event)

    @asynccontextmanager
    async def delivering(self) -> AsyncIterator[WebhookSender | None]:
        """Deliver webhooks while open (a no-op without `webhook_url`)."""
        if self.webhooks is None:
            yield None
            return
        async with asyncio.TaskGroup() as group:
            task = group.create_task(self.webhooks.run())
            try:
                yield self.webhooks
            finally:
                task.cancel()

    def state(self) -> dict[str, object]:
        """Return customers, invoice items, invoices, events and credit notes."""
        return {
            "customers": list(self.store.customers.values()),
            "invoiceitems": list(self.store.invoiceitems.values()),
            "invoices": [self.render_invoice(i) for i in self.store.invoices.values()],
            "events": list(self.store.events.values()),
            "credit_notes": list(self.credit_notes.notes.values()),
        }

    def render_invoice(self, invoice: StripeObject) -> StripeObject:
        """Return an invoice with its `lines` list, as the API shows it."""
        lines = self.store.lines(invoice)
        return {
            **invoice,
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "total_count": len(lines),
                "url": f"/v1/invoices/{invoice['id']}/lines",
            },
        }

    def limit_response(self, retry_after: float) -> web.Response:
        """Answer 429 `rate_limit`, as Stripe does when requests come too fast."""
        return json_response(
            StripeError(
                429,
                "Request rate limit exceeded. Learn more about rate limits here "
                "https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            ).body(),
            status=429,
            headers={"Stripe-Should-Retry": "true"},
        )

    def error_response(self, status: int, message: str) -> web.Response:
        """Answer an `api_error` (5xx) or `invalid_request_error` (4xx) object."""
        if status == 404:
            message = "Unrecognized request URL. Please see https://stripe.com/docs."
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return json_response(StripeError(status, message, type=kind).body(), status=status)

    def add_routes(self, app: web.Application) -> None:
        """Add customers, invoice items, invoices and events under `/v1/`."""
        app.middlewares.append(self._api)
        add_resource_routes(app, self)
        add_credit_note_routes(app, self)

    def _record_event(self, kind: str, obj: StripeObject, previous: StripeObject | None) -> None:
        if obj.get("object") == "invoice" and obj["id"] in self.store.invoices:
            obj = self.render_invoice(obj)
        request_id, key = self._request or (None, None)
        data: StripeObject = {"object": obj}
        if previous is not None and kind.endswith(".updated"):
            data["previous_attributes"] = previous
        event: StripeObject = {
            "id": self.store.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.store.now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1 if self.webhooks else 0,
            "request": {"id": request_id, "idempotency_key": key},
            "type": kind,
        }
        self.store.events[str(event["id"])] = event
        if self.webhooks is not None:
            self.webhooks.enqueue(str(event["id"]), msgspec.json.encode(event))

    @web.middleware
    async def _api(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v1/"):
            return await handler(request)
        request_id = "req_" + "".join(self._rng.choice(string.ascii_letters) for _ in range(14))
        version = request.headers.get("Stripe-Version", API_VERSION)
        valid_version = _VERSION.match(version) is not None
        headers = {
            "Request-Id": request_id,
            "Stripe-Version": version if valid_version else API_VERSION,
        }
        try:
            if not valid_version:
                raise StripeError(400, f"Invalid Stripe API version: {version[:100]}")
            key = self._authenticate(request)
            self._throttle(key)
            try:
                response = await self._idempotent(request, handler, key, request_id)
            except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
                raise StripeError(
                    404,
                    f"Unrecognized request URL ({request.method}: {request.path[:500]}). "
                    "Please see https://stripe.com/docs or we can help at "
                    "https://support.stripe.com/.",
                ) from None
        except StripeError as exc:
            response = json_response(exc.body(), status=exc.status)
            if exc.status == 429:
                response.headers["Stripe-Should-Retry"] = "true"
        response.headers.update(headers)
        return response

    def _authenticate(self, request: web.Request) -> str:
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = value.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(value).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        if not key:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if key not in self.api_keys:
            raise StripeError(401, f"Invalid API Key provided: {key[:8]}****{key[-4:]}")
        return key

    def _throttle(self, key: str) -> None:
        window = self._windows.setdefault(key, deque())
        now = self.clock.monotonic()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.rate_limit:
            raise StripeError(
                429,
                "Request rate limit exceeded. Learn more about rate limits "
                "here https://stripe.com/docs/rate-limits.",
                code="rate_limit",
            )
        window.append(now)

    async def _idempotent(
        self, request: web.Request, handler: Handler, key: str, request_id: str
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            params = decode_form(raw if request.method == "POST" else request.query_string)
        except DecodeError as exc:
            raise StripeError(400, f"Invalid request body: {exc}") from exc
        request[PARAMS_KEY] = Params(params)
        idem_key = request.headers.get("Idempotency-Key")
        if idem_key is not None and len(idem_key) > _MAX_IDEMPOTENCY_KEY:
            raise StripeError(
                400,
                f"Idempotency keys can be at most {_MAX_IDEMPOTENCY_KEY} characters long, "
                f"got {len(idem_key)}.",
            )
        if request.method != "POST" or not idem_key:
            self._request = (request_id, None)
            return await handler(request)
        digest = fingerprint(request.method, request.path, params)
        stored = self.idempotency.begin(key, idem_key, digest)
        if stored is not None:
            replay = web.Response(
                body=stored.body, status=stored.status, content_type="application/json"
            )
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        keep: StoredResponse | None = None
        try:
            if self.processing_time > 0:
                await self.clock.sleep(self.processing_time)
            self._request = (request_id, idem_key)
            try:
                response = await handler(request)
            except StripeError as exc:
                if exc.store:
                    keep = StoredResponse(
                        status=exc.status,
                        body=msgspec.json.encode(exc.body()),
                        fingerprint=digest,
                        stored_at=self.clock.time(),
                    )
                raise
            if isinstance(response, web.Response) and response.body is not None:
                keep = StoredResponse(
                    status=response.status,
                    body=bytes(response.body),  # type: ignore[arg-type]  # our handlers answer bytes, never a Payload
                    fingerprint=digest,
                    stored_at=self.clock.time(),
                )
            return response
        finally:
            self._request = None
            self.idempotency.finish(key, idem_key, keep)
