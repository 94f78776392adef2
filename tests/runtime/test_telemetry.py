"""Traces from the poll to the vendor call, across a restart, and OTLP export of traces and
metrics to a collector on loopback (an aiohttp receiver decoding the protobuf bodies)."""

from __future__ import annotations

import datetime
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import msgspec
import pytest
from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mediator.actors import Actor
from mediator.clock import SystemClock
from mediator.codecs import Envelope, new_id
from mediator.config import parse_config
from mediator.errors import ConfigError, ConnectorUnavailable
from mediator.journal import open_journal
from mediator.runtime import Flow, FlowContext, Mediator, Poller
from mediator.runtime.catalog import FlowFactory
from mediator.sandbox import open_sandboxes
from mediator.sandbox.generator import generate_firm
from mediator.testing import FakeClock
from mediator.testing.onboarded import record_onboarding
from mediator.tomlfile import Fail
from tests.runtime.support import config_text

KIND = "test.entry.accepted"


def traced() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.mark.slow
async def test_one_trace_goes_from_the_poll_to_the_vendor_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    firm = generate_firm(seed=3, size=2)
    async with open_sandboxes(
        products=("harvest", "tryton"), clock=SystemClock(), seed=3, firm=firm
    ) as boxes:
        creds = boxes.credentials()
        monkeypatch.setenv("TEST_HARVEST_TOKEN", creds["harvest"]["token"])
        monkeypatch.setenv("TEST_TRYTON_PASSWORD", creds["tryton"]["password"])
        loaded = parse_config(config_text(boxes), file="mediator.toml", base_dir=tmp_path)
        async with open_journal(loaded.journal_path, clock=SystemClock()) as journal:
            await record_onboarding(journal, firm, boxes)
        provider, exporter = traced()
        async with Mediator(loaded, tracer_provider=provider) as mediator:
            await mediator.pollers[0].wait_polls(1)
            await mediator.wait_idle()
            assert mediator.statistics().dispatcher.delivered > 0
        assert boxes.tryton is not None
        sent_to_erp = [r.headers.get("traceparent") for r in boxes.tryton.requests]
    spans = exporter.get_finished_spans()
    [poll] = [s for s in spans if s.name == "poll harvest_time"]
    trace_id = poll.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    reads = [
        s
        for s in in_trace
        if s.kind is SpanKind.CLIENT and _attr(s, "mediator.system") == "harvest"
    ]
    assert reads, "the poll's own reads of Harvest are in its trace"
    deliveries = [s for s in in_trace if s.name == "deliver psa.time_entry.approved"]
    assert deliveries
    assert all(
        d.parent is not None and d.parent.span_id == poll.context.span_id for d in deliveries
    )
    erp_calls = [
        s
        for s in in_trace
        if s.kind is SpanKind.CLIENT
        and _attr(s, "mediator.system") == "tryton"
        and str(_attr(s, "mediator.endpoint")).startswith("model.")
    ]
    assert erp_calls, "the ERP writes are in the poll's trace"
    # each ERP call's span is a descendant of a delivery, through the actors' spans
    by_id = {s.context.span_id: s for s in spans}
    for call in erp_calls:
        chain = []
        span: ReadableSpan | None = call
        while span is not None and span.parent is not None:
            span = by_id.get(span.parent.span_id)
            if span is not None:
                chain.append(span.name)
        assert chain[-1] == "poll harvest_time"
        assert any(name.startswith("deliver ") for name in chain)
        assert any(name == "system:tryton receive_batch" for name in chain)
        # and the vendor got its context
        sent = f"00-{trace_id:032x}-{call.context.span_id:016x}-"
        assert any(h is not None and h.startswith(sent) for h in sent_to_erp)


class _Flaky(Actor[Envelope]):
    def __init__(self, failing: list[bool]) -> None:
        self.failing = failing

    async def receive(self, message: Envelope) -> object:
        if self.failing[0]:
            raise ConnectorUnavailable("erp", "down for the test")
        return None


class _TestFlow:
    name = "test"
    kinds = frozenset({KIND})
    owner = "test"
    systems: frozenset[str] = frozenset()
    poller_names: frozenset[str] = frozenset()
    delivery_timeout = 10.0

    def __init__(self, failing: list[bool]) -> None:
        self.failing = failing

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        return _Flaky(self.failing)

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        return ()


def _flows(failing: list[bool]) -> Mapping[str, FlowFactory]:
    def factory(options: Mapping[str, object], fail: Fail, /) -> Flow:
        return _TestFlow(failing)

    return {"test": factory}


def _envelope(n: int) -> Envelope:
    return Envelope(
        id=new_id(), key=f"entry:{n}", kind=KIND, source="test", idempotency_key=f"test:{n}",
        occurred_at=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
        payload=msgspec.Raw(b'{"hours": "1.5"}'),
    )  # fmt: skip


def _config(tmp_path: Path, extra: str = "") -> str:
    return f'[journal]\npath = "{tmp_path / "journal.sqlite"}"\n\n[flows.test]\n{extra}'


