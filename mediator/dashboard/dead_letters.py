"""Dead letters: counted by cause and owner team, filtered, one in full, and the actions.

The list page shows every open dead letter's cause (kind, failing system, error class) with
its flow and owner team (``GET /dead-letters/groups``), and the dead letters of the filter
in the form (``GET /dead-letters``, paged). One dead letter shows its envelope, error,
attempts, payload and lineage. Replaying is two steps, one dead letter or a whole cause at a
time: a dry run shows what would be sent (and what the replay limit would quarantine), then
the operator confirms with a reason. Release and discard take a reason too. Each action is
the admin API's own endpoint run as the logged-in operator, so it is audited the same way.
"""

from __future__ import annotations

import urllib.parse

import msgspec
from aiohttp import web

from mediator.admin.models import (
    CloseResult,
    DeadLetterDetail,
    DeadLetterGroup,
    DeadLetterGroups,
    DeadLetterPage,
    EntryView,
    ReplayResult,
)
from mediator.dashboard.html import attrs, esc, hidden, when
from mediator.dashboard.overview import OWNER_TEAMS
from mediator.dashboard.site import Page, Route, View

__all__ = ["PAGE"]

_FILTERS = ("owner", "flow", "kind", "system", "error_class", "entity")
_CAUSE = ("kind", "system", "error_class")
_HOME = "/ui/dead-letters"


def _filters(view: View, names: tuple[str, ...] = _FILTERS) -> dict[str, str]:
    return {name: value for name in names if (value := view.field(name))}


def _link(filters: dict[str, str], **more: object) -> str:
    query = urllib.parse.urlencode({**filters, **{k: str(v) for k, v in more.items()}})
    return f"{_HOME}?{query}" if query else _HOME


async def _list(view: View) -> web.StreamResponse:
    filters = _filters(view)
    query: dict[str, object] = dict(filters)
    if view.field("cursor"):
        query["cursor"] = view.field("cursor")
    groups = (await view.get(DeadLetterGroups, "/dead-letters/groups")).groups
    page = await view.get(DeadLetterPage, "/dead-letters", query=query)
    shown = [g for g in groups if _group_matches(g, filters)]
    body = _filter_form(filters, groups) + _groups(view, shown, filters) + _entries(page, filters)
    return view.page("Dead letters", body, current=_HOME)


def _group_matches(group: DeadLetterGroup, filters: dict[str, str]) -> bool:
    values = {"owner": group.owner, "flow": group.flow, "kind": group.kind,
              "system": group.system, "error_class": group.error_class}  # fmt: skip
    return all(values.get(k) == v for k, v in filters.items() if k in values)


def _filter_form(filters: dict[str, str], groups: list[DeadLetterGroup]) -> str:
    owners = sorted(set(OWNER_TEAMS) | {g.owner for g in groups if g.owner})
    flows = sorted({g.flow for g in groups if g.flow})

    def choice(name: str, label: str, options: list[str]) -> str:
        chosen = filters.get(name, "")
        items = "".join(
            f"<option {attrs(value=o, selected=o == chosen)}>{esc(o)}</option>" for o in options
        )
        return (
            f'<p><label for="f-{name}">{label}</label><select id="f-{name}" name="{name}">'
            f'<option value="">any</option>{items}</select></p>'
        )

    def text(name: str, label: str) -> str:
        return (
            f'<p><label for="f-{name}">{label}</label>'
            f"<input {attrs(id=f'f-{name}', name=name, value=filters.get(name, ''))}></p>"
        )

    return (
        f'<form class="filters" method="get" action="{_HOME}" role="search" '
        'aria-label="Filter dead letters">'
        + choice("owner", "Owner team", owners)
        + choice("flow", "Flow", flows)
        + text("kind", "Kind")
        + text("system", "System")
        + text("error_class", "Error class")
        + text("entity", "Entity key")
        + f'<p class="actions"><button type="submit">Filter</button> <a href="{_HOME}">Clear</a>'
        "</p></form>"
    )


