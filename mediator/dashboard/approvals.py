"""Approvals: the requests flows filed for a person, decided here with a reason.

The page lists requests by state (pending first, as ``GET /approvals`` answers them, oldest
first); an operator approves or rejects a pending one with a reason, through the admin API's
``POST /approvals/{id}/approve`` or ``/reject``, so the decision is audited under their name
and wakes the flow that asked. A request decided meanwhile (by someone else) is the API's
409, shown as such.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from mediator.admin.models import ApprovalList
from mediator.dashboard.html import attrs, esc, money, when
from mediator.dashboard.site import Page, Route, View
from mediator.journal.operator import Approval

__all__ = ["PAGE"]

_HOME = "/ui/approvals"
_STATES = ("pending", "approved", "rejected")


async def _list(view: View) -> web.StreamResponse:
    state = view.field("state") or "pending"
    query: dict[str, object] = {"state": state, "limit": 500}
    items = (await view.get(ApprovalList, "/approvals", query=query)).items
    tabs = "".join(
        f'<li><a href="{_HOME}?state={s}"'
        + (' aria-current="page"' if s == state else "")
        + f">{s.capitalize()}</a></li>"
        for s in _STATES
    )
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("Requested", "Flow", "Entity", "What", "Amount", "State", "Decision")
    )
    rows = "".join(_row(view, a) for a in items)
    table = (
        f'<table class="approvals"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        if items
        else f"<p>No {esc(state)} approvals.</p>"
    )
    body = f'<nav aria-label="Approval states"><ul class="tabs">{tabs}</ul></nav>{table}'
    return view.page("Approvals", body, current=_HOME)


def _row(view: View, a: Approval) -> str:
    if a.state == "pending":
        decision = _decide_form(view, a) if view.can_act else "waiting"
    else:
        decision = f"{esc(a.decided_by)}, {when(a.decided_at)}: {esc(a.reason)}"
    entity = urllib.parse.urlencode({"key": a.entity})
    return (
        f"<tr {attrs(data_approval=a.id)}><td>{when(a.requested_at)}</td><td>{esc(a.flow)}</td>"
        f'<td><a href="/ui/entities?{entity}">{esc(a.entity)}</a></td><td>{esc(a.what)}</td>'
        f"<td>{money(a.amount, a.currency)}</td>"
        f"<td {attrs(data_field='state', data_value=a.state)}>{esc(a.state)}</td>"
        f"<td>{decision}</td></tr>"
    )


def _decide_form(view: View, a: Approval) -> str:
    return (
        f'<form method="post" action="{_HOME}/{esc(a.id)}/approve" class="inline">{view.csrf()}'
        f'<label for="reason-{esc(a.id)}">Reason</label>'
        f'<input id="reason-{esc(a.id)}" name="reason" required maxlength="2000">'
        '<button type="submit">Approve</button> '
        f'<button type="submit" formaction="{_HOME}/{esc(a.id)}/reject">Reject</button></form>'
    )


async def _decide(view: View, verb: str) -> web.StreamResponse:
    approval_id = view.request.match_info["id"]
    refused = view.reason_missing(_HOME)
    if refused is not None:
        return refused
    decided = await view.post(
        Approval, f"/approvals/{{id}}/{verb}", params={"id": approval_id},
        body={"reason": view.field("reason")},
    )  # fmt: skip
    return view.redirect(_HOME, say=f"{decided.state.capitalize()}: {decided.what}")


async def _approve(view: View) -> web.StreamResponse:
    return await _decide(view, "approve")


async def _reject(view: View) -> web.StreamResponse:
    return await _decide(view, "reject")


PAGE = Page(
    title="Approvals",
    path=_HOME,
    routes=(
        Route(method="GET", path=_HOME, handler=_list),
        Route(method="POST", path=_HOME + "/{id:[0-9a-f]{32}}/approve", handler=_approve,
              needs="operator"),
        Route(method="POST", path=_HOME + "/{id:[0-9a-f]{32}}/reject", handler=_reject,
              needs="operator"),
    ),
)  # fmt: skip
