"""The metric families in Prometheus' text format (or OpenMetrics, when the scraper asks).

prometheus-client writes the exposition: its escaping, `# HELP`/`# TYPE` lines, the
``_total`` of counters, cumulative ``_bucket{le=…}`` lines with ``+Inf``, and the content
negotiation of a scraper's `Accept` header are what Prometheus parses, and a maintained
library gets them right where a hand-written writer drifts. Its instruments are not used:
the values come from the mediator's own counters (`families.py`). A registry is made per
scrape, so no module holds state.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from mediator.telemetry.families import MetricFamily

__all__ = ["render_prometheus"]


def render_prometheus(families: Sequence[MetricFamily], *, accept: str = "") -> tuple[bytes, str]:
    """The exposition of `families` and its content type, in the format `accept` prefers
    (Prometheus' text format 0.0.4 unless it names OpenMetrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type


class _Families(Collector):
    def __init__(self, families: Sequence[MetricFamily]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            yield _metric(family)


def _metric(family: MetricFamily) -> Metric:
    labels = list(family.labels)
    if family.kind == "histogram":
        histogram = HistogramMetricFamily(family.name, family.help, labels=labels, unit=family.unit)
        for pairs, snapshot in family.histograms:
            histogram.add_metric(
                [value for _, value in pairs],
                [(_bound(bound), count) for bound, count in snapshot.cumulative()],
                snapshot.sum,
            )
        return histogram
    metric: CounterMetricFamily | GaugeMetricFamily = (
        CounterMetricFamily(family.name, family.help, labels=labels, unit=family.unit)
        if family.kind == "counter"
        else GaugeMetricFamily(family.name, family.help, labels=labels, unit=family.unit)
    )
    for pairs, value in family.samples:
        metric.add_metric([v for _, v in pairs], value)
    return metric


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
