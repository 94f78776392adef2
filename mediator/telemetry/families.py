"""The mediator's metrics as plain families, read when asked: what `/metrics` and OTLP render.

Counters and histograms are kept where things happen, as plain integers (the dispatcher's
`outcomes()` by kind, each HTTP transport's exchanges by endpoint and status); gauges are
read from the statistics the admin API already shows (mailboxes, policies) and from the
journal reader's count of open entries by kind and state (one indexed query, as `/flows`
makes). Nothing here runs on the data path: a scrape pays for it. Kinds are summed into
their flow (an entry of a kind no enabled flow handles counts under ``flow=""``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, TypeVar

import msgspec

from mediator.histogram import HistogramSnapshot
from mediator.journal import KindOutcomes
from mediator.journal.reads import OpenCounts
from mediator.policies.breaker import BreakerState

if TYPE_CHECKING:
    from mediator.runtime import Mediator, MediatorStatistics

__all__ = ["MetricFamily", "collect", "families"]

Labels = tuple[tuple[str, str], ...]
_Key = TypeVar("_Key", bound=tuple[str, ...])
#: the open states of a journal entry a backlog counts, by their names in `OpenCounts`
BACKLOG_STATES = ("accepted", "in_flight", "retry", "parked")


class MetricFamily(msgspec.Struct, frozen=True, kw_only=True):
    """One metric: its `name` (without the ``_total`` of a counter), what it counts, and a
    value (`samples`) or a histogram (`histograms`) per set of labels."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    help: str
    unit: str = ""
    labels: tuple[str, ...] = ()
    samples: list[tuple[Labels, float]] = []
    histograms: list[tuple[Labels, HistogramSnapshot]] = []


def families(
    stats: MediatorStatistics,
    *,
    flow_of: Mapping[str, str],
    open_counts: list[OpenCounts],
    now: float,
) -> list[MetricFamily]:
    """The metric families of one moment: `stats` (a `MediatorStatistics`), `flow_of` each
    kind's flow, `open_counts` the journal's open entries by kind, `now` the clock's time."""
    flows = sorted({*flow_of.values()})
    return [
        *_deliveries(stats.deliveries, flow_of),
        *_backlog(open_counts, flow_of, flows, now),
        *_mailboxes(stats),
        *_calls(stats),
        *_policies(stats),
    ]


def _deliveries(outcomes: list[KindOutcomes], flow_of: Mapping[str, str]) -> list[MetricFamily]:
    accepted: dict[str, int] = defaultdict(int)
    delivered: dict[str, int] = defaultdict(int)
    retried: dict[tuple[str, str], int] = defaultdict(int)
    dead: dict[tuple[str, str], int] = defaultdict(int)
    latency: dict[str, list[HistogramSnapshot]] = defaultdict(list)
    for o in outcomes:
        flow = flow_of.get(o.kind, "")
        accepted[flow] += o.accepted
        delivered[flow] += o.delivered
        for system, n in o.retried.items():
            retried[flow, system] += n
        for system, n in o.dead.items():
            dead[flow, system] += n
        latency[flow].append(o.latency)
    return [
        _counter("mediator_entries_accepted", "Entries newly journaled, by flow",
                 ("flow",), {(f,): n for f, n in accepted.items()}),
        _counter("mediator_entries_delivered", "Entries delivered (done), by flow",
                 ("flow",), {(f,): n for f, n in delivered.items()}),
        _counter("mediator_entries_retried", "Deliveries that failed and were scheduled again, "
                 "by flow and the system that failed (empty: none did)",
                 ("flow", "system"), dict(retried)),
        _counter("mediator_entries_dead", "Entries dead-lettered, by flow and the system that "
                 "failed (empty: none did)", ("flow", "system"), dict(dead)),
        MetricFamily(
            name="mediator_delivery_seconds", kind="histogram", unit="seconds",
            help="Time from an entry's acceptance into the journal to its delivery, by flow",
            labels=("flow",),
            histograms=[((("flow", f),), _merged(h)) for f, h in sorted(latency.items())],
        ),
    ]  # fmt: skip


def _backlog(
    counts: list[OpenCounts], flow_of: Mapping[str, str], flows: list[str], now: float
) -> list[MetricFamily]:
    backlog: dict[tuple[str, str], int] = {(f, s): 0 for f in flows for s in BACKLOG_STATES}
    dead: dict[tuple[str], int] = {(f,): 0 for f in flows}
    oldest: dict[str, float] = {}
    for c in counts:
        flow = flow_of.get(c.kind, "")
        for state in BACKLOG_STATES:
            backlog[flow, state] = backlog.get((flow, state), 0) + c.by_state.get(state, 0)
        dead[(flow,)] = dead.get((flow,), 0) + c.by_state.get("dead", 0)
        dead[(flow,)] += c.by_state.get("quarantined", 0)
        if c.oldest_accepted_at is not None:
            oldest[flow] = min(oldest.get(flow, c.oldest_accepted_at), c.oldest_accepted_at)
    return [
        _gauge("mediator_backlog", "Open journal entries by flow and state (accepted, in_flight, "
               "retry, parked)", ("flow", "state"), backlog),
        _gauge("mediator_dead_letters", "Dead letters waiting for an operator, by flow",
               ("flow",), dead),
        _gauge("mediator_oldest_pending_age_seconds", "Age of the oldest open entry, by flow",
               ("flow",), {(f,): max(0.0, now - t) for f, t in oldest.items()}),
    ]  # fmt: skip