async def test_a_redelivery_after_a_restart_continues_the_journaled_trace(tmp_path: Path) -> None:
    loaded = parse_config(_config(tmp_path), file="mediator.toml", base_dir=tmp_path)
    failing = [True]
    clock = FakeClock()
    first, before = traced()
    async with Mediator(
        loaded, flows=_flows(failing), clock=clock, serve_admin=False, tracer_provider=first
    ) as mediator:
        with first.get_tracer("test").start_as_current_span("webhook") as webhook:
            await mediator.accept(_envelope(1))
        await mediator._running_dispatcher().wait_settled()  # the retry waits on the clock
    [failed] = [s for s in before.get_finished_spans() if s.name == f"deliver {KIND}"]
    assert failed.parent is not None
    assert failed.parent.span_id == webhook.get_span_context().span_id
    assert not failed.status.is_ok

    failing[0] = False
    second, after = traced()  # a new process: a new provider, nothing shared but the journal
    async with Mediator(
        loaded, flows=_flows(failing), clock=clock, serve_admin=False, tracer_provider=second
    ) as mediator:
        await clock.advance(3600.0)  # the retry is due
        await mediator.wait_idle()
        assert mediator.statistics().dispatcher.delivered == 1
    [redelivered] = [s for s in after.get_finished_spans() if s.name == f"deliver {KIND}"]
    assert redelivered.context.trace_id == webhook.get_span_context().trace_id
    assert redelivered.parent is not None
    assert redelivered.parent.span_id == webhook.get_span_context().span_id
    assert redelivered.attributes is not None
    assert redelivered.attributes["mediator.attempt"] == 2
    assert redelivered.status.is_ok


class _Collector:
    """An OTLP/HTTP receiver on loopback: what arrived at /v1/traces and /v1/metrics."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []

    async def receive_traces(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        self.traces.append(ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def receive_metrics(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        self.metrics.append(ExportMetricsServiceRequest.FromString(await request.read()))
        return web.Response(body=b"", content_type="application/x-protobuf")


@pytest.fixture
async def collector() -> AsyncIterator[tuple[_Collector, str]]:
    received = _Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", received.receive_traces)
    app.router.add_post("/v1/metrics", received.receive_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield received, f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_traces_and_metrics_are_exported_over_otlp_when_configured(
    tmp_path: Path, collector: tuple[_Collector, str]
) -> None:
    received, url = collector
    telemetry = f'\n[telemetry]\notlp_endpoint = "{url}"\nservice_name = "mediator-test"\n'
    loaded = parse_config(_config(tmp_path, telemetry), file="mediator.toml", base_dir=tmp_path)
    async with Mediator(loaded, flows=_flows([False]), serve_admin=False) as mediator:
        for n in range(3):
            await mediator.accept(_envelope(n))
        await mediator.wait_idle()
    # leaving the block flushed the spans and exported the metrics once more
    spans = [
        (resource.resource, span)
        for request in received.traces
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    delivered = [span for _, span in spans if span.name == f"deliver {KIND}"]
    assert len(delivered) == 3
    names = {
        a.value.string_value for r, _ in spans for a in r.attributes if a.key == "service.name"
    }
    assert names == {"mediator-test"}
    assert received.metrics
    last = received.metrics[-1]
    metrics = {
        m.name: m
        for resource in last.resource_metrics
        for scope in resource.scope_metrics
        for m in scope.metrics
    }
    [point] = metrics["mediator_entries_delivered"].sum.data_points
    assert point.as_double == 3.0
    assert {a.key: a.value.string_value for a in point.attributes} == {"flow": "test"}
    assert metrics["mediator_entries_delivered"].sum.is_monotonic
    [latency] = metrics["mediator_delivery_seconds"].histogram.data_points
    assert latency.count == 3
    assert len(latency.bucket_counts) == len(latency.explicit_bounds) + 1


async def test_a_sample_ratio_of_zero_records_no_trace_but_still_exports_metrics(
    tmp_path: Path, collector: tuple[_Collector, str]
) -> None:
    received, url = collector
    telemetry = f'\n[telemetry]\notlp_endpoint = "{url}"\ntrace_sample_ratio = 0.0\n'
    loaded = parse_config(_config(tmp_path, telemetry), file="mediator.toml", base_dir=tmp_path)
    async with Mediator(loaded, flows=_flows([False]), serve_admin=False) as mediator:
        await mediator.accept(_envelope(1))
        await mediator.wait_idle()
    assert received.traces == []
    assert received.metrics


async def test_an_otlp_endpoint_without_the_extra_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as if `pip install mediator` without [otlp]: the exporter cannot be imported
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http", None)
    telemetry = '\n[telemetry]\notlp_endpoint = "http://127.0.0.1:4318"\n'
    loaded = parse_config(_config(tmp_path, telemetry), file="mediator.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        async with Mediator(loaded, flows=_flows([False]), serve_admin=False):
            pass
    assert "telemetry.otlp_endpoint" in str(caught.value)
    assert "mediator[otlp]" in str(caught.value)


def test_a_bad_otlp_endpoint_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            '[telemetry]\notlp_endpoint = "127.0.0.1:4318"\n', file="m.toml", base_dir=tmp_path
        )
    assert "telemetry.otlp_endpoint" in str(caught.value)
    assert "http://" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config("[telemetry]\ntrace_sample_ratio = 1.5\n", file="m.toml", base_dir=tmp_path)
    assert "telemetry.trace_sample_ratio" in str(caught.value)


def test_the_examples_telemetry_lines_parse_once_uncommented(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "mediator.toml"
    lines = example.read_text().splitlines()
    for start, count in (("# [telemetry]", 4), ('# metrics_auth = "none"', 1)):
        index = lines.index(start)
        for i in range(index, index + count):
            lines[i] = lines[i].removeprefix("# ")
    loaded = parse_config("\n".join(lines) + "\n", file="mediator.toml", base_dir=tmp_path)
    assert loaded.config.telemetry.otlp_endpoint == "http://127.0.0.1:4318"
    assert loaded.config.telemetry.trace_sample_ratio == 1.0
    assert loaded.config.admin.metrics_auth == "none"


def _attr(span: ReadableSpan, key: str) -> object:
    return (span.attributes or {}).get(key)
