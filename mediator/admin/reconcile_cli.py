"""`mediator reconcile`: the reconciliation from the command line, a client of the admin API.

    mediator reconcile --period 2026-11 [--scope time,money]     run it now, print the report
    mediator reconcile runs [--period 2026-11]                   the stored runs
    mediator reconcile show rec_...                              one stored report
    mediator reconcile repair rec_... [--break brk_...] [--send --reason "..."]
    mediator reconcile accept rec_... brk_... --reason "..."
    mediator reconcile sign-off 2026-11 [--run rec_...] [--reason "..."]

A repair is a dry run (the calls it would make) unless ``--send``. The report prints as the
control totals, the match classes per check and the open breaks; ``--json`` prints the API's
answer. Errors are one line (see `mediator.admin.cli`). What vendors and operators wrote (a
project's name in a break, a reason) is printed as it is, never read as rich markup.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["add_reconcile_parser", "reconcile_command", "show_report"]

Show = Callable[[Console, Any], None]


def add_reconcile_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_line: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Add `reconcile` and its actions to the command line."""
    reconcile = one_line(
        commands.add_parser(
            "reconcile", parents=[common], help="reconcile a period; runs, repairs, sign-off"
        )
    )
    reconcile.add_argument("--period", help="the month to reconcile now, YYYY-MM")
    reconcile.add_argument(
        "--scope", help="checks, comma-separated: presence,time,money,invoices,payments (all)"
    )
    actions = reconcile.add_subparsers(dest="action", required=False)
    runs = one_line(actions.add_parser("runs", parents=[common], help="the stored runs"))
    runs.add_argument("--period", dest="of_period", help="only this month's runs")
    show = one_line(actions.add_parser("show", parents=[common], help="one stored report"))
    show.add_argument("run")
    repair = one_line(
        actions.add_parser("repair", parents=[common], help="repair breaks (dry run unless --send)")
    )
    repair.add_argument("run")
    repair.add_argument("--break", dest="breaks", action="append", default=[], help="a break id")
    repair.add_argument("--send", action="store_true", help="repair for real (default: dry run)")
    repair.add_argument("--reason", help="why (required with --send)")
    accept = one_line(actions.add_parser("accept", parents=[common], help="accept a break"))
    accept.add_argument("run")
    accept.add_argument("break_id", metavar="break")
    accept.add_argument("--reason", required=True, help="why (goes to the audit log)")
    sign = one_line(actions.add_parser("sign-off", parents=[common], help="sign a month off"))
    sign.add_argument("month", help="YYYY-MM")
    sign.add_argument("--run", help="the run to sign off on (default: the month's latest)")
    sign.add_argument("--reason", help="a note for the audit log")


async def reconcile_command(
    args: argparse.Namespace,
    get: Callable[..., Any],
    post: Callable[..., Any],
    segment: Callable[[str], str],
    fail: Callable[[str], Exception],
) -> tuple[Any, Show]:
    """Call the admin API for `args`; return its answer and how to print it."""
    action = args.action
    if action is None:
        if not args.period:
            raise fail("reconcile needs --period YYYY-MM (or an action: runs, show, repair, ...)")
        body: dict[str, object] = {"period": args.period}
        if args.scope:
            body["scope"] = [s.strip() for s in args.scope.split(",") if s.strip()]
        return await post("/reconciliation/runs", body), show_report
    if action == "runs":
        params = {"period": args.of_period} if args.of_period else {}
        return await get("/reconciliation/runs", params), _show_runs
    if action == "show":
        return await get(f"/reconciliation/runs/{segment(args.run)}"), show_report
    if action == "repair":
        if args.send and not args.reason:
            raise fail("reconcile repair --send needs --reason (it goes to the audit log)")
        body = {"breaks": args.breaks, "dry_run": not args.send}
        if args.reason:
            body["reason"] = args.reason
        return await post(f"/reconciliation/runs/{segment(args.run)}/repair", body), _show_repair
    if action == "accept":
        path = f"/reconciliation/runs/{segment(args.run)}/breaks/{segment(args.break_id)}/accept"
        return await post(path, {"reason": args.reason}), _show_accept
    body = {k: v for k, v in (("run_id", args.run), ("reason", args.reason)) if v}
    path = f"/reconciliation/periods/{segment(args.month)}/sign-off"
    return await post(path, body), _show_sign_off


