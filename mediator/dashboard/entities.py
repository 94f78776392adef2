"""One entity's history across the systems: the admin API's ``GET /entities/{key}``.

A form asks for the key (``invoice:in_1``, ``time_entry:42``); the page says in a sentence
what holds the entity, then lists its journal entries and states, its ids in every system
(xref), each flow's saved state for it, its approval requests and its trace ids.
"""

from __future__ import annotations

from aiohttp import web

from mediator.admin.models import EntityHistory
from mediator.dashboard.html import attrs, esc, money, when
from mediator.dashboard.site import Page, Route, View

__all__ = ["PAGE"]

_HOME = "/ui/entities"


async def _show(view: View) -> web.StreamResponse:
    key = view.field("key")
    form = (
        f'<form method="get" action="{_HOME}" role="search" aria-label="Find an entity">'
        '<p><label for="key">Entity key</label>'
        f"<input {attrs(id='key', name='key', value=key, required=True)}"
        ' placeholder="invoice:in_1"> <button type="submit">Show</button></p></form>'
    )
    if not key:
        return view.page("Entity", form, current=_HOME)
    history = await view.get(EntityHistory, "/entities/{key}", params={"key": key})
    return view.page(f"Entity {key}", form + _history(history), current=_HOME)


def _history(h: EntityHistory) -> str:
    entries = "".join(
        f"<tr {attrs(data_entry=e.id)}>"
        f'<td><a href="/ui/dead-letters/{esc(e.id)}"><code>{esc(e.id[:12])}…</code></a></td>'
        f"<td>{esc(e.kind)}</td>"
        f"<td {attrs(data_field='state', data_value=e.state)}>{esc(e.state)}</td>"
        f"<td>{e.attempts}</td><td>{when(e.accepted_at)}</td><td>{when(e.updated_at)}</td>"
        f"<td>{esc(e.reason or e.error or '—')}</td></tr>"
        for e in h.entries
    )
    xrefs = "".join(
        f"<tr><td>{esc(x.system)}</td><td><code>{esc(x.system_id)}</code></td>"
        f"<td>{when(x.recorded_at)}</td></tr>"
        for x in h.xrefs
    )
    flows = "".join(
        f"<tr><td>{esc(f.flow)}</td><td>{esc(f.entity)}</td><td>{f.version}</td>"
        f"<td>{when(f.updated_at)}</td><td><code>{esc(f.state)}</code></td></tr>"
        for f in h.flows
    )
    approvals = "".join(
        f"<li>{esc(a.what)} ({money(a.amount, a.currency)}): {esc(a.state)}"
        + (f" by {esc(a.decided_by)}: {esc(a.reason)}" if a.decided_by else "")
        + "</li>"
        for a in h.approvals
    )
    traces = "".join(f"<li><code>{esc(t)}</code></li>" for t in h.trace_ids)
    partial = "" if h.complete else "<p>Older closed entries may exist beyond these.</p>"

    def section(ident: str, title: str, content: str, empty: str) -> str:
        return (
            f'<section aria-labelledby="{ident}-h"><h2 id="{ident}-h">{title}</h2>'
            f"{content if content else f'<p>{empty}</p>'}</section>"
        )

    def table(heads: tuple[str, ...], rows: str) -> str:
        head = "".join(f'<th scope="col">{x}</th>' for x in heads)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>" if rows else ""

    return (
        f'<p class="summary" role="status">{esc(h.summary)}</p>'
        + section("entries-h", "Journal entries",
                  table(("Entry", "Kind", "State", "Attempts", "Accepted", "Updated", "Reason"),
                        entries) + partial, "None.")
        + section("xrefs", "Ids in each system",
                  table(("System", "Id", "Recorded"), xrefs), "None recorded.")
        + section("flows", "Flow state",
                  table(("Flow", "Saved as", "Version", "Updated", "State"), flows), "None.")
        + section("approvals", "Approvals", f"<ul>{approvals}</ul>" if approvals else "", "None.")
        + section("traces", "Trace ids", f"<ul>{traces}</ul>" if traces else "", "None.")
    )  # fmt: skip


PAGE = Page(title="Entity", path=_HOME, routes=(Route(method="GET", path=_HOME, handler=_show),))
