"""The audit log: who did what, on what, and why (``GET /audit``, oldest first, paged).

Every action of the API, the CLI and the dashboard is written with its record in the
action's own transaction, so this page is the whole story of what people did ("who replayed
that, and why?"), page after page as the API gives it.
"""

from __future__ import annotations

from aiohttp import web

from mediator.admin.models import AuditPage
from mediator.dashboard.html import attrs, esc, when
from mediator.dashboard.site import Page, Route, View

__all__ = ["PAGE"]

_HOME = "/ui/audit"
_PER_PAGE = 100


async def _list(view: View) -> web.StreamResponse:
    query: dict[str, object] = {"limit": _PER_PAGE}
    if view.field("cursor"):
        query["cursor"] = view.field("cursor")
    page = await view.get(AuditPage, "/audit", query=query)
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("When", "Who", "Role", "Action", "On", "Why", "Outcome")
    )
    rows = "".join(
        f"<tr {attrs(data_seq=r.seq)}><td>{when(r.at)}</td><td>{esc(r.who)}</td>"
        f"<td>{esc(r.role)}</td><td>{esc(r.action)}</td><td><code>{esc(r.target)}</code></td>"
        f"<td>{esc(r.reason or '—')}</td><td>{esc(r.detail or '—')}</td></tr>"
        for r in page.items
    )
    table = (
        f'<table class="audit"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        if rows
        else "<p>No action was taken yet.</p>"
    )
    more = (
        f'<p><a href="{_HOME}?cursor={page.next_cursor}">Later actions</a></p>'
        if page.next_cursor is not None
        else ""
    )
    return view.page("Audit log", table + more, current=_HOME)


PAGE = Page(title="Audit log", path=_HOME, routes=(Route(method="GET", path=_HOME, handler=_list),))