def _groups(view: View, groups: list[DeadLetterGroup], filters: dict[str, str]) -> str:
    if not groups:
        return '<section aria-labelledby="causes-h"><h2 id="causes-h">By cause</h2>' \
               "<p>No open dead letters match.</p></section>"  # fmt: skip
    rows = []
    for n, g in enumerate(groups):
        cause = {k: v for k, v in (("kind", g.kind), ("system", g.system),
                                   ("error_class", g.error_class)) if v}  # fmt: skip
        action = ""
        if view.can_act:
            action = (
                f'<form method="post" action="{_HOME}/replay" class="inline">{view.csrf()}'
                + "".join(hidden(k, v) for k, v in cause.items())
                + f'<label for="g-reason-{n}">Reason</label>'
                f'<input id="g-reason-{n}" name="reason" required maxlength="2000">'
                f'<button type="submit">Dry run: replay {g.count}</button></form>'
            )
        rows.append(
            f"<tr {attrs(data_group=n)}><td>{esc(g.owner or '—')}</td><td>{esc(g.flow or '—')}"
            f"</td><td>{esc(g.kind)}</td><td>{esc(g.system or '—')}</td>"
            f"<td>{esc(g.error_class or '—')}</td>"
            f"<td {attrs(data_field='count', data_value=g.count)}>"
            f'<a href="{esc(_link(cause))}">{g.count:,}</a></td>'
            f"<td>{when(g.oldest_at)}</td><td>{esc(g.reason or '—')}</td>"
            + (f"<td>{action}</td>" if view.can_act else "")
            + "</tr>"
        )
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in (
            "Owner",
            "Flow",
            "Kind",
            "System",
            "Error class",
            "Open",
            "Oldest since",
            "A reason",
        )
    ) + ('<th scope="col">Replay the cause</th>' if view.can_act else "")
    return (
        '<section aria-labelledby="causes-h"><h2 id="causes-h">By cause</h2>'
        f'<table class="causes"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        "</table></section>"
    )


def _entry_rows(entries: list[EntryView], *, current: str = "") -> str:
    return "".join(
        f"<tr {attrs(data_entry=e.id, aria_current='true' if e.id == current else None)}>"
        f'<td><a href="{_HOME}/{esc(e.id)}"><code>{esc(e.id[:12])}…</code></a></td>'
        f'<td><a href="/ui/entities?{urllib.parse.urlencode({"key": e.key})}">{esc(e.key)}</a>'
        f"</td><td>{esc(e.kind)}</td>"
        f"<td {attrs(data_field='state', data_value=e.state)}>{esc(e.state)}</td>"
        f"<td>{e.attempts}</td><td>{esc(e.system or '—')}</td>"
        f"<td>{esc(e.error_class or '—')}</td><td>{esc(e.reason or e.error or '—')}</td>"
        f"<td>{when(e.updated_at)}</td></tr>"
        for e in entries
    )


_ENTRY_HEAD = "".join(
    f'<th scope="col">{h}</th>'
    for h in (
        "Entry",
        "Entity",
        "Kind",
        "State",
        "Attempts",
        "System",
        "Error class",
        "Reason",
        "Updated",
    )
)


def _entries(page: DeadLetterPage, filters: dict[str, str]) -> str:
    more = (
        f'<p><a href="{esc(_link(filters, cursor=page.next_cursor))}">Next page</a></p>'
        if page.next_cursor is not None
        else ""
    )
    table = (
        f'<table class="entries"><thead><tr>{_ENTRY_HEAD}</tr></thead>'
        f"<tbody>{_entry_rows(page.items)}</tbody></table>"
        if page.items
        else "<p>None.</p>"
    )
    return (
        '<section aria-labelledby="list-h"><h2 id="list-h">Dead letters</h2>'
        f"{table}{more}</section>"
    )


