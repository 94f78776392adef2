"""Signed webhook delivery: each event is POSTed to the endpoint until it answers 2xx.

The body is the event JSON; `Stripe-Signature: t=<ts>,v1=<hex>` where v1 is
HMAC-SHA256(secret, "<ts>.<body>"), as Stripe signs. A non-2xx answer or a connection failure
is retried after each of `retry_delays` in turn (on the sandbox's clock) and then abandoned.
With `duplicate_rate`, a delivered event is sometimes delivered again, as Stripe warns it may.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import hmac
import itertools
import random

import aiohttp
import msgspec

from mediator.clock import Clock, Timer

__all__ = ["DeliveryAttempt", "WebhookSender", "sign"]


def sign(secret: str, payload: bytes, timestamp: int) -> str:
    """Return the `Stripe-Signature` header value for `payload` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One POST of an event: its HTTP status, or the connection error."""

    event_id: str
    attempt: int
    at: float
    status: int | None
    error: str | None = None
    duplicate: bool = False


class WebhookSender:
    """A queue of events to deliver to one endpoint, worked by `run()`."""

    def __init__(
        self,
        clock: Clock,
        *,
        url: str,
        secret: str,
        retry_delays: tuple[float, ...] = (60.0, 300.0, 1800.0, 3600.0, 10800.0),
        duplicate_rate: float = 0.0,
        seed: int = 0,
        timeout: float = 10.0,
    ) -> None:
        self._clock = clock
        self.url = url
        self.secret = secret
        self.retry_delays = retry_delays
        self.duplicate_rate = duplicate_rate
        self._rng = random.Random(seed)
        self._timeout = timeout
        self._queue: list[tuple[float, int, str, bytes, int, bool]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.attempts: list[DeliveryAttempt] = []
        self.abandoned: list[str] = []

    def enqueue(self, event_id: str, body: bytes) -> None:
        """Queue an event for delivery now."""
        self._push(self._clock.monotonic(), event_id, body, 1, False)

    async def wait_idle(self) -> None:
        """Wait until nothing is queued or being delivered."""
        await self._idle.wait()

    @property
    def pending(self) -> int:
        """How many deliveries are queued (including scheduled retries)."""
        return len(self._queue)

    async def run(self) -> None:
        """Deliver queued events until cancelled (retries wait on the sandbox's clock)."""
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if not self._queue:
                    self._idle.set()
                    await self._wait(None)
                    continue
                due = self._queue[0][0]
                now = self._clock.monotonic()
                if due > now:
                    self._idle.set()
                    await self._wait(due - now)
                    continue
                _, _, event_id, body, attempt, duplicate = heapq.heappop(self._queue)
                await self._deliver(session, event_id, body, attempt, duplicate)

    async def _deliver(
        self,
        session: aiohttp.ClientSession,
        event_id: str,
        body: bytes,
        attempt: int,
        duplicate: bool,
    ) -> None:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(self.secret, body, int(self._clock.time())),
        }
        status: int | None = None
        error: str | None = None
        try:
            async with session.post(self.url, data=body, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.attempts.append(
            DeliveryAttempt(
                event_id=event_id,
                attempt=attempt,
                at=self._clock.time(),
                status=status,
                error=error,
                duplicate=duplicate,
            )
        )
        if status is not None and 200 <= status < 300:
            if not duplicate and self.duplicate_rate and self._rng.random() < self.duplicate_rate:
                self._push(self._clock.monotonic(), event_id, body, attempt, True)
            return
        if attempt > len(self.retry_delays):
            self.abandoned.append(event_id)
            return
        delay = self.retry_delays[attempt - 1]
        self._push(self._clock.monotonic() + delay, event_id, body, attempt + 1, duplicate)

    def _push(self, due: float, event_id: str, body: bytes, attempt: int, dup: bool) -> None:
        heapq.heappush(self._queue, (due, next(self._seq), event_id, body, attempt, dup))
        if due <= self._clock.monotonic():
            self._idle.clear()
        self._wake.set()

    def _fall_due(self) -> None:
        # Busy from the moment a retry falls due, so `wait_idle` right after a clock advance
        # waits for that delivery instead of returning before the worker woke up.
        self._idle.clear()
        self._wake.set()

    async def _wait(self, delay: float | None) -> None:
        timer: Timer | None = None
        if delay is not None:
            timer = self._clock.call_later(delay, self._fall_due)
        try:
            await self._wake.wait()
        finally:
            self._wake.clear()
            if timer is not None:
                timer.cancel()
        if self._queue and self._queue[0][0] <= self._clock.monotonic():
            self._idle.clear()
