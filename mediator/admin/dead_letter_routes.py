"""Dead letters: list (filtered, paged), counts by cause, one with its lineage, replay,
release and discard.

Reads go through the journal's read-only connection. Actions go through the `Mediator` (the
dispatcher and the journal's one writer) and are written with their audit record in the same
transaction. A replay is a dry run unless the body says ``"dry_run": false``, and a real one
needs a reason, as release and discard do.
"""

from __future__ import annotations

import re

import msgspec

from mediator.admin.endpoint import Call, Endpoint
from mediator.admin.models import (
    CloseResult,
    DeadLetterDetail,
    DeadLetterGroup,
    DeadLetterGroups,
    DeadLetterPage,
    DeadLetterQuery,
    ReasonRequest,
    ReplayRequest,
    ReplayResult,
    entry_view,
)
from mediator.admin.problems import ProblemError
from mediator.journal import DeadLetterFilter, EntryState, ReleaseReport

__all__ = ["DEAD_LETTER_ENDPOINTS", "entry_id", "flow_of"]

_ID = re.compile(r"^[0-9a-f]{32}$")
_BATCH = 500  # dead letters one replay by filter sends (`ids` are bounded the same)
ID_SCHEMA: dict[str, object] = {"type": "string", "pattern": _ID.pattern}


def entry_id(call: Call) -> str:
    """The `{id}` of the path, checked (400 naming it otherwise)."""
    value = call.path("id")
    if not _ID.match(value):
        raise ProblemError(400, "Bad Request", "an entry id is 32 lowercase hex digits",
                           field="path.id")  # fmt: skip
    return value


def flow_of(call: Call, kind: str) -> tuple[str | None, str | None]:
    """The flow that handles `kind` and its owner team (None, None: no enabled flow does)."""
    for flow in call.mediator.flows:
        if kind in flow.kinds:
            return flow.name, flow.owner
    return None, None


def _kinds(call: Call, query: DeadLetterQuery) -> set[str] | None:
    flows = call.mediator.flows
    kinds: set[str] | None = None
    if query.flow is not None:
        match = [f for f in flows if f.name == query.flow]
        if not match:
            known = ", ".join(sorted(f.name for f in flows)) or "none"
            raise ProblemError(400, "Bad Request", f"no enabled flow {query.flow!r} (known: "
                               f"{known})", field="query.flow")  # fmt: skip
        kinds = set(match[0].kinds)
    if query.owner is not None:
        owned = {k for f in flows if f.owner == query.owner for k in f.kinds}
        kinds = owned if kinds is None else kinds & owned
    return kinds


async def _list(call: Call) -> DeadLetterPage:
    query = call.query
    assert isinstance(query, DeadLetterQuery)
    where = DeadLetterFilter(
        entity=query.entity, kind=query.kind, system=query.system,
        error_class=query.error_class, older_than=query.older_than, newer_than=query.newer_than,
    )  # fmt: skip
    page = await call.mediator.reader.dead_letters(
        where, now=call.mediator.clock.time(), kinds=_kinds(call, query),
        after=query.cursor, limit=query.limit,
    )  # fmt: skip
    return DeadLetterPage(items=[entry_view(e) for e in page.entries], next_cursor=page.next_cursor)


async def _groups(call: Call) -> DeadLetterGroups:
    causes = await call.mediator.reader.dead_letter_causes()
    groups = []
    for cause in causes:
        flow, owner = flow_of(call, cause.kind)
        groups.append(
            DeadLetterGroup(
                kind=cause.kind, system=cause.system, error_class=cause.error_class,
                flow=flow, owner=owner, count=cause.count, oldest_at=cause.oldest_at,
                reason=cause.reason,
            )
        )  # fmt: skip
    return DeadLetterGroups(groups=groups)


async def _one(call: Call) -> DeadLetterDetail:
    found = await call.mediator.reader.entry(entry_id(call))
    if found is None:
        raise ProblemError(404, "Not Found", f"no entry with id {call.path('id')}", field="path.id")
    flow, owner = flow_of(call, found.envelope.kind)
    lineage = await call.mediator.reader.lineage(found)
    return DeadLetterDetail(
        entry=entry_view(found), payload=found.envelope.payload, flow=flow, owner=owner,
        lineage=[entry_view(e) for e in lineage],
    )  # fmt: skip


