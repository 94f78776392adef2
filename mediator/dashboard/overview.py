"""The overview: what is behind, what is stuck and why, and what the vendors' limits allow.

Per flow: its backlog (accepted, in flight, waiting to retry), parked entries, dead letters,
the oldest pending entry's age, an hour of deliveries per minute, and the time to drain the
backlog at the last 15 minutes' rate. Per system: breakers, rate limiter, quota burn-down
with each priority class's share, and the last error. Then the posting windows, approvals
waiting, and dead letters by owner team. Every figure is an answer of the admin API
(``/flows``, ``/systems``, ``/posting-windows``, ``/approvals``); the live part is a
fragment the page's script fetches again every few seconds (a few kilobytes).
"""

from __future__ import annotations

from aiohttp import web

from mediator.admin.models import (
    ApprovalList,
    FlowsAnswer,
    FlowStatus,
    SystemsAnswer,
    SystemStatus,
    WindowsAnswer,
    WindowStatus,
)
from mediator.dashboard.charts import burn_down, minute_bars
from mediator.dashboard.html import age, attrs, esc, money, when
from mediator.dashboard.site import Page, Route, View, html_response
from mediator.journal.operator import Approval

__all__ = ["OWNER_TEAMS", "PAGE", "backlog", "drain_eta"]

#: the teams that own flows' exceptions, always listed (others appear when a flow names them)
OWNER_TEAMS = ("sales-ops", "finance", "delivery")
REFRESH_SECONDS = 5  # the admin API's statistics are at most this old (Snapshots.max_age)
_WAITING_SHOWN = 5


def backlog(flow: FlowStatus) -> int:
    """What the flow has yet to deliver: accepted, in flight and waiting to retry."""
    return flow.accepted + flow.in_flight + flow.retry_waiting


def drain_eta(flow: FlowStatus) -> float | None:
    """Seconds to deliver the backlog at the last 15 minutes' rate (None: nothing moved)."""
    if flow.last_15_minutes <= 0:
        return None
    return backlog(flow) / (flow.last_15_minutes / 900.0)


async def _overview(view: View) -> web.StreamResponse:
    live = await _live(view)
    body = (
        '<div class="toolbar"><button type="button" id="live-toggle" aria-pressed="false" '
        'aria-controls="live">Pause live refresh</button>'
        f'<p id="live-status" role="status">Refreshed every {REFRESH_SECONDS} s.</p></div>'
        f'<div id="live" data-src="/ui/fragments/overview" '
        f'data-interval="{REFRESH_SECONDS}">{live}</div>'
    )
    return view.page("Overview", body, current="/ui/")


async def _fragment(view: View) -> web.StreamResponse:
    return html_response(await _live(view))


async def _live(view: View) -> str:
    flows = (await view.get(FlowsAnswer, "/flows")).flows
    systems = (await view.get(SystemsAnswer, "/systems")).systems
    windows = (await view.get(WindowsAnswer, "/posting-windows")).windows
    waiting = (
        await view.get(ApprovalList, "/approvals", query={"state": "pending", "limit": 500})
    ).items
    now = view.site.calls.now()
    return (
        f'<p class="stamp">As of {when(now)}</p>'
        + _flows(flows)
        + '<div class="columns">'
        + _exceptions(flows)
        + _approvals(waiting)
        + _windows(windows, now)
        + "</div>"
        + _systems(systems, now)
    )


def _cell(field: str, value: object, text: str | None = None) -> str:
    shown = esc(value) if text is None else text
    return f"<td {attrs(data_field=field, data_value=value)}>{shown}</td>"