async def _one(view: View) -> web.StreamResponse:
    entry_id = view.request.match_info["id"]
    detail = await view.get(DeadLetterDetail, "/dead-letters/{id}", params={"id": entry_id})
    e = detail.entry
    facts = [
        ("Entity", f'<a href="/ui/entities?{urllib.parse.urlencode({"key": e.key})}">'
                   f"{esc(e.key)}</a>"),
        ("Kind", esc(e.kind)),
        ("Flow", f"{esc(detail.flow or '—')} (owner: {esc(detail.owner or '—')})"),
        ("State", f'<span {attrs(data_field="state", data_value=e.state)}>{esc(e.state)}</span>'),
        ("Attempts", str(e.attempts)),
        ("System", esc(e.system or "—")),
        ("Error class", esc(e.error_class or "—")),
        ("Error", esc(e.error or "—")),
        ("Reason", esc(e.reason or "—")),
        ("Source", esc(e.source)),
        ("Occurred", esc(e.occurred_at.isoformat())),
        ("Accepted", when(e.accepted_at)),
        ("Updated", when(e.updated_at)),
        ("Retry due", when(e.due_at)),
        ("Idempotency key", f"<code>{esc(e.idempotency_key)}</code>"),
        ("Trace", f"<code>{esc(e.traceparent or '—')}</code>"),
        ("Replay of", f'<a href="{_HOME}/{esc(e.replay_of)}">{esc(e.replay_of)}</a>'
                      if e.replay_of else "—"),
        ("Replays so far", str(e.replay_count)),
        ("Closed by", esc(f"{e.released_by}: {e.release_reason}") if e.released_by else "—"),
    ]  # fmt: skip
    payload = msgspec.json.format(bytes(detail.payload), indent=2).decode("utf-8", "replace")
    body = (
        '<dl class="facts">'
        + "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
        + "</dl>"
        + (_actions(view, e) if view.can_act and e.state == "dead" else "")
        + '<section aria-labelledby="lineage-h"><h2 id="lineage-h">Lineage</h2>'
        f'<table class="entries"><thead><tr>{_ENTRY_HEAD}</tr></thead>'
        f"<tbody>{_entry_rows(detail.lineage, current=e.id)}</tbody></table></section>"
        '<section aria-labelledby="payload-h"><h2 id="payload-h">Payload</h2>'
        f"<pre>{esc(payload)}</pre></section>"
    )
    return view.page(f"Entry {e.id}", body, current=_HOME)


def _actions(view: View, e: EntryView) -> str:
    def form(action: str, verb: str, hint: str) -> str:
        return (
            f'<form method="post" action="{_HOME}/{esc(e.id)}/{action}" class="action">'
            f"{view.csrf()}<h3>{verb}</h3><p>{hint}</p>"
            f'<p><label for="{action}-reason">Reason</label>'
            f'<input id="{action}-reason" name="reason" required maxlength="2000"></p>'
            f'<p><button type="submit">{"Dry run" if action == "replay" else verb}</button></p>'
            "</form>"
        )

    return (
        '<section aria-labelledby="act-h"><h2 id="act-h">Act</h2><div class="columns">'
        + form("replay", "Replay", "Send it again with its idempotency key: first a dry run.")
        + form("release", "Release", "Close it without sending: it was settled otherwise.")
        + form("discard", "Discard", "Close it for good: it must never take effect.")
        + "</div></section>"
    )


async def _replay_one(view: View) -> web.StreamResponse:
    entry_id = view.request.match_info["id"]
    back = f"{_HOME}/{entry_id}"
    refused = view.reason_missing(back)
    if refused is not None:
        return refused
    reason = view.field("reason")
    confirmed = view.field("confirm") == "yes"
    result = await view.post(
        ReplayResult,
        "/dead-letters/{id}/replay",
        params={"id": entry_id},
        body={"dry_run": not confirmed, "reason": reason},
    )
    if confirmed:
        sent = ", ".join(e.id for e in result.sent)
        return view.redirect(back, say=_done(result) + (f": new entry {sent}" if sent else ""))
    return _preview(view, result, action=f"{back}/replay", fields={}, reason=reason, back=back)