async def _replay(call: Call, request: ReplayRequest) -> ReplayResult:
    if not request.dry_run and request.reason is None:
        raise ProblemError(400, "Bad Request", "a replay that sends needs a reason",
                           field="body.reason")  # fmt: skip
    where = DeadLetterFilter(
        ids=tuple(request.ids), entity=request.entity, kind=request.kind,
        system=request.system, error_class=request.error_class,
        older_than=request.older_than, newer_than=request.newer_than,
    )  # fmt: skip
    more = False
    if not request.ids:
        # A filter replays at most _BATCH at a time, so that one transaction stays short;
        # `more_matching` says to ask again.
        page = await call.mediator.reader.dead_letters(
            where, now=call.mediator.clock.time(), limit=_BATCH
        )
        more = page.next_cursor is not None
        ids = tuple(e.id for e in page.entries if e.state is EntryState.DEAD)
        if not ids:
            return ReplayResult(dry_run=request.dry_run, sent=[], quarantined=[],
                                more_matching=more)  # fmt: skip
        where = msgspec.structs.replace(where, ids=ids)
    principal = call.principal
    assert principal is not None
    if request.dry_run:  # a read: on the reader's side, never the writer's
        report = await call.mediator.reader.preview_replay(where, now=call.mediator.clock.time())
        return ReplayResult(
            dry_run=True,
            sent=[entry_view(e) for e in report.sent],
            quarantined=[entry_view(e) for e in report.quarantined],
            more_matching=more,
        )
    report = await call.mediator.replay(
        where, dry_run=request.dry_run, by=principal.name, role=principal.role,
        reason=request.reason,
    )  # fmt: skip
    return ReplayResult(
        dry_run=report.dry_run,
        sent=[entry_view(e) for e in report.sent],
        quarantined=[entry_view(e) for e in report.quarantined],
        more_matching=more,
    )


async def _replay_filtered(call: Call) -> ReplayResult:
    assert isinstance(call.body, ReplayRequest)
    return await _replay(call, call.body)


async def _replay_one(call: Call) -> ReplayResult:
    assert isinstance(call.body, ReplayRequest)
    target = entry_id(call)
    found = await call.mediator.reader.entry(target)
    if found is None or found.state is not EntryState.DEAD:
        # like release and discard: an id that is no dead letter (now) is not an action
        raise ProblemError(404, "Not Found", f"no open dead letter with id {target}",
                           field="path.id")  # fmt: skip
    request = msgspec.structs.replace(call.body, ids=[target])
    return await _replay(call, request)


async def _close(call: Call, action: str) -> CloseResult:
    assert isinstance(call.body, ReasonRequest)
    assert call.principal is not None
    target = entry_id(call)
    close = call.mediator.release if action == "release" else call.mediator.discard
    try:
        report: ReleaseReport = await close(
            target, reason=call.body.reason, by=call.principal.name, role=call.principal.role
        )
    except LookupError:
        raise ProblemError(404, "Not Found", f"no open dead letter with id {target}",
                           field="path.id") from None  # fmt: skip
    return CloseResult(entry=entry_view(report.released), unparked=len(report.unparked))


async def _release(call: Call) -> CloseResult:
    return await _close(call, "release")


async def _discard(call: Call) -> CloseResult:
    return await _close(call, "discard")


_P = {"id": ID_SCHEMA}

DEAD_LETTER_ENDPOINTS = (
    Endpoint(method="GET", path="/dead-letters", summary="Open dead letters, filtered and paged",
             role="viewer", response=DeadLetterPage, query=DeadLetterQuery, handler=_list),
    Endpoint(method="POST", path="/dead-letters/replay",
             summary="Replay dead letters by ids or filters (a dry run unless dry_run=false)",
             role="operator", response=ReplayResult, body=ReplayRequest,
             handler=_replay_filtered),
    # before /dead-letters/{id}: the router tries routes in this order
    Endpoint(method="GET", path="/dead-letters/groups",
             summary="Open dead letters counted by cause (kind, system, error class)",
             role="viewer", response=DeadLetterGroups, handler=_groups),
    Endpoint(method="GET", path="/dead-letters/{id}",
             summary="One entry: envelope, error, attempts, lineage", role="viewer",
             response=DeadLetterDetail, handler=_one, path_params=_P),
    Endpoint(method="POST", path="/dead-letters/{id}/replay",
             summary="Replay one dead letter (a dry run unless dry_run=false)", role="operator",
             response=ReplayResult, body=ReplayRequest, handler=_replay_one, path_params=_P),
    Endpoint(method="POST", path="/dead-letters/{id}/release",
             summary="Close a dead letter without sending it (settled otherwise)",
             role="operator", response=CloseResult, body=ReasonRequest, handler=_release,
             path_params=_P),
    Endpoint(method="POST", path="/dead-letters/{id}/discard",
             summary="Close a dead letter for good: it must never take effect",
             role="operator", response=CloseResult, body=ReasonRequest, handler=_discard,
             path_params=_P),
)  # fmt: skip
