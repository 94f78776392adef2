"""Metrics and traces: `/metrics` in Prometheus' format, and OTLP export when configured."""

from mediator.telemetry.families import MetricFamily, collect, families
from mediator.telemetry.otlp import (
    check_otlp_extra,
    metrics_data,
    open_otlp_metrics,
    open_otlp_traces,
)
from mediator.telemetry.prometheus import render_prometheus

__all__ = [
    "MetricFamily",
    "check_otlp_extra",
    "collect",
    "families",
    "metrics_data",
    "open_otlp_metrics",
    "open_otlp_traces",
    "render_prometheus",
]