def show_report(console: Console, report: dict[str, Any]) -> None:
    """Print a report: control totals, match classes per check, open and accepted breaks."""
    console.print(
        f"reconciliation {report['run_id']} of {report['period']} "
        f"({', '.join(report['scope'])}): {report['compared']:,} records compared, "
        + ("clean" if report.get("clean") else f"{len(report['breaks'])} open break(s)"),
    )
    totals = Table(title="control totals")
    for column in ("system", "what", "count", "amount", "currency"):
        totals.add_column(column, justify="right" if column in ("count", "amount") else "left")
    for t in report["totals"]:
        totals.add_row(
            t["system"], t["what"], f"{t['count']:,}", t["amount"], t.get("currency") or ""
        )
    console.print(totals)
    classes = sorted({m for counts in report["counts"].values() for m in counts})
    matches = Table(title="match classes")
    matches.add_column("check")
    for name in classes:
        matches.add_column(name.replace("_", " "), justify="right")
    for check, counts in report["counts"].items():
        matches.add_row(check, *(str(counts.get(name, 0)) for name in classes))
    console.print(matches)
    for title, breaks in (("open breaks", report["breaks"]), ("accepted", report["accepted"])):
        if breaks:
            console.print(_breaks_table(title, breaks))
    calls = ", ".join(f"{system} {n}" for system, n in sorted(report.get("calls", {}).items()))
    if calls:
        console.print(f"API calls: {calls}")


def _breaks_table(title: str, breaks: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("id", "check", "class", "system", "entity", "detail", "repair", "age"):
        table.add_column(column, overflow="fold")
    for b in breaks:
        detail = b["detail"]
        if b.get("delta"):
            detail += f" (delta {b['delta']} {b.get('currency') or ''})"
        age = b.get("age")
        table.add_row(
            b["id"], b["check"], b["match"].replace("_", " "), b["system"], b["entity"],
            detail, b["repair"], "-" if age is None else f"{age / 3600:.1f} h",
        )  # fmt: skip
    return table


def _show_runs(console: Console, answer: dict[str, Any]) -> None:
    table = Table(title="reconciliation runs")
    for column in ("run", "period", "scope", "compared", "breaks", "accepted"):
        table.add_column(column)
    for run in answer["items"]:
        table.add_row(
            run["run_id"], run["period"], ",".join(run["scope"]), f"{run['compared']:,}",
            str(run["breaks"]), str(run["accepted"]),
        )  # fmt: skip
    console.print(table)


def _show_repair(console: Console, answer: dict[str, Any]) -> None:
    verb = "would" if answer["dry_run"] else "did"
    for step in answer["steps"]:
        console.print(f"{step['break_id']}: {step['action']} ({verb})" + (
            f": {step['outcome']}" if step.get("outcome") else ""))  # fmt: skip
        for call in step["calls"]:
            console.print(f"  {call}")
    if answer["skipped"]:
        console.print(
            f"{len(answer['skipped'])} break(s) need a person (accept them with a reason): "
            + ", ".join(answer["skipped"]),
        )


def _show_accept(console: Console, answer: dict[str, Any]) -> None:
    console.print(f"{answer['break_id']} accepted by {answer['by']}: {answer['reason']}")


def _show_sign_off(console: Console, answer: dict[str, Any]) -> None:
    console.print(
        f"{answer['period']} signed off by {answer['by']} on run {answer['run_id']} "
        f"({answer['report']['compared']:,} records compared)",
    )