async def _replay_many(view: View) -> web.StreamResponse:
    cause = _filters(view, _CAUSE)
    back = _link(cause)
    refused = view.reason_missing(back)
    if refused is not None:
        return refused
    reason = view.field("reason")
    confirmed = view.field("confirm") == "yes"
    result = await view.post(
        ReplayResult,
        "/dead-letters/replay",
        body={**cause, "dry_run": not confirmed, "reason": reason},
    )
    if confirmed:
        more = "; more match: replay again" if result.more_matching else ""
        return view.redirect(back, say=_done(result) + more)
    return _preview(view, result, action=f"{_HOME}/replay", fields=cause, reason=reason, back=back)


def _done(result: ReplayResult) -> str:
    return f"Replayed: sent {len(result.sent)}, quarantined {len(result.quarantined)}"


def _preview(
    view: View,
    result: ReplayResult,
    *,
    action: str,
    fields: dict[str, str],
    reason: str,
    back: str,
) -> web.StreamResponse:
    sent = [msgspec.structs.replace(e, id=e.replay_of or e.id) for e in result.sent]
    more = "<p>More dead letters match than one replay takes (500): replay again after.</p>" \
        if result.more_matching else ""  # fmt: skip
    body = (
        f"<p {attrs(data_field='would_send', data_value=len(result.sent))}>This replay would send "
        f"<strong>{len(result.sent)}</strong> dead letter(s) again and quarantine "
        f"<strong>{len(result.quarantined)}</strong> (replayed too often already).</p>{more}"
        + (
            f'<table class="entries"><caption>Would be sent</caption><thead><tr>{_ENTRY_HEAD}'
            f"</tr></thead><tbody>{_entry_rows(sent)}</tbody></table>"
            if sent
            else ""
        )
        + f'<form method="post" action="{esc(action)}" class="action">{view.csrf()}'
        + "".join(hidden(k, v) for k, v in fields.items())
        + hidden("confirm", "yes")
        + '<p><label for="confirm-reason">Reason</label>'
        f'<input id="confirm-reason" name="reason" required maxlength="2000" '
        f'value="{esc(reason)}"></p>'
        f'<p><button type="submit">Replay {len(result.sent)} now</button> '
        f'<a href="{esc(back)}">Cancel</a></p></form>'
    )
    return view.page("Replay: dry run", body, current=_HOME)


async def _close(view: View, action: str) -> web.StreamResponse:
    entry_id = view.request.match_info["id"]
    back = f"{_HOME}/{entry_id}"
    refused = view.reason_missing(back)
    if refused is not None:
        return refused
    result = await view.post(
        CloseResult,
        f"/dead-letters/{{id}}/{action}",
        params={"id": entry_id},
        body={"reason": view.field("reason")},
    )
    went_on = f"; {result.unparked} parked entries go on" if result.unparked else ""
    return view.redirect(back, say=f"{action.capitalize()}d {entry_id}{went_on}")


async def _release(view: View) -> web.StreamResponse:
    return await _close(view, "release")


async def _discard(view: View) -> web.StreamResponse:
    return await _close(view, "discard")


PAGE = Page(
    title="Dead letters",
    path=_HOME,
    routes=(
        Route(method="GET", path=_HOME, handler=_list),
        Route(method="POST", path=f"{_HOME}/replay", handler=_replay_many, needs="operator"),
        Route(method="GET", path=_HOME + "/{id:[0-9a-f]{32}}", handler=_one),
        Route(
            method="POST",
            path=_HOME + "/{id:[0-9a-f]{32}}/replay",
            handler=_replay_one,
            needs="operator",
        ),
        Route(
            method="POST",
            path=_HOME + "/{id:[0-9a-f]{32}}/release",
            handler=_release,
            needs="operator",
        ),
        Route(
            method="POST",
            path=_HOME + "/{id:[0-9a-f]{32}}/discard",
            handler=_discard,
            needs="operator",
        ),
    ),
)
