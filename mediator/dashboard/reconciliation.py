"""Reconciliation: the stored runs, one run's report with its breaks, and the operator's acts.

The list shows the runs (``GET /reconciliation/runs``) and, for an operator, a form to
reconcile a month now. A run's page shows its control totals, the match classes per check
and the open breaks, each with what differs, its age and links to its entity and dead
letters. An operator repairs (a dry run first, listing the calls it would make; then for real
with a reason), accepts a break with a reason, or signs the month off once the run is clean.
Every act goes through the admin API's own endpoint, so it is audited under their name.
"""

from __future__ import annotations

import urllib.parse

from aiohttp import web

from mediator.admin.reconciliation_routes import RunList
from mediator.dashboard.html import age, attrs, esc, hidden, when
from mediator.dashboard.site import Page, Route, View
from mediator.reconciliation import CHECKS, Acceptance, Break, RepairReport, Report, SignOff

__all__ = ["PAGE"]

_HOME = "/ui/reconciliation"
_RUN = r"{id:rec_[0-9A-Za-z_]{1,64}}"
_BREAK = r"{break:brk_[0-9a-f]{20}}"


async def _list(view: View) -> web.StreamResponse:
    period = view.field("period")
    runs = (
        await view.get(
            RunList, "/reconciliation/runs", query={"period": period} if period else None
        )
    ).items
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("Run", "Month", "Checks", "Finished", "Compared", "Open breaks", "Accepted")
    )
    rows = "".join(
        f"<tr {attrs(data_run=r.run_id)}>"
        f'<td><a href="{_HOME}/{esc(r.run_id)}">{esc(r.run_id)}</a></td>'
        f"<td>{esc(r.period)}</td><td>{esc(', '.join(r.scope))}</td><td>{when(r.finished_at)}</td>"
        f"<td>{r.compared:,}</td>"
        f"<td {attrs(data_field='breaks', data_value=r.breaks)}>{r.breaks}</td>"
        f"<td>{r.accepted}</td></tr>"
        for r in runs
    )
    table = (
        f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        if runs
        else "<p>No reconciliation has run yet.</p>"
    )
    body = (_run_form(view) if view.can_act else "") + table
    return view.page("Reconciliation", body, current=_HOME)


def _run_form(view: View) -> str:
    boxes = "".join(
        f'<label><input type="checkbox" name="scope" value="{c}" checked> {c}</label> '
        for c in CHECKS
    )
    return (
        f'<form method="post" action="{_HOME}/run" class="action">{view.csrf()}'
        "<h2>Reconcile a month now</h2>"
        '<p><label for="period">Month (YYYY-MM)</label>'
        '<input id="period" name="period" required pattern="\\d{4}-\\d{2}" size="8"></p>'
        f"<fieldset><legend>Checks</legend>{boxes}</fieldset>"
        '<p><button type="submit">Reconcile</button></p></form>'
    )


async def _start(view: View) -> web.StreamResponse:
    assert view.form is not None
    scope = [v for v in view.form.getall("scope", []) if isinstance(v, str)]
    report = await view.post(
        Report, "/reconciliation/runs", body={"period": view.field("period"), "scope": scope}
    )
    verdict = "clean" if report.clean else f"{len(report.breaks)} open break(s)"
    return view.redirect(f"{_HOME}/{report.run_id}", say=f"Reconciled {report.period}: {verdict}")


async def _show(view: View) -> web.StreamResponse:
    run_id = view.request.match_info["id"]
    report = await view.get(Report, "/reconciliation/runs/{id}", params={"id": run_id})
    verdict = "clean" if report.clean else f"{len(report.breaks)} open break(s)"
    summary = (
        f"<p {attrs(data_field='verdict', data_value=verdict)}>{esc(report.period)}, checks "
        f"{esc(', '.join(report.scope))}: <strong>{report.compared:,}</strong> records compared "
        f"in {sum(report.calls.values()):,} API calls, finished {when(report.finished_at)}: "
        f"<strong>{esc(verdict)}</strong>.</p>"
    )
    parts = [summary, _totals(report), _classes(report)]
    if report.breaks:
        parts.append(_breaks(view, report, report.breaks, "Open breaks", acting=view.can_act))
    if report.accepted:
        parts.append(_breaks(view, report, report.accepted, "Accepted", acting=False))
    if view.can_act:
        parts.append(_run_acts(view, report))
    return view.page(f"Reconciliation {run_id}", "".join(parts), current=_HOME)


