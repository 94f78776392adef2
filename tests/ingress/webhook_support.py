"""A running `Mediator` with a webhook listener and a small billing flow, for the webhook tests.

The flow handles ``stripe.event.invoice.paid`` only, records what it is delivered, and can
hold a delivery until the test opens its gate (what makes the drain observable). Nothing
else is configured: the listener, the journal and the dispatcher are what is under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.config import parse_config
from mediator.runtime import Flow, FlowContext, Mediator, Poller
from mediator.sandbox.stripe.webhooks import sign
from mediator.tomlfile import Fail

OLD_SECRET = "whsec_old_test_4c7a1e9d3b5f2806"
NEW_SECRET = "whsec_new_test_9e2d6b0a8c4f1735"
ENV = {"TEST_STRIPE_WEBHOOK_SECRET": NEW_SECRET, "TEST_STRIPE_WEBHOOK_SECRET_OLD": OLD_SECRET}
PAID = "stripe.event.invoice.paid"
MAX_BODY = 80 * 1024  # a 10,000-deep body fits: its depth is what is refused


@dataclasses.dataclass
class Deliveries:
    """What the billing flow was delivered, and the gate its deliveries wait on."""

    seen: list[Envelope] = dataclasses.field(default_factory=list)
    started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    gate: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class _Billing(Actor[Envelope]):
    def __init__(self, deliveries: Deliveries) -> None:
        self.deliveries = deliveries

    async def receive(self, message: Envelope) -> object:
        self.deliveries.started.set()
        await self.deliveries.gate.wait()
        self.deliveries.seen.append(message)
        return None


@dataclasses.dataclass
class BillingFlow:
    """A flow of Stripe's paid invoices, as a billing flow of issue #17 will be."""

    deliveries: Deliveries
    name: str = "billing_test"
    kinds: frozenset[str] = frozenset({PAID})
    owner: str = "finance"
    systems: frozenset[str] = frozenset()
    poller_names: frozenset[str] = frozenset()
    delivery_timeout: float = 30.0

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        return _Billing(self.deliveries)

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        return ()


def config_text(folder: Path, *, drain_timeout: float = 30.0) -> str:
    return f"""\
[journal]
path = "{folder / "journal.sqlite"}"
drain_timeout = {drain_timeout}

[flows.billing_test]

[ingress.webhooks]
listen = "127.0.0.1:0"
stripe_secrets = ["env:TEST_STRIPE_WEBHOOK_SECRET", "env:TEST_STRIPE_WEBHOOK_SECRET_OLD"]
max_body = {MAX_BODY}

[admin]
listen = "127.0.0.1:0"
"""


@dataclasses.dataclass
class Running:
    """The running mediator, its webhook URL, its journal file and its flow's deliveries."""

    mediator: Mediator
    url: str
    journal: Path
    deliveries: Deliveries

    def journaled(self) -> list[tuple[str, str, str, str]]:
        """(kind, key, idempotency key, source) of every journal entry, read off the file."""
        with contextlib.closing(sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT kind, key, idem, source FROM entries").fetchall()
        return [tuple(row) for row in rows]


@contextlib.asynccontextmanager
async def running_mediator(
    folder: Path, *, gate_open: bool = True, serve_admin: bool = False
) -> AsyncIterator[Running]:
    """A `Mediator` with the billing flow and a webhook listener (and with `serve_admin`,
    the admin API) on free ports."""
    saved = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    deliveries = Deliveries()
    if gate_open:
        deliveries.gate.set()

    def factory(options: Mapping[str, object], fail: Fail, /) -> Flow:
        return BillingFlow(deliveries)

    try:
        loaded = parse_config(config_text(folder), file="mediator.toml", base_dir=folder)
        mediator = Mediator(loaded, flows={"billing_test": factory}, serve_admin=serve_admin)
        async with mediator:
            assert mediator.webhook_address is not None
            host, port = mediator.webhook_address
            yield Running(
                mediator=mediator,
                url=f"http://{host}:{port}/webhooks/stripe",
                journal=loaded.journal_path,
                deliveries=deliveries,
            )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def event(
    event_id: str = "evt_1", *, type: str = "invoice.paid", object_id: str = "in_123"
) -> bytes:
    """A Stripe event as Stripe posts it (the fields the listener reads, and more)."""
    obj = {"id": object_id, "object": type.partition(".")[0], "amount_paid": 12_500}
    body = {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": 1_790_000_000,
        "livemode": False,
        "type": type,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def signed(body: bytes, secret: str = NEW_SECRET, *, at: int | None = None) -> dict[str, str]:
    """The headers of Stripe's delivery of `body`, signed with `secret` at `at` (now)."""
    timestamp = int(time.time()) if at is None else at
    return {"Stripe-Signature": sign(secret, body, timestamp), "Content-Type": "application/json"}
