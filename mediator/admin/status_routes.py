"""`/healthz`, `/readyz`, flows, systems and posting windows: what a status page shows.

`/readyz` answers 200 only once every part is started and the journal's recovery is done,
and 503 while starting or stopping, so a load balancer sends nothing to a daemon that is
going away; `/healthz` names each part's state. Both need no token (orchestrators ask them).
Flow backlogs are counted on the journal's read-only connection through the index of open
states; throughput and policy state are in-memory counters.
"""

from __future__ import annotations

from mediator.admin.endpoint import Call, Endpoint
from mediator.admin.models import (
    FlowsAnswer,
    FlowStatus,
    Health,
    HealthParts,
    PartStatus,
    Readiness,
    SystemsAnswer,
    SystemStatus,
    WindowsAnswer,
)
from mediator.admin.problems import ProblemError
from mediator.journal.reads import OpenCounts
from mediator.policies.breaker import BreakerStatistics
from mediator.runtime.cluster import ClusterStatus
from mediator.systems import ConnectorStatistics

__all__ = ["STATUS_ENDPOINTS"]


async def _readyz(call: Call) -> tuple[int, Readiness]:
    state = call.mediator.state
    return (200 if state == "ready" else 503), Readiness(ready=state == "ready", state=state)


async def _healthz(call: Call) -> Health:
    mediator = call.mediator
    if mediator.state != "ready":
        if mediator.state == "stopped":
            raise ProblemError(503, "Service Unavailable", "the mediator is stopped")
        return Health(status=mediator.state)
    stats = call.snapshots.statistics()
    return Health(
        status="ok",
        parts=HealthParts(
            journal=PartStatus(status="ok", count=stats.journal.appends),
            dispatcher=PartStatus(status="ok", count=stats.dispatcher.pending),
            flows={name: PartStatus(status="ok", count=r.live) for name, r in stats.flows.items()},
            systems={
                name: PartStatus(
                    status="open" if any(b.state != "closed" for b in _breakers(s, name)) else "ok",
                    count=s.transport.calls,
                    detail=", ".join(f"breaker {b.state}" for b in _breakers(s, name)) or None,
                )
                for name, s in stats.systems.items()
            },
            pollers={
                p.name: PartStatus(
                    status="failing"
                    if p.last_error
                    else "waiting"
                    if p.waiting_until is not None
                    else "standby"
                    if p.standby
                    else "ok",
                    count=p.polls,
                    detail=p.last_error or p.waiting_reason,
                    waiting_until=p.waiting_until,
                )
                for p in stats.pollers
            },
            cluster=None if stats.cluster is None else _cluster_part(stats.cluster),
        ),
    )


def _cluster_part(cluster: ClusterStatus) -> PartStatus:
    singletons = ", ".join(cluster.singletons) or "none"
    return PartStatus(
        status="failing" if cluster.last_error else "ok",
        count=len(cluster.partitions),
        detail=(
            f"daemon {cluster.daemon}: {len(cluster.partitions)} of {cluster.of} partitions, "
            f"{cluster.members} members; singletons: {singletons}"
            + (f"; {cluster.last_error}" if cluster.last_error else "")
        ),
    )


def _breakers(stats: ConnectorStatistics, name: str) -> list[BreakerStatistics]:
    return [b for b in stats.policies.breakers if b.system == name]


async def _flows(call: Call) -> FlowsAnswer:
    mediator = call.mediator
    now = mediator.clock.time()
    stats = call.snapshots.statistics()
    counts = {c.kind: c for c in await mediator.reader.open_counts(now)}
    answer = []
    for flow in mediator.flows:
        mine = [counts[k] for k in flow.kinds if k in counts]

        def total(state: str, mine: list[OpenCounts] = mine) -> int:
            return sum(c.by_state.get(state, 0) for c in mine)

        oldest = [c.oldest_accepted_at for c in mine if c.oldest_accepted_at is not None]
        throughput = stats.throughput.get(flow.name)
        registry = stats.flows.get(flow.name)
        answer.append(
            FlowStatus(
                name=flow.name,
                owner=flow.owner,
                kinds=sorted(flow.kinds),
                accepted=total("accepted"),
                in_flight=total("in_flight"),
                retry_waiting=total("retry"),
                due_retries=sum(c.due_retries for c in mine),
                parked=total("parked"),
                dead_letters=total("dead") + total("quarantined"),
                oldest_pending_age=max(0.0, now - min(oldest)) if oldest else None,
                live_entities=registry.live if registry else 0,
                delivered=throughput.delivered if throughput else 0,
                failed=throughput.failed if throughput else 0,
                last_minute=throughput.last_minute if throughput else 0,
                last_15_minutes=throughput.last_15_minutes if throughput else 0,
                per_minute=throughput.per_minute if throughput else [0] * 60,
            )
        )
    return FlowsAnswer(flows=answer)


async def _systems(call: Call) -> SystemsAnswer:
    mediator = call.mediator
    stats = call.snapshots.statistics()
    last = await mediator.reader.last_errors()
    answer = []
    for name, s in sorted(stats.systems.items()):
        error = last.get(name)
        answer.append(
            SystemStatus(
                name=name,
                calls=s.transport.calls,
                failures=sum(s.transport.errors.values()),
                errors=dict(s.transport.errors),
                retries=s.retries,
                breakers=_breakers(s, name),
                limiters=[r for r in s.policies.limiters if r.system == name],
                quotas=[q for q in s.policies.quotas if q.system == name],
                last_error=error[0] if error else None,
                last_error_at=error[1] if error else None,
            )
        )
    return SystemsAnswer(systems=answer)


async def _windows(call: Call) -> WindowsAnswer:
    return WindowsAnswer(windows=call.snapshots.windows())


STATUS_ENDPOINTS = (
    Endpoint(method="GET", path="/healthz", summary="Each part's health", role=None,
             response=Health, handler=_healthz),
    Endpoint(method="GET", path="/readyz", summary="Ready for work?", role=None,
             response=Readiness, handler=_readyz,
             other_statuses={503: "starting or stopping"}),
    Endpoint(method="GET", path="/flows", summary="Each flow's backlog and throughput",
             role="viewer", response=FlowsAnswer, handler=_flows),
    Endpoint(method="GET", path="/systems", summary="Each system's calls, breakers, limits",
             role="viewer", response=SystemsAnswer, handler=_systems),
    Endpoint(method="GET", path="/posting-windows", summary="Posting windows, open or closed",
             role="viewer", response=WindowsAnswer, handler=_windows),
)  # fmt: skip
