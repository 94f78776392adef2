"""The history of one entity across the systems: "where is invoice X and why is it stuck?".

One answer gathers, on the journal's read-only connection, the entity's entries in order
(states, errors, attempts, replays), its ids in every system (xref), each enabled flow's
saved state for it, its approval requests and the trace ids of its entries, and says in one
sentence what holds it, if anything. An entity key is ``<type>:<id>`` (``time_entry:42``):
the xref map and flow state are keyed by the id under that type.
"""

from __future__ import annotations

import datetime

from mediator.admin.endpoint import Call, Endpoint
from mediator.admin.models import EntityHistory, EntryView, FlowStateView, entry_view
from mediator.admin.problems import ProblemError

__all__ = ["ENTITY_ENDPOINTS", "stuck_summary"]

_HISTORY = 500  # entries an answer holds (the latest)
_KEY_SCHEMA: dict[str, object] = {"type": "string", "minLength": 1, "maxLength": 500}


def stuck_summary(entries: list[EntryView]) -> str:
    """Why the entity is held, in a sentence (or that nothing is open)."""
    dead = [e for e in entries if e.state in ("dead", "quarantined")]
    parked = sum(1 for e in entries if e.state == "parked")
    retry = [e for e in entries if e.state == "retry"]
    busy = sum(1 for e in entries if e.state in ("accepted", "in_flight"))
    parts = []
    if dead:
        reasons = "; ".join(dict.fromkeys(f"{e.reason or e.error} ({e.error_class})" for e in dead))
        parts.append(f"{len(dead)} open dead letter(s): {reasons}")
    if parked:
        parts.append(f"{parked} entr(y/ies) parked behind them")
    for e in retry:
        due = "?" if e.due_at is None else datetime.datetime.fromtimestamp(e.due_at, datetime.UTC)
        parts.append(f"retry of {e.id} due at {due:%Y-%m-%d %H:%M:%S}Z: {e.error}" if e.due_at
                     else f"retry of {e.id}: {e.error}")  # fmt: skip
    if busy:
        parts.append(f"{busy} entr(y/ies) queued or being delivered")
    return ". ".join(parts) if parts else "nothing open: every entry is closed"


async def _history(call: Call) -> EntityHistory:
    key = call.path("key")
    if not 0 < len(key) <= 500:
        raise ProblemError(400, "Bad Request", "an entity key is 1 to 500 characters",
                           field="path.key")  # fmt: skip
    reader = call.mediator.reader
    history = await reader.history(key, limit=_HISTORY)
    entries = [entry_view(e) for e in history.entries]
    entity_type, _, canonical = key.partition(":")
    xrefs = await reader.xrefs(entity_type, canonical) if canonical else []
    names = [f.name for f in call.mediator.flows]
    states = await reader.flow_states(names, [key, canonical] if canonical else [key])
    approvals = await reader.approvals(entity=key)
    if not entries and not xrefs and not states and not approvals:
        raise ProblemError(404, "Not Found", f"the journal knows nothing of {key!r}",
                           field="path.key")  # fmt: skip
    traces = [e.traceparent for e in entries if e.traceparent]
    return EntityHistory(
        key=key,
        summary=stuck_summary(entries),
        entries=entries,
        complete=history.complete,
        xrefs=xrefs,
        flows=[
            FlowStateView(
                flow=s.flow,
                entity=s.entity,
                version=s.version,
                updated_at=s.updated_at,
                state=s.state.decode("utf-8", "replace"),
            )
            for s in states
        ],
        approvals=approvals,
        trace_ids=list(dict.fromkeys(t.split("-")[1] if t.count("-") == 3 else t for t in traces)),
    )


ENTITY_ENDPOINTS = (
    Endpoint(method="GET", path="/entities/{key}",
             summary="An entity's entries, xrefs, flow state and traces, and what holds it",
             role="viewer", response=EntityHistory, handler=_history,
             path_params={"key": _KEY_SCHEMA}),
)  # fmt: skip
