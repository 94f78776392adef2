"""A cluster's daemons share a vendor's rate limit: three `Mediator`s with `[cluster]` on one
PostgreSQL journal, each reading the Stripe sandbox flat out through its own connector, never
make it answer 429 (its request log is the judge).

The daemons run in this process (three `Mediator`s, three connection pools, as three
processes would have), so the connectors can be driven directly: a probe flow hands each
daemon's Stripe connector out through its `FlowContext`, the way a host's own flow gets it.
Time is real (the shared bucket refills by the database's clock).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import pytest

from mediator.actors import Actor
from mediator.clock import SystemClock
from mediator.codecs import Envelope
from mediator.config import parse_config
from mediator.runtime import Flow, FlowContext, Mediator, Poller
from mediator.runtime.catalog import SHIPPED_FLOWS
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.config_tables import env_secrets, systems_toml
from mediator.systems.stripe import StripeConnector
from mediator.testing.postgres import TEST_DSN, scratch_schema
from mediator.tomlfile import Fail
from tests.runtime.support import SECRETS

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # real time, a real database


class _Probe:
    """A flow with no entities that keeps its daemon's Stripe connector for the test."""

    name = "probe"
    kinds = frozenset({"probe.nothing"})
    owner = "tests"
    systems = frozenset({"stripe"})
    poller_names: frozenset[str] = frozenset()
    delivery_timeout = 10.0

    def __init__(self) -> None:
        self.stripe: StripeConnector | None = None

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        raise AssertionError("the probe has no entities")

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        connector = context.connectors["stripe"]
        assert isinstance(connector, StripeConnector)
        self.stripe = connector
        return ()


@contextlib.asynccontextmanager
async def _daemon(
    boxes: Sandboxes, schema: str, name: str, tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Mediator, StripeConnector]]:
    monkeypatch.setenv(SECRETS["stripe"], boxes.credentials()["stripe"]["api_key"])
    text = f"""\
[journal]
dsn = "{TEST_DSN}"
schema = "{schema}"

[cluster]
daemon_id = "{name}"

{systems_toml(boxes, env_secrets(SECRETS))}
[flows.probe]
"""
    probe = _Probe()

    def factory(options: Mapping[str, object], fail: Fail, /) -> Flow:
        return probe

    loaded = parse_config(text, file=str(tmp / f"{name}.toml"))
    flows = {**SHIPPED_FLOWS, "probe": factory}
    async with Mediator(loaded, flows=flows, serve_admin=False, clock=SystemClock()) as mediator:
        assert probe.stripe is not None
        yield mediator, probe.stripe


async def test_three_daemons_reading_stripe_flat_out_never_get_a_429(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = 1.5
    async with (
        open_sandboxes(products=("stripe",), clock=SystemClock()) as boxes,
        scratch_schema() as schema,
        _daemon(boxes, schema, "a", tmp_path, monkeypatch) as (a, stripe_a),
        _daemon(boxes, schema, "b", tmp_path, monkeypatch) as (b, stripe_b),
        _daemon(boxes, schema, "c", tmp_path, monkeypatch) as (c, stripe_c),
    ):
        assert boxes.stripe is not None
        boxes.stripe.requests.clear()
        stop = time.monotonic() + run

        async def reader(stripe: StripeConnector) -> None:
            while time.monotonic() < stop:
                await stripe.list_customers(page_size=1)

        async with asyncio.TaskGroup() as tg:
            for stripe in (stripe_a, stripe_b, stripe_c):
                for _ in range(3):
                    tg.create_task(reader(stripe))
        statuses = collections.Counter(r.status for r in boxes.stripe.requests)
        # the shipped policy (24/s) against the sandbox's 25 per sliding second: unshared,
        # three daemons would ask for three times that, and most would be refused
        assert statuses[429] == 0, statuses
        assert statuses[200] >= 24 * run * 0.6, statuses
        for mediator in (a, b, c):
            [limiter] = mediator.statistics().systems["stripe"].policies.limiters
            assert limiter.shared is not None
