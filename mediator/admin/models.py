"""What the admin API reads and answers: one msgspec Struct per request, query and response.

The handlers decode and encode exactly these types, and `/openapi.json` is generated from
them (openapi.py), so the document cannot drift from what is served. Requests refuse unknown
fields; text fields are bounded; ids are UUIDv7 hex.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from mediator.journal import Entry, XrefRecord
from mediator.journal.operator import Approval, AuditRecord
from mediator.policies.breaker import BreakerStatistics
from mediator.policies.quota import QuotaStatistics
from mediator.policies.ratelimit import RateLimiterStatistics

__all__ = [
    "ApprovalList",
    "ApprovalQuery",
    "AuditPage",
    "AuditQuery",
    "CloseResult",
    "DeadLetterDetail",
    "DeadLetterGroup",
    "DeadLetterGroups",
    "DeadLetterPage",
    "DeadLetterQuery",
    "DecisionRequest",
    "EntityHistory",
    "EntryView",
    "FlowStateView",
    "FlowStatus",
    "FlowsAnswer",
    "Health",
    "HealthParts",
    "PartStatus",
    "Readiness",
    "ReasonRequest",
    "ReplayRequest",
    "ReplayResult",
    "SystemStatus",
    "SystemsAnswer",
    "WindowStatus",
    "WindowsAnswer",
    "entry_view",
]

EntryId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, pattern=r"\S")]
"""Why an operator acts: recorded in the audit log, so it must say something (not blank)."""
Age = Annotated[float, msgspec.Meta(ge=0, le=10 * 365 * 24 * 3600)]
Cursor = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Limit = Annotated[int, msgspec.Meta(ge=1, le=500)]
StateName = Literal[
    "accepted", "in_flight", "retry", "parked", "dead", "quarantined",
    "done", "released", "replayed", "compacted", "discarded",
]  # fmt: skip


class _Request(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


# -- health ---------------------------------------------------------------------------------


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """`/readyz`: ready only once every part started; 503 while starting or stopping."""

    ready: bool
    state: str


class PartStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One part's state and a counter that shows it moving.

    A poller whose system's allowance is spent is ``waiting``: `waiting_until` (epoch
    seconds) is when it polls again, `detail` says why.
    """

    status: str
    count: int | None = None
    detail: str | None = None
    waiting_until: float | None = None


class HealthParts(msgspec.Struct, frozen=True, kw_only=True):
    """Each part of the daemon: journal, dispatcher, flows, systems, pollers."""

    journal: PartStatus
    dispatcher: PartStatus
    flows: dict[str, PartStatus]
    systems: dict[str, PartStatus]
    pollers: dict[str, PartStatus]
    #: in a cluster: this daemon, the partitions (count) and singletons it holds now
    cluster: PartStatus | None = None


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """`/healthz`: the daemon's state and, once running, each part's."""

    status: str
    parts: HealthParts | None = None


# -- entries ---------------------------------------------------------------------------------


class EntryView(msgspec.Struct, frozen=True, kw_only=True):
    """A journal entry as an operator reads it (the payload only in a single entry's view)."""

    id: str
    key: str
    kind: str
    source: str
    idempotency_key: str
    occurred_at: datetime.datetime
    traceparent: str | None
    state: StateName
    accepted_at: float
    updated_at: float
    attempts: int
    due_at: float | None
    error: str | None
    error_class: str | None
    system: str | None
    reason: str | None
    replay_of: str | None
    replay_count: int
    released_by: str | None
    release_reason: str | None


def entry_view(entry: Entry) -> EntryView:
    """The operator's view of `entry`."""
    env = entry.envelope
    return EntryView(
        id=env.id, key=env.key, kind=env.kind, source=env.source,
        idempotency_key=env.idempotency_key, occurred_at=env.occurred_at,
        traceparent=env.traceparent, state=entry.state.name.lower(),  # type: ignore[arg-type]  # the enum's names are the Literal's
        accepted_at=entry.accepted_at, updated_at=entry.updated_at, attempts=entry.attempts,
        due_at=entry.due_at, error=entry.error, error_class=entry.error_class,
        system=entry.system, reason=entry.reason, replay_of=entry.replay_of,
        replay_count=entry.replay_count, released_by=entry.released_by,
        release_reason=entry.release_reason,
    )  # fmt: skip


class DeadLetterQuery(_Request, frozen=True):
    """Filters of `GET /dead-letters`; unset ones match everything; ages in seconds."""

    flow: Name | None = None
    owner: Name | None = None
    kind: Name | None = None
    system: Name | None = None
    error_class: Name | None = None
    entity: Name | None = None
    older_than: Age | None = None
    newer_than: Age | None = None
    cursor: Cursor | None = None
    limit: Limit = 50


class DeadLetterPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of open dead letters in journal order; pass `next_cursor` for the next."""

    items: list[EntryView]
    next_cursor: int | None


class DeadLetterGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Open dead letters of one cause: kind, failing system and error class, with the flow
    and owner team of the kind, how many, the oldest's death and the latest reason."""

    kind: str
    system: str | None
    error_class: str | None
    flow: str | None
    owner: str | None
    count: int
    oldest_at: float
    reason: str | None


class DeadLetterGroups(msgspec.Struct, frozen=True, kw_only=True):
    """Every open dead letter counted by cause, the largest groups first."""

    groups: list[DeadLetterGroup]


class DeadLetterDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One entry with its payload, its flow and owner, and its lineage (original and replays)."""

    entry: EntryView
    payload: msgspec.Raw
    flow: str | None
    owner: str | None
    lineage: list[EntryView]


class ReplayRequest(_Request, frozen=True):
    """What to replay (by ids or filters), a dry run unless `dry_run` is false; a real replay
    needs a `reason` for the audit log."""

    dry_run: bool = True
    reason: Reason | None = None
    ids: Annotated[list[EntryId], msgspec.Meta(max_length=500)] = []
    kind: Name | None = None
    system: Name | None = None
    error_class: Name | None = None
    entity: Name | None = None
    older_than: Age | None = None
    newer_than: Age | None = None


class ReplayResult(msgspec.Struct, frozen=True, kw_only=True):
    """What was (or, in a dry run, would be) sent, and what was quarantined instead.

    A replay by filter takes at most 500 dead letters; `more_matching` says more match:
    ask again.
    """

    dry_run: bool
    sent: list[EntryView]
    quarantined: list[EntryView]
    more_matching: bool = False


class ReasonRequest(_Request, frozen=True):
    """Why the operator acts (written to the audit log)."""

    reason: Reason


class CloseResult(msgspec.Struct, frozen=True, kw_only=True):
    """The closed dead letter and how many parked entries of its entity go on."""

    entry: EntryView
    unparked: int


# -- entities --------------------------------------------------------------------------------


class FlowStateView(msgspec.Struct, frozen=True, kw_only=True):
    """A flow's saved state for the entity (its JSON text), version and time."""

    flow: str
    entity: str
    version: int
    updated_at: float
    state: str


class EntityHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Where an entity is and why: its entries, ids in each system, flow state, traces.

    `summary` answers "why is it stuck?" in a sentence (open dead letters and their reasons,
    parked entries, retries due, or nothing open).
    """

    key: str
    summary: str
    #: its open entries however old, and its latest among the last 50,000 journaled (at most
    #: 500, in journal order); `complete` is False when older closed ones may exist
    entries: list[EntryView]
    complete: bool
    xrefs: list[XrefRecord]
    flows: list[FlowStateView]
    approvals: list[Approval]
    trace_ids: list[str]


# -- flows, systems, windows -----------------------------------------------------------------


class FlowStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One flow's backlog and throughput; ages in seconds, throughput in deliveries."""

    name: str
    owner: str
    kinds: list[str]
    accepted: int
    in_flight: int
    retry_waiting: int
    due_retries: int
    parked: int
    dead_letters: int
    oldest_pending_age: float | None
    live_entities: int
    delivered: int
    failed: int
    last_minute: int
    last_15_minutes: int
    #: deliveries in each of the last 60 clock minutes, oldest first (the last is partial)
    per_minute: list[int] = []


class FlowsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Every enabled flow."""

    flows: list[FlowStatus]


class SystemStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One system's calls and failures, breakers, limiters, quotas and last error."""

    name: str
    calls: int
    failures: int
    errors: dict[str, int]
    retries: int
    breakers: list[BreakerStatistics]
    limiters: list[RateLimiterStatistics]
    quotas: list[QuotaStatistics]
    last_error: str | None
    last_error_at: float | None


class SystemsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Every configured system."""

    systems: list[SystemStatus]


class WindowStatus(msgspec.Struct, frozen=True, kw_only=True):
    """A posting window: open now or not, and when that changes (None: never)."""

    name: str
    zone: str
    open: bool
    next_change: float | None


class WindowsAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """Every configured posting window."""

    windows: list[WindowStatus]


# -- approvals and audit -----------------------------------------------------------------------


class ApprovalQuery(_Request, frozen=True):
    """Filters of `GET /approvals`."""

    state: Literal["pending", "approved", "rejected"] | None = None
    entity: Name | None = None
    limit: Limit = 100


class ApprovalList(msgspec.Struct, frozen=True, kw_only=True):
    """Approval requests, oldest first."""

    items: list[Approval]


class DecisionRequest(_Request, frozen=True):
    """Why the operator approves or rejects (written to the audit log)."""

    reason: Reason


class AuditQuery(_Request, frozen=True):
    """Paging of `GET /audit`: records after `cursor` (a record's `seq`)."""

    cursor: Cursor | None = None
    limit: Limit = 50


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """Audit records in order; pass `next_cursor` for the next page."""

    items: list[AuditRecord]
    next_cursor: int | None