def _mailboxes(stats: MediatorStatistics) -> list[MetricFamily]:
    flows = stats.flows.items()
    return [
        _gauge("mediator_mailbox_depth", "Messages waiting in the entity actors' mailboxes, "
               "by flow", ("flow",), {(f,): r.depth for f, r in flows}),
        _gauge("mediator_mailbox_blocked_senders", "Senders waiting for room in a full "
               "mailbox, by flow", ("flow",), {(f,): r.blocked_senders for f, r in flows}),
        _gauge("mediator_live_entities", "Entity actors alive, by flow", ("flow",),
               {(f,): r.live for f, r in flows}),
        _gauge("mediator_dispatcher_pending", "Entries queued for delivery or being delivered",
               (), {(): stats.dispatcher.pending}),
        _gauge("mediator_journal_waiting", "Journal writes waiting for the group commit", (),
               {(): stats.journal.waiting}),
    ]  # fmt: skip


def _calls(stats: MediatorStatistics) -> list[MetricFamily]:
    calls: dict[tuple[str, str, str], int] = {}
    latency: list[tuple[Labels, HistogramSnapshot]] = []
    for system, s in sorted(stats.systems.items()):
        for c in s.transport.by_endpoint:
            calls[system, c.endpoint, c.status] = c.calls
        if s.transport.latency is not None:
            latency.append(((("system", system),), s.transport.latency))
    return [
        _counter("mediator_vendor_calls", "HTTP exchanges with a vendor by system, endpoint and "
                 "status (an HTTP status, or timeout, unavailable, cancelled)",
                 ("system", "endpoint", "status"), calls),
        MetricFamily(name="mediator_vendor_call_seconds", kind="histogram", unit="seconds",
                     help="Duration of an HTTP exchange with a vendor, by system",
                     labels=("system",), histograms=latency),
    ]  # fmt: skip


def _policies(stats: MediatorStatistics) -> list[MetricFamily]:
    # A system usually has one limiter, one quota and one breaker; with several, the binding
    # one is shown: the fewest tokens, the least quota left, breakers counted by state.
    breakers: dict[tuple[str, str], int] = {}
    tokens: dict[tuple[str], float] = {}
    left: dict[tuple[str, str], int] = {}
    allowance: dict[tuple[str], int] = {}
    for system, s in sorted(stats.systems.items()):
        p = s.policies
        for state in BreakerState:
            breakers[system, state.value] = 0
        for b in p.breakers:
            if b.system == system:
                breakers[system, b.state.value] += 1
        for r in p.limiters:
            if r.system == system:
                tokens[(system,)] = min(tokens.get((system,), r.tokens), r.tokens)
        for q in p.quotas:
            if q.system == system:
                allowance[(system,)] = min(allowance.get((system,), q.allowance), q.allowance)
                for priority, n in q.left_by_priority.items():
                    left[system, priority] = min(left.get((system, priority), n), n)
    return [
        _gauge("mediator_breakers", "Circuit breakers of a system by state (closed, open, "
               "half_open): 1 where the system's breaker is", ("system", "state"), breakers),
        _gauge("mediator_rate_limiter_tokens", "Tokens left in a system's rate limiter",
               ("system",), tokens),
        _gauge("mediator_quota_left", "Calls left in a system's quota for a priority class",
               ("system", "priority"), left),
        _gauge("mediator_quota_allowance", "A system's quota per period", ("system",), allowance),
    ]  # fmt: skip


def _counter(
    name: str, help: str, labels: tuple[str, ...], values: Mapping[_Key, float]
) -> MetricFamily:
    return MetricFamily(name=name, kind="counter", help=help, labels=labels,
                        samples=_samples(labels, values))  # fmt: skip


def _gauge(
    name: str, help: str, labels: tuple[str, ...], values: Mapping[_Key, float]
) -> MetricFamily:
    return MetricFamily(name=name, kind="gauge", help=help, labels=labels,
                        samples=_samples(labels, values))  # fmt: skip


def _samples(labels: tuple[str, ...], values: Mapping[_Key, float]) -> list[tuple[Labels, float]]:
    return [
        (tuple(zip(labels, key, strict=True)), float(value))
        for key, value in sorted(values.items())
    ]


def _merged(parts: list[HistogramSnapshot]) -> HistogramSnapshot:
    first = parts[0]
    counts = [sum(p.counts[i] for p in parts) for i in range(len(first.counts))]
    return HistogramSnapshot(
        bounds=first.bounds,
        counts=tuple(counts),
        total=sum(p.total for p in parts),
        sum=sum(p.sum for p in parts),
        min=min((p.min for p in parts if p.total), default=0.0),
        max=max(p.max for p in parts),
    )


async def collect(
    mediator: Mediator, stats: MediatorStatistics | None = None
) -> list[MetricFamily]:
    """The families of `mediator` now; `stats` defaults to a fresh `mediator.statistics()`
    (the admin API passes its shared snapshot). Counts the open entries on the journal's
    read-only connection."""
    now = mediator.clock.time()
    counts = await mediator.reader.open_counts(now)
    flow_of = {kind: flow.name for flow in mediator.flows for kind in flow.kinds}
    return families(
        stats if stats is not None else mediator.statistics(),
        flow_of=flow_of,
        open_counts=counts,
        now=now,
    )
