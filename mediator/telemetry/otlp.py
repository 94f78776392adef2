"""OTLP export over HTTP of the mediator's traces and metrics, when `[telemetry]` asks for it.

Traces: an OpenTelemetry SDK `TracerProvider` whose spans a batch processor sends (in its
own thread) to the collector's ``/v1/traces``; the runtime is given this provider, not the
process-global one. Metrics: every `export_interval` seconds the same families `/metrics`
shows are translated into the SDK's `MetricsData` (cumulative sums, gauges, explicit-bucket
histograms) and sent to ``/v1/metrics`` by the SDK's OTLP exporter in a worker thread (it
blocks on HTTP); the last export runs when the block ends. The SDK and the exporter are
the optional extra `otlp`; without them a configured endpoint is a `ConfigError` naming
``telemetry.otlp_endpoint``. Headers (a collector's API key) come from the exporter's own
``OTEL_EXPORTER_OTLP_HEADERS`` environment variable, so no secret sits in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.config import TelemetryConfig
from mediator.telemetry.families import MetricFamily

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import Metric, MetricsData
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

__all__ = [
    "MISSING_EXTRA",
    "check_otlp_extra",
    "metrics_data",
    "open_otlp_metrics",
    "open_otlp_traces",
]

_log = logging.getLogger("mediator.telemetry")
MISSING_EXTRA = (
    "OTLP export needs the otlp extra: pip install 'mediator[otlp]' "
    "(opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http)"
)
_SHUTDOWN = 5.0  # seconds the last export and the span flush may take when stopping


def check_otlp_extra() -> None:
    """Raise `ImportError` (with `MISSING_EXTRA`) unless the `otlp` extra is installed."""
    try:
        import opentelemetry.exporter.otlp.proto.http
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError as exc:
        raise ImportError(MISSING_EXTRA) from exc


def _resource(config: TelemetryConfig) -> Resource:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": config.service_name})


def _url(config: TelemetryConfig, signal: str) -> str:
    assert config.otlp_endpoint is not None
    return f"{config.otlp_endpoint.rstrip('/')}/v1/{signal}"


@contextlib.asynccontextmanager
async def open_otlp_traces(config: TelemetryConfig) -> AsyncIterator[TracerProvider]:
    """A tracer provider exporting to `config.otlp_endpoint` for the block, recording
    `config.trace_sample_ratio` of the traces; its spans are flushed (for at most a few
    seconds, in a thread) when the block ends."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    # decided once per trace, where it starts; every later span (after a restart too, through
    # the journaled traceparent's sampled flag) follows that decision
    sampler = ParentBased(TraceIdRatioBased(config.trace_sample_ratio))
    provider = TracerProvider(resource=_resource(config), sampler=sampler)
    exporter = OTLPSpanExporter(endpoint=_url(config, "traces"), timeout=_SHUTDOWN)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    try:
        yield provider
    finally:
        await asyncio.to_thread(provider.shutdown)


@contextlib.asynccontextmanager
async def open_otlp_metrics(
    config: TelemetryConfig,
    collect: Callable[[], Awaitable[list[MetricFamily]]],
    *,
    clock: Clock,
) -> AsyncIterator[None]:
    """Export what `collect()` returns to `config.otlp_endpoint` every `export_interval`
    seconds of `clock` during the block, and once more when it ends. A failed export is
    logged (by the exporter) and tried again at the next interval; it never stops the
    mediator."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    exporter = OTLPMetricExporter(endpoint=_url(config, "metrics"), timeout=_SHUTDOWN)
    resource = _resource(config)
    started = time.time_ns()

    async def export() -> None:
        data = metrics_data(await collect(), resource=resource, start=started, now=time.time_ns())
        await asyncio.to_thread(exporter.export, data)

    async def every_interval() -> None:
        while True:
            await clock.sleep(config.export_interval)
            try:
                await export()
            except Exception:  # noqa: BLE001 - supervises the exporter: logged, tried again
                _log.exception("exporting metrics to %s failed", _url(config, "metrics"))

    try:
        async with TaskGroup() as group:
            task = group.create_task(every_interval(), name="otlp-metrics")
            try:
                yield
            finally:
                task.cancel()
        async with asyncio.timeout(_SHUTDOWN):
            await export()
    finally:
        await asyncio.to_thread(exporter.shutdown)


def metrics_data(
    families: Sequence[MetricFamily], *, resource: Resource, start: int, now: int
) -> MetricsData:
    """`families` as OTLP `MetricsData`: counters as cumulative monotonic sums since `start`
    (ns), gauges as gauges, histograms with their explicit bounds, all stamped `now` (ns)."""
    from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    metrics = [_metric(family, start, now) for family in families]
    scope = ScopeMetrics(scope=InstrumentationScope("mediator"), metrics=metrics, schema_url="")
    return MetricsData(
        resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[scope], schema_url="")]
    )


def _metric(family: MetricFamily, start: int, now: int) -> Metric:
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Gauge,
        Histogram,
        HistogramDataPoint,
        Metric,
        NumberDataPoint,
        Sum,
    )

    cumulative = AggregationTemporality.CUMULATIVE
    data: Sum | Gauge | Histogram
    if family.kind == "histogram":
        data = Histogram(
            data_points=[
                HistogramDataPoint(
                    attributes=dict(labels), start_time_unix_nano=start, time_unix_nano=now,
                    count=h.total, sum=h.sum, bucket_counts=list(h.counts),
                    explicit_bounds=list(h.bounds), min=h.min, max=h.max,
                )
                for labels, h in family.histograms
            ],
            aggregation_temporality=cumulative,
        )  # fmt: skip
    else:
        points = [
            NumberDataPoint(
                attributes=dict(labels), start_time_unix_nano=start, time_unix_nano=now,
                value=value,
            )
            for labels, value in family.samples
        ]  # fmt: skip
        data = (
            Sum(data_points=points, aggregation_temporality=cumulative, is_monotonic=True)
            if family.kind == "counter"
            else Gauge(data_points=points)
        )
    return Metric(name=family.name, description=family.help, unit=family.unit or None, data=data)
