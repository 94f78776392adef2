"""`/metrics` through real HTTP, parsed by prometheus-client's own parser, its figures checked
against what the admin API's `/flows` and `/systems` answer about the same mediator.

The mediator polls the Harvest sandbox's approved time into the ERP sandbox with the
onboarding xrefs recorded, so most entries are delivered (real vendor calls), and one
project's ERP id is wrong, so that its entries become dead letters.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from mediator.admin.models import FlowsAnswer, SystemsAnswer
from mediator.clock import SystemClock
from mediator.config import parse_config
from mediator.errors import ConfigError
from mediator.journal import open_journal
from mediator.runtime import Mediator
from mediator.sandbox import open_sandboxes
from mediator.sandbox.generator import generate_firm
from mediator.testing.onboarded import record_onboarding
from tests.runtime.support import config_text

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SEED = 23
TOKEN = "metrics-viewer-token-5e1d9c3a7b"
TOKENS = """
[[admin.tokens]]
name = "prometheus"
role = "viewer"
token = "env:TEST_METRICS_TOKEN"
"""


@dataclasses.dataclass
class Running:
    mediator: Mediator
    url: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    tmp_path: Path = tmp_path_factory.mktemp("metrics")
    firm = generate_firm(seed=SEED, size=8)
    saved = {k: os.environ.get(k) for k in _ENV}
    try:
        async with open_sandboxes(
            products=("harvest", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
        ) as boxes:
            creds = boxes.credentials()
            os.environ["TEST_HARVEST_TOKEN"] = creds["harvest"]["token"]
            os.environ["TEST_TRYTON_PASSWORD"] = creds["tryton"]["password"]
            os.environ["TEST_METRICS_TOKEN"] = TOKEN
            loaded = parse_config(
                config_text(boxes, extra=TOKENS), file="mediator.toml", base_dir=tmp_path
            )
            async with open_journal(loaded.journal_path, clock=SystemClock()) as journal:
                await record_onboarding(journal, firm, boxes)
                # one project's ERP id forgotten: its time becomes dead letters
                forgotten = next(p.key for p in firm.projects if p.onboarded)
                await journal.record_xref("project", forgotten, "tryton", "999999")
            async with Mediator(loaded) as mediator:
                await mediator.pollers[0].wait_polls(1)
                await mediator.wait_idle()
                assert mediator.admin_address is not None
                host, port = mediator.admin_address
                yield Running(mediator=mediator, url=f"http://{host}:{port}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_ENV = ("TEST_HARVEST_TOKEN", "TEST_TRYTON_PASSWORD", "TEST_METRICS_TOKEN")
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def get(url: str, path: str, **headers: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession(url) as http, http.get(path, headers=headers) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


class Scrape:
    """The samples of one scrape, looked up by name and labels."""

    def __init__(self, text: str) -> None:
        self.types = {}
        self.samples: list[Sample] = []
        for family in text_string_to_metric_families(text):
            self.types[family.name] = family.type
            self.samples.extend(family.samples)

    def value(self, name: str, **labels: str) -> float:
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) == 1, f"{name} {labels}: {len(found)} samples"
        return found[0]

    def total(self, name: str, **labels: str) -> float:
        return sum(
            s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items()
        )


async def scrape(running: Running) -> Scrape:
    status, content_type, body = await get(running.url, "/metrics", **AUTH)
    assert status == 200, body
    assert content_type.startswith("text/plain; version=0.0.4")
    return Scrape(body.decode())


async def answers(running: Running) -> tuple[FlowsAnswer, SystemsAnswer]:
    flows = await get(running.url, "/flows", **AUTH)
    systems = await get(running.url, "/systems", **AUTH)
    return (
        msgspec.json.decode(flows[2], type=FlowsAnswer),
        msgspec.json.decode(systems[2], type=SystemsAnswer),
    )


async def test_metrics_need_a_token_by_default(running: Running) -> None:
    status, content_type, body = await get(running.url, "/metrics")
    assert (status, content_type) == (401, "application/problem+json")
    assert msgspec.json.decode(body)["field"] == "header.Authorization"
    status, _, _ = await get(running.url, "/metrics", Authorization="Bearer wrong-token")
    assert status == 401


async def test_flow_figures_equal_the_flows_endpoint(running: Running) -> None:
    metrics = await scrape(running)
    flows, _ = await answers(running)
    assert metrics.types["mediator_entries_delivered"] == "counter"
    assert metrics.types["mediator_delivery_seconds"] == "histogram"
    [flow] = flows.flows
    name = flow.name
    delivered = metrics.value("mediator_entries_delivered_total", flow=name)
    dead = metrics.total("mediator_entries_dead_total", flow=name)
    assert delivered == flow.delivered > 0
    assert dead == flow.dead_letters > 0  # nothing replayed: every dead entry is still open
    # every entry accepted since the start was delivered, dead-lettered, or parked behind one
    assert flow.parked > 0
    parked = metrics.value("mediator_backlog", flow=name, state="parked")
    assert metrics.value("mediator_entries_accepted_total", flow=name) == delivered + dead + parked
    assert metrics.value("mediator_delivery_seconds_count", flow=name) == delivered
    assert metrics.value("mediator_delivery_seconds_bucket", flow=name, le="+Inf") == delivered
    assert metrics.value("mediator_dead_letters", flow=name) == flow.dead_letters
    for state, figure in (
        ("accepted", flow.accepted),
        ("in_flight", flow.in_flight),
        ("retry", flow.retry_waiting),
        ("parked", flow.parked),
    ):
        assert metrics.value("mediator_backlog", flow=name, state=state) == figure
    assert metrics.value("mediator_live_entities", flow=name) == flow.live_entities
    assert metrics.value("mediator_mailbox_depth", flow=name) == 0  # idle


async def test_system_figures_equal_the_systems_endpoint(running: Running) -> None:
    metrics = await scrape(running)
    _, systems = await answers(running)
    assert {s.name for s in systems.systems} == {"harvest", "tryton"}
    for system in systems.systems:
        name = system.name
        assert system.calls > 0
        assert metrics.total("mediator_vendor_calls_total", system=name) == system.calls
        assert metrics.value("mediator_vendor_call_seconds_count", system=name) == system.calls
        ok = metrics.total("mediator_vendor_calls_total", system=name, status="200")
        assert 0 < ok <= system.calls
        for breaker in system.breakers:
            assert metrics.value("mediator_breakers", system=name, state=breaker.state) >= 1
        if system.limiters:
            tokens = min(r.tokens for r in system.limiters)
            rate = max(r.rate for r in system.limiters)
            # the two answers may come from statistics taken up to 5 s apart (the snapshot)
            assert metrics.value("mediator_rate_limiter_tokens", system=name) == pytest.approx(
                tokens, abs=rate * 6
            )
        for quota in system.quotas:
            for priority, left in quota.left_by_priority.items():
                figure = metrics.value("mediator_quota_left", system=name, priority=priority)
                assert figure <= left


async def test_the_endpoint_labels_name_the_vendor_methods(running: Running) -> None:
    metrics = await scrape(running)
    endpoints = {
        s.labels["endpoint"]
        for s in metrics.samples
        if s.name == "mediator_vendor_calls_total" and s.labels["system"] == "tryton"
    }
    assert "common.db.login" in endpoints
    assert any(e.startswith("model.") for e in endpoints)


async def test_openmetrics_when_the_scraper_asks_for_it(running: Running) -> None:
    accept = "application/openmetrics-text; version=1.0.0"
    status, content_type, body = await get(running.url, "/metrics", Accept=accept, **AUTH)
    assert status == 200
    assert content_type.startswith("application/openmetrics-text")
    assert body.rstrip().endswith(b"# EOF")


async def test_metrics_without_a_token_when_configured(tmp_path: Path) -> None:
    loaded = parse_config(
        '[admin]\nlisten = "127.0.0.1:0"\nmetrics_auth = "none"\n',
        file="mediator.toml",
        base_dir=tmp_path,
    )
    async with Mediator(loaded) as mediator:
        assert mediator.admin_address is not None
        host, port = mediator.admin_address
        status, _, body = await get(f"http://{host}:{port}", "/metrics")
    assert status == 200
    metrics = Scrape(body.decode())
    assert metrics.value("mediator_dispatcher_pending") == 0


async def test_a_wrong_metrics_auth_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[admin]\nmetrics_auth = "open"\n', file="mediator.toml", base_dir=tmp_path)
    assert "admin.metrics_auth" in str(caught.value)