def _totals(report: Report) -> str:
    head = "".join(
        f'<th scope="col">{h}</th>' for h in ("System", "What", "Count", "Amount", "Currency")
    )
    rows = "".join(
        f"<tr><td>{esc(t.system)}</td><td>{esc(t.what)}</td><td>{t.count:,}</td>"
        f"<td>{esc(t.amount)}</td><td>{esc(t.currency or '')}</td></tr>"
        for t in report.totals
    )
    return _table("totals", "Control totals", head, rows)


def _classes(report: Report) -> str:
    names = sorted({m for counts in report.counts.values() for m in counts})
    head = '<th scope="col">Check</th>' + "".join(
        f'<th scope="col">{esc(n.replace("_", " "))}</th>' for n in names
    )
    rows = "".join(
        f'<tr {attrs(data_check=check)}><th scope="row">{esc(check)}</th>'
        + "".join(f"<td {attrs(data_class=n)}>{counts.get(n, 0):,}</td>" for n in names)
        + "</tr>"
        for check, counts in report.counts.items()
    )
    return _table("classes", "Match classes", head, rows)


def _breaks(
    view: View, report: Report, breaks: tuple[Break, ...], title: str, *, acting: bool
) -> str:
    head = "".join(
        f'<th scope="col">{h}</th>'
        for h in ("Check", "Class", "System", "Entity", "What", "Age", "Repair")
    )
    rows = "".join(_break_row(view, report, b, acting=acting) for b in breaks)
    return _table("breaks", title, head, rows)


