"""Metrics and traces: `/metrics` in Prometheus' format, and OTLP export when configured."""

from mediator.telemetry.families import MetricFamily, collect, families
from mediator.telemetry.prometheus import render_prometheus

__all__ = ["MetricFamily", "collect", "families", "render_prometheus"]