def _flows(flows: list[FlowStatus]) -> str:
    rows = []
    for f in flows:
        eta = drain_eta(f)
        pending = backlog(f)
        eta_text = "—" if pending == 0 else "no deliveries in 15 min" if eta is None else age(eta)
        rate = f.last_15_minutes / 15.0
        rows.append(
            f"<tr {attrs(data_flow=f.name)}><th scope=\"row\">{esc(f.name)}</th>"
            f"<td>{esc(f.owner)}</td>"
            + _cell("backlog", pending, f"{pending:,}")
            + _cell("parked", f.parked, f"{f.parked:,}")
            + _cell("dead_letters", f.dead_letters,
                    f'<a href="/ui/dead-letters?flow={esc(f.name)}">{f.dead_letters:,}</a>'
                    if f.dead_letters else "0")
            + _cell("oldest_pending_age", f.oldest_pending_age,
                    age(f.oldest_pending_age))
            + _cell("last_hour", sum(f.per_minute),
                    f"{sum(f.per_minute):,} "
                    + minute_bars(f.per_minute, label=f"{f.name}: deliveries per minute over "
                                  f"the last hour, {sum(f.per_minute)} in all"))
            + _cell("rate_per_minute", round(rate, 2), f"{rate:,.1f}/min")
            + _cell("eta", "" if eta is None else round(eta), eta_text)
            + "</tr>"
        )  # fmt: skip
    return (
        '<section aria-labelledby="flows-h"><h2 id="flows-h">Flows</h2>'
        '<table class="flows"><thead><tr><th scope="col">Flow</th><th scope="col">Owner</th>'
        '<th scope="col">Backlog</th><th scope="col">Parked</th>'
        '<th scope="col">Dead letters</th><th scope="col">Oldest pending</th>'
        '<th scope="col">Deliveries, last hour</th><th scope="col">Rate (15 min)</th>'
        '<th scope="col">Time to drain</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _exceptions(flows: list[FlowStatus]) -> str:
    by_owner = dict.fromkeys(OWNER_TEAMS, 0)
    for f in flows:
        by_owner[f.owner] = by_owner.get(f.owner, 0) + f.dead_letters
    items = "".join(
        f'<tr {attrs(data_owner=owner)}><th scope="row">'
        f'<a href="/ui/dead-letters?owner={esc(owner)}">{esc(owner)}</a></th>'
        f"<td {attrs(data_field='dead_letters', data_value=count)}>{count:,}</td></tr>"
        for owner, count in by_owner.items()
    )
    return (
        '<section aria-labelledby="exceptions-h"><h2 id="exceptions-h">Exceptions by owner team'
        '</h2><table class="owners"><thead><tr><th scope="col">Team</th>'
        f'<th scope="col">Dead letters</th></tr></thead><tbody>{items}</tbody></table></section>'
    )


def _approvals(waiting: list[Approval]) -> str:
    shown = waiting[:_WAITING_SHOWN]
    count = f"{len(waiting)}+" if len(waiting) >= 500 else str(len(waiting))
    items = "".join(
        f"<li>{esc(a.what)} ({money(a.amount, a.currency)}, {esc(a.flow)})</li>" for a in shown
    )
    return (
        '<section aria-labelledby="approvals-h"><h2 id="approvals-h">Approvals waiting</h2>'
        f'<p class="big" {attrs(data_field="approvals_waiting", data_value=len(waiting))}>'
        f'<a href="/ui/approvals">{count}</a></p>'
        + (f"<ul>{items}</ul>" if items else "")
        + "</section>"
    )


def _windows(windows: list[WindowStatus], now: float) -> str:
    rows = "".join(
        f'<tr {attrs(data_window=w.name)}><th scope="row">{esc(w.name)}</th>'
        f"<td {attrs(data_field='open', data_value=w.open)}>"
        f"{'open' if w.open else 'closed'}</td>"
        f"<td>{'never' if w.next_change is None else age(w.next_change - now)}"
        f"{'' if w.next_change is None else ' (' + when(w.next_change) + ')'}</td></tr>"
        for w in windows
    )
    return (
        '<section aria-labelledby="windows-h"><h2 id="windows-h">Posting windows</h2>'
        + (
            '<table><thead><tr><th scope="col">Window</th><th scope="col">Now</th>'
            f'<th scope="col">Changes in</th></tr></thead><tbody>{rows}</tbody></table>'
            if rows
            else "<p>No posting window is configured.</p>"
        )
        + "</section>"
    )


def _systems(systems: list[SystemStatus], now: float) -> str:
    rows = []
    for s in systems:
        breakers = ", ".join(b.state for b in s.breakers) or "—"
        limiter = (
            "; ".join(
                (
                    f"{lim.tokens:,.1f} of {lim.burst:,.0f} tokens"
                    if lim.tokens >= 0  # below zero: tokens reserved by waiting callers (debt)
                    else f"no token of {lim.burst:,.0f} ({-lim.tokens:,.1f} reserved ahead)"
                )
                + f" at {lim.rate:g}/s"
                + (f", {lim.waiting} waiting" if lim.waiting else "")
                for lim in s.limiters
            )
            or "—"
        )
        quotas = "".join(
            f'<div class="quota">{q.left:,} of {q.allowance:,} left ({esc(q.period)})'
            + (f", spends again in {age(q.resets_at - now)}" if q.resets_at > now else "")
            + burn_down(used=q.used, allowance=q.allowance, shares=q.shares,
                        label=f"{s.name} quota: {q.used} of {q.allowance} used")
            + '<ul class="shares">'
            + "".join(f"<li>{esc(name)}: {left:,} left</li>"
                      for name, left in sorted(q.left_by_priority.items()))
            + "</ul></div>"
            for q in s.quotas
        ) or "—"  # fmt: skip
        error = (
            "—"
            if s.last_error is None
            else f'{esc(s.last_error)} <span class="when">{when(s.last_error_at)}</span>'
        )
        state = breakers if s.breakers else "—"
        rows.append(
            f'<tr {attrs(data_system=s.name)}><th scope="row">{esc(s.name)}</th>'
            f"<td {attrs(data_field='breaker', data_value=state, class_='state-' + state)}>"
            f"{esc(state)}</td>"
            f"<td {attrs(data_field='calls', data_value=s.calls)}>{s.calls:,}</td>"
            f"<td {attrs(data_field='failures', data_value=s.failures)}>{s.failures:,}</td>"
            f"<td>{esc(limiter)}</td><td>{quotas}</td>"
            f"<td {attrs(data_field='last_error', data_value=s.last_error)}>{error}</td></tr>"
        )
    return (
        '<section aria-labelledby="systems-h"><h2 id="systems-h">Systems</h2>'
        '<table class="systems"><thead><tr><th scope="col">System</th>'
        '<th scope="col">Breaker</th><th scope="col">Calls</th><th scope="col">Failures</th>'
        '<th scope="col">Rate limiter</th><th scope="col">Quota</th>'
        '<th scope="col">Last error</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


PAGE = Page(
    title="Overview",
    path="/ui/",
    routes=(
        Route(method="GET", path="/ui/", handler=_overview),
        Route(method="GET", path="/ui/fragments/overview", handler=_fragment, fragment=True),
    ),
)