def _table(kind: str, caption: str, head: str, rows: str) -> str:
    return (
        f'<table class="{kind}"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _break_row(view: View, report: Report, b: Break, *, acting: bool) -> str:
    what = esc(b.detail)
    if b.delta is not None:
        what += f" (delta {esc(b.delta)} {esc(b.currency or '')})"
    if b.diffs:
        what += (
            "<ul>"
            + "".join(
                f"<li>{esc(d.field)}: {esc(d.expected)} → {esc(d.found)}</li>" for d in b.diffs
            )
            + "</ul>"
        )
    links = []
    if b.key:
        links.append(f'<a href="/ui/entities?{urllib.parse.urlencode({"key": b.key})}">history</a>')
    links += [f'<a href="/ui/dead-letters/{esc(d)}">dead letter</a>' for d in b.dead_letters]
    if links:
        what += " · " + " · ".join(links)
    if b.accepted is not None:
        repair = f"accepted by {esc(b.accepted.by)}: {esc(b.accepted.reason)}"
    elif acting and b.repair == "accept":
        repair = _accept_form(view, report, b)
    elif acting:
        repair = (
            f'<form method="post" action="{_HOME}/{esc(report.run_id)}/repair" class="inline">'
            f"{view.csrf()}{hidden('break', b.id)}"
            f'<button type="submit">{esc(b.repair.capitalize())}: dry run</button></form>'
        )
    else:
        repair = esc(b.repair)
    return (
        f"<tr {attrs(data_break=b.id, data_match=b.match)}><td>{esc(b.check)}</td>"
        f"<td>{esc(b.match.replace('_', ' '))}</td><td>{esc(b.system)}</td><td>{esc(b.entity)}</td>"
        f"<td>{what}</td><td>{age(b.age)}</td><td>{repair}</td></tr>"
    )


def _accept_form(view: View, report: Report, b: Break) -> str:
    field = f"accept-{b.id}"
    return (
        f'<form method="post" class="inline" '
        f'action="{_HOME}/{esc(report.run_id)}/breaks/{esc(b.id)}/accept">'
        f'{view.csrf()}<label for="{field}">Reason</label>'
        f'<input id="{field}" name="reason" required maxlength="2000">'
        '<button type="submit">Accept</button></form>'
    )


def _run_acts(view: View, report: Report) -> str:
    acts = []
    if any(b.repair != "accept" for b in report.breaks):
        acts.append(
            f'<form method="post" action="{_HOME}/{esc(report.run_id)}/repair" class="action">'
            f"{view.csrf()}"
            "<h3>Repair</h3><p>Replay dead letters and re-drive lost effects with their original "
            "idempotency keys: first a dry run listing the calls.</p>"
            '<p><button type="submit">Dry run</button></p></form>'
        )
    if report.clean:
        acts.append(
            f'<form method="post" action="{_HOME}/{esc(report.run_id)}/sign-off" class="action">'
            f"{view.csrf()}"
            f"<h3>Sign {esc(report.period)} off</h3>"
            '<p><label for="signoff-reason">Note</label>'
            '<input id="signoff-reason" name="reason" maxlength="2000"></p>'
            '<p><button type="submit">Sign off</button></p></form>'
        )
    return (
        '<section aria-labelledby="act-h"><h2 id="act-h">Act</h2>' + "".join(acts) + "</section>"
        if acts
        else ""
    )


async def _repair(view: View) -> web.StreamResponse:
    run_id = view.request.match_info["id"]
    back = f"{_HOME}/{run_id}"
    confirmed = view.field("confirm") == "yes"
    reason = view.field("reason")
    refused = view.reason_missing(back) if confirmed else None
    if refused is not None:
        return refused
    assert view.form is not None
    chosen = [v for v in view.form.getall("break", []) if isinstance(v, str)]
    body: dict[str, object] = {"dry_run": not confirmed, "breaks": chosen}
    if reason:
        body["reason"] = reason
    result = await view.post(
        RepairReport, "/reconciliation/runs/{id}/repair", params={"id": run_id}, body=body
    )
    if confirmed:
        return view.redirect(
            back, say=f"Repaired {len(result.steps)} break(s): reconcile again to see them closed"
        )
    steps = "".join(
        f"<li {attrs(data_break=s.break_id)}><strong>{esc(s.action)}</strong> {esc(s.break_id)}<ul>"
        + "".join(f"<li>{esc(c)}</li>" for c in s.calls)
        + "</ul></li>"
        for s in result.steps
    )
    body_html = (
        f"<p {attrs(data_field='would_repair', data_value=len(result.steps))}>This repair would "
        f"make these calls for <strong>{len(result.steps)}</strong> break(s); "
        f"{len(result.skipped)} need a person (accept them with a reason).</p><ol>{steps}</ol>"
        f'<form method="post" action="{back}/repair" class="action">'
        f"{view.csrf()}{hidden('confirm', 'yes')}"
        + "".join(hidden("break", b) for b in chosen)
        + '<p><label for="repair-reason">Reason</label>'
        '<input id="repair-reason" name="reason" required maxlength="2000"></p>'
        f'<p><button type="submit">Repair {len(result.steps)} now</button> '
        f'<a href="{back}">Cancel</a></p></form>'
    )
    return view.page("Repair: dry run", body_html, current=_HOME)


async def _accept(view: View) -> web.StreamResponse:
    run_id, break_id = view.request.match_info["id"], view.request.match_info["break"]
    back = f"{_HOME}/{run_id}"
    refused = view.reason_missing(back)
    if refused is not None:
        return refused
    accepted = await view.post(
        Acceptance, "/reconciliation/runs/{id}/breaks/{break}/accept",
        params={"id": run_id, "break": break_id}, body={"reason": view.field("reason")},
    )  # fmt: skip
    return view.redirect(back, say=f"Accepted {accepted.break_id}")


async def _sign_off(view: View) -> web.StreamResponse:
    run_id = view.request.match_info["id"]
    report = await view.get(Report, "/reconciliation/runs/{id}", params={"id": run_id})
    body: dict[str, object] = {"run_id": run_id}
    if view.field("reason"):
        body["reason"] = view.field("reason")
    signed = await view.post(
        SignOff,
        "/reconciliation/periods/{period}/sign-off",
        params={"period": report.period},
        body=body,
    )
    return view.redirect(
        f"{_HOME}/{run_id}", say=f"{signed.period} signed off by {signed.by} on run {signed.run_id}"
    )


PAGE = Page(
    title="Reconciliation",
    path=_HOME,
    routes=(
        Route(method="GET", path=_HOME, handler=_list),
        Route(method="POST", path=_HOME + "/run", handler=_start, needs="operator"),
        Route(method="GET", path=f"{_HOME}/{_RUN}", handler=_show),
        Route(method="POST", path=f"{_HOME}/{_RUN}/repair", handler=_repair, needs="operator"),
        Route(method="POST", path=f"{_HOME}/{_RUN}/breaks/{_BREAK}/accept", handler=_accept,
              needs="operator"),
        Route(method="POST", path=f"{_HOME}/{_RUN}/sign-off", handler=_sign_off, needs="operator"),
    ),
)  # fmt: skip
