"""`HttpTransport`: one external system's HTTP session, with its policies on every call.

Every call passes the breaker, the quota and the rate limiter (`PolicySet.admit`), holds a
bulkhead slot, runs under the endpoint's connect/read/total timeouts, and feeds the response's
status, limit headers and error code back to the policies. Foreign errors are translated here,
once: aiohttp timeouts become `ConnectorTimeout`, refused or reset connections
`ConnectorUnavailable`, and an error answer `RemoteRejected(status, code)`. Nothing is retried
here; `Connector.run_with_retries` owns that. Every exchange is counted by endpoint and
status and timed (for `/metrics`); with `tracing` on, it is a client span whose context
travels to the vendor in a W3C `traceparent` header.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping

import aiohttp
import msgspec
from opentelemetry.trace import SpanKind

from mediator.actors.tracing import Tracing, format_traceparent
from mediator.clock import Clock
from mediator.errors import (
    ConnectorError,
    ConnectorTimeout,
    ConnectorUnavailable,
    MediatorError,
    RemoteRejected,
)
from mediator.histogram import CALL_BUCKETS, HistogramSnapshot, LatencyHistogram
from mediator.policies import PolicyRegistry, PolicySet, Verdict

__all__ = ["EndpointCalls", "HttpResponse", "HttpTransport", "TransportStatistics"]

ErrorCodeReader = Callable[[int, bytes], str | None]

_MAX_BODY = 64 * 1024 * 1024  # a page of 2,000 Harvest entries is ~2 MB; far above is wrong
_DETAIL = 300  # characters of an error body kept in the exception (bodies carry no secrets)


class HttpResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A whole response: status, headers (names lower-cased) and the raw body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of header `name` (any case), if present."""
        return self.headers.get(name.lower())


class EndpointCalls(msgspec.Struct, frozen=True, kw_only=True):
    """Exchanges with one endpoint that ended one way: an HTTP `status` (``"200"``), or
    ``"timeout"`` or ``"unavailable"`` when no answer came."""

    endpoint: str
    status: str
    calls: int


class TransportStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Calls made through one transport and how they ended, by error class; exchanges by
    endpoint and status, and how long they took."""

    system: str
    calls: int
    errors: dict[str, int]
    bytes_received: int
    by_endpoint: tuple[EndpointCalls, ...] = ()
    latency: HistogramSnapshot | None = None


class HttpTransport:
    """HTTP for one system: `await send(...)` with its policies applied; `aclose()` when done.

    `error_code` reads the system's own error code from an answer (Salesforce ``errorCode``,
    Stripe ``error.type``, a Tryton exception name) so the classifier can tell a throttle from a
    validation error. Pass `session` to share a connection pool; otherwise one is made lazily
    and closed by `aclose()`.
    """

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        policies: PolicyRegistry,
        clock: Clock,
        error_code: ErrorCodeReader,
        session: aiohttp.ClientSession | None = None,
        user_agent: str = "mediator/0.1 (integration runtime)",
    ) -> None:
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.policies = policies
        self.clock = clock
        self._error_code = error_code
        self._session = session
        self._owns_session = session is None
        self._user_agent = user_agent
        self._calls = 0
        self._errors: Counter[str] = Counter()
        self._bytes = 0
        self._exchanges: dict[tuple[str, str], int] = {}
        self._latency = LatencyHistogram(CALL_BUCKETS)
        #: the runtime's tracing: each exchange a client span, its context sent along
        self.tracing: Tracing | None = None
        #: in a cluster: raises (`ConnectorUnavailable`) right before a request while this
        #: daemon may act on partitions it lost (it was paused past its leases)
        self.guard: Callable[[str], None] | None = None

    def policy_for(self, endpoint: str) -> PolicySet:
        """The policies bound to `endpoint` of this system."""
        return self.policies.resolve(self.system, endpoint)

    async def send(
        self,
        method: str,
        path: str,
        *,
        endpoint: str | None = None,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        priority: str | None = None,
        cost: int = 1,
    ) -> HttpResponse:
        """Send one request and return the response, or raise what the outcome means.

        `path` is relative to the base URL, or absolute (a next-page link). `endpoint` names the
        policy target (defaults to the path). `priority` is the call's class in the quota, the
        rate limiter and the bulkhead (``reconciliation`` runs below the live flows). Raises
        `CircuitOpen`, `QuotaExhausted`, `RateLimited` or `BulkheadFull` before sending;
        `ConnectorTimeout`, `ConnectorUnavailable` or `RemoteRejected` after.
        """
        policy = self.policy_for(endpoint or path)
        try:
            await policy.admit(cost=cost, priority=priority)
            async with policy.slot(priority):
                response = await self._timed(
                    method, path, endpoint or path.partition("?")[0], policy, params, body, headers
                )
        except MediatorError as exc:
            self._errors[type(exc).__name__] += 1
            raise
        status, payload = response.status, response.body
        code = self._error_code(status, payload) if status >= 400 or payload[:1] == b"{" else None
        outcome = policy.observe(status=status, headers=response.headers, code=code)
        if outcome.verdict is Verdict.SUCCESS:
            return response
        code = code or ""
        self._errors[f"RemoteRejected {status} {code}".strip()] += 1
        raise RemoteRejected(
            self.system,
            status,
            code,
            _excerpt(payload),
            retry_after=outcome.retry_after,
            outcome=outcome,
        )

    async def _timed(
        self,
        method: str,
        path: str,
        target: str,
        policy: PolicySet,
        params: Mapping[str, str] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> HttpResponse:
        tracing = self.tracing
        started = self.clock.monotonic()
        status = "unavailable"
        try:
            if tracing is None or not tracing.enabled:
                response = await self._exchange(method, path, policy, params, body, headers)
            else:
                with tracing.tracer.start_as_current_span(
                    f"{self.system} {method} {target}",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "http.request.method": method,
                        "mediator.system": self.system,
                        "mediator.endpoint": target,
                    },
                ) as span:
                    sent = {
                        **(headers or {}),
                        "traceparent": format_traceparent(span.get_span_context()),
                    }
                    response = await self._exchange(method, path, policy, params, body, sent)
                    span.set_attribute("http.response.status_code", response.status)
            status = str(response.status)
            return response
        except ConnectorTimeout:
            status = "timeout"
            raise
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        finally:
            self._latency.observe(self.clock.monotonic() - started)
            key = (target, status)
            self._exchanges[key] = self._exchanges.get(key, 0) + 1

    async def _exchange(
        self,
        method: str,
        path: str,
        policy: PolicySet,
        params: Mapping[str, str] | None,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> HttpResponse:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if self.guard is not None:
            self.guard(self.system)  # as late as can be, right before the request goes out
        t = policy.timeouts
        timeout = aiohttp.ClientTimeout(total=t.total, connect=t.connect, sock_read=t.read)
        sent_headers = {"User-Agent": self._user_agent, **(headers or {})}
        self._calls += 1
        try:
            async with self._client().request(
                method, url, params=params, data=body, headers=sent_headers, timeout=timeout
            ) as raw:
                if raw.content_length is not None and raw.content_length > _MAX_BODY:
                    raise ConnectorError(self.system, f"{method} {path}: body over {_MAX_BODY} B")
                payload = await raw.read()
        except TimeoutError as exc:
            policy.observe(error=exc)
            raise ConnectorTimeout(
                self.system, f"{method} {path}: no complete answer within {t.total:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            policy.observe(error=ConnectionError(str(exc)))
            raise ConnectorUnavailable(self.system, f"{method} {path}: {exc}") from exc
        self._bytes += len(payload)
        got = {k.lower(): v for k, v in raw.headers.items()}
        return HttpResponse(status=raw.status, headers=got, body=payload)

    def statistics(self) -> TransportStatistics:
        """Return calls made and errors by class."""
        return TransportStatistics(
            system=self.system,
            calls=self._calls,
            errors=dict(self._errors),
            bytes_received=self._bytes,
            by_endpoint=tuple(
                EndpointCalls(endpoint=endpoint, status=status, calls=calls)
                for (endpoint, status), calls in sorted(self._exchanges.items())
            ),
            latency=self._latency.snapshot(),
        )

    async def aclose(self) -> None:
        """Close the session this transport made (a shared one is left to its owner)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(raise_for_status=False)
        return self._session


def _excerpt(body: bytes) -> str:
    text = body[:_DETAIL].decode("utf-8", "replace")
    return text + ("…" if len(body) > _DETAIL else "")
