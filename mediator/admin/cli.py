"""The operator's command line: `mediator dlq|approvals|entity|status|reconcile`, a client of the
admin API.

The API's address is ``--url`` (default ``$MEDIATOR_URL``, else http://127.0.0.1:8080) and
the bearer token ``$MEDIATOR_TOKEN`` (never an argument: arguments show in `ps` and shell
history). Answers print as tables (rich), or as the API's JSON with ``--json`` for scripts.
Every error is one line on stderr with exit status 2, never a traceback: a problem answer
shows its status, title, detail and field; an unreachable API names the URL.

    mediator dlq list --flow approved_time --older-than 3600
    mediator dlq show 0193...        mediator dlq replay 0193... --send --reason "fixed map"
    mediator dlq release 0193... --reason "posted by hand"
    mediator approvals approve 0193... --reason "checked with finance"
    mediator entity time_entry:42    mediator status
    mediator reconcile --period 2026-11     (see `mediator.admin.reconcile_cli`)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import urllib.parse
from collections.abc import Sequence
from typing import Any, NoReturn

import aiohttp
import msgspec
from rich.console import Console
from rich.table import Table

from mediator.admin.reconcile_cli import add_reconcile_parser, reconcile_command

__all__ = ["COMMANDS", "configure_parser", "run"]

COMMANDS = frozenset({"dlq", "approvals", "entity", "status", "reconcile"})
DEFAULT_URL = "http://127.0.0.1:8080"


class _CliError(Exception):
    """One line for the user; exit status 2."""


def configure_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `dlq`, `approvals`, `entity` and `status` to the `mediator` command line."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("MEDIATOR_URL", DEFAULT_URL),
        help="the admin API (default: $MEDIATOR_URL or %(default)s)",
    )
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")
    common.add_argument("--timeout", type=float, default=30.0, help="seconds to wait")

    dlq = _one_line(commands.add_parser("dlq", help="dead letters: list, show, replay, release"))
    dlq_commands = dlq.add_subparsers(dest="action", required=True)
    listing = _one_line(dlq_commands.add_parser("list", parents=[common], help="open dead letters"))
    for name in ("flow", "owner", "kind", "system", "error-class", "entity"):
        listing.add_argument(f"--{name}", help=f"only this {name.replace('-', ' ')}")
    listing.add_argument("--older-than", type=float, help="died at least this many seconds ago")
    listing.add_argument("--newer-than", type=float, help="died at most this many seconds ago")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (1-500)")
    listing.add_argument("--cursor", type=int, help="the next_cursor of the previous page")
    show = _one_line(dlq_commands.add_parser("show", parents=[common], help="one entry"))
    show.add_argument("id")
    replay = _one_line(
        dlq_commands.add_parser(
            "replay", parents=[common], help="replay dead letters (a dry run unless --send)"
        )
    )
    replay.add_argument("ids", nargs="*", help="entry ids (or filter with the options)")
    for name in ("kind", "system", "error-class", "entity"):
        replay.add_argument(f"--{name}", help=f"only this {name.replace('-', ' ')}")
    replay.add_argument("--send", action="store_true", help="send for real (default: dry run)")
    replay.add_argument("--reason", help="why (required with --send)")
    for action, text in (
        ("release", "close without sending (settled otherwise)"),
        ("discard", "close for good: it must never take effect"),
    ):
        close = _one_line(dlq_commands.add_parser(action, parents=[common], help=text))
        close.add_argument("id")
        close.add_argument("--reason", required=True, help="why (goes to the audit log)")

    approvals = _one_line(commands.add_parser("approvals", help="list, approve, reject"))
    approval_commands = approvals.add_subparsers(dest="action", required=True)
    listing = _one_line(
        approval_commands.add_parser("list", parents=[common], help="approval requests")
    )
    listing.add_argument("--state", choices=("pending", "approved", "rejected"))
    for action in ("approve", "reject"):
        decide = _one_line(
            approval_commands.add_parser(action, parents=[common], help=f"{action} a request")
        )
        decide.add_argument("id")
        decide.add_argument("--reason", required=True, help="why (goes to the audit log)")

    entity = _one_line(
        commands.add_parser(
            "entity", parents=[common], help="where an entity is and why it is stuck"
        )
    )
    entity.add_argument("key", help="the entity key, e.g. time_entry:42")
    _one_line(commands.add_parser("status", parents=[common], help="flows and systems at a glance"))
    add_reconcile_parser(commands, common, _one_line)


def _one_line(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    # argparse's own error prints the usage too; an operator's error is one line, status 2
    def error(message: str) -> NoReturn:
        sys.stderr.write(f"mediator {parser.prog.split(' ', 1)[-1]}: {message}\n")
        raise SystemExit(2)

    parser.error = error  # type: ignore[method-assign]  # per instance: argparse has no hook
    return parser


def run(args: argparse.Namespace) -> int:
    """Run one operator command against the admin API; return the exit status."""
    # markup off: what the API answers (a reason, an entity key, a project's name) is printed as
    # written; rich would read "[bold]" as a style and fail on "[/b]"
    console = Console(highlight=False, soft_wrap=False, markup=False)
    try:
        return asyncio.run(_run(args, console))
    except _CliError as exc:
        sys.stderr.write(f"mediator: {exc}\n")
        return 2


async def _run(args: argparse.Namespace, console: Console) -> int:
    client = _Client(args.url, os.environ.get("MEDIATOR_TOKEN"), timeout=args.timeout)
    async with client:
        answer, show = await _command(args, client)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(answer), indent=2).decode())
        sys.stdout.write("\n")
    else:
        show(console, answer)
    return 0


async def _command(args: argparse.Namespace, client: _Client) -> tuple[Any, Any]:
    command = args.command
    if command == "reconcile":
        return await reconcile_command(args, client.get, client.post, _segment, _CliError)
    if command == "status":
        flows = await client.get("/flows")
        systems = await client.get("/systems")
        health = await client.get("/healthz")
        return {"health": health, **flows, **systems}, _show_status
    if command == "entity":
        return await client.get(f"/entities/{_segment(args.key)}"), _show_entity
    if command == "approvals":
        if args.action == "list":
            params = {"state": args.state} if args.state else {}
            return await client.get("/approvals", params), _show_approvals
        path = f"/approvals/{_segment(args.id)}/{args.action}"
        return await client.post(path, {"reason": args.reason}), _show_decision
    if args.action == "list":
        params = {
            k: v
            for k, v in {
                "flow": args.flow, "owner": args.owner, "kind": args.kind,
                "system": args.system, "error_class": args.error_class, "entity": args.entity,
                "older_than": args.older_than, "newer_than": args.newer_than,
                "limit": args.limit, "cursor": args.cursor,
            }.items()
            if v is not None
        }  # fmt: skip
        return await client.get("/dead-letters", params), _show_dead_letters
    if args.action == "show":
        return await client.get(f"/dead-letters/{_segment(args.id)}"), _show_entry
    if args.action == "replay":
        if args.send and not args.reason:
            raise _CliError("dlq replay --send needs --reason (it goes to the audit log)")
        body: dict[str, object] = {"dry_run": not args.send, "ids": args.ids}
        body.update(
            {k: v for k, v in (("kind", args.kind), ("system", args.system),
             ("error_class", args.error_class), ("entity", args.entity),
             ("reason", args.reason)) if v is not None}
        )  # fmt: skip
        return await client.post("/dead-letters/replay", body), _show_replay
    path = f"/dead-letters/{_segment(args.id)}/{args.action}"
    return await client.post(path, {"reason": args.reason}), _show_closed


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe=":@")


class _Client:
    def __init__(self, url: str, token: str | None, *, timeout: float) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise _CliError(f"--url {url!r} is not an http(s) URL")
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> _Client:
        self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def get(self, path: str, params: dict[str, object] | None = None) -> Any:
        query = {k: str(v) for k, v in (params or {}).items()}
        return await self._call("GET", path, params=query)

    async def post(self, path: str, body: dict[str, object]) -> Any:
        return await self._call("POST", path, json=body)

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self._session is not None
        url = self._url + path
        try:
            async with self._session.request(method, url, **kwargs) as response:
                raw = await response.read()
                status, reason = response.status, response.reason
        except aiohttp.ClientConnectorError as exc:
            raise _CliError(f"cannot reach the admin API at {self._url}: {exc.os_error}") from None
        except aiohttp.ClientError as exc:
            raise _CliError(f"the admin API at {self._url} failed: {exc}") from None
        except TimeoutError:
            raise _CliError(f"the admin API at {self._url} did not answer in time") from None
        try:
            answer = msgspec.json.decode(raw) if raw else None
        except msgspec.DecodeError:
            answer = None
        if status >= 400:
            raise _CliError(_problem_line(status, reason, answer))
        if answer is None:
            raise _CliError(f"{method} {path}: the admin API answered {status} without JSON")
        return answer


def _problem_line(status: int, reason: str | None, answer: object) -> str:
    if isinstance(answer, dict):
        title = answer.get("title") or reason or ""
        text = f"{status} {title}"
        if answer.get("detail"):
            text += f": {answer['detail']}"
        if answer.get("field"):
            text += f" (field {answer['field']})"
        return text.replace("\n", " ")
    return f"{status} {reason or ''}".strip()


# -- rendering -------------------------------------------------------------------------------


def _when(epoch: object) -> str:
    if not isinstance(epoch, int | float):
        return "-"
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _entries_table(title: str, entries: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("id", "key", "kind", "state", "attempts", "error class", "reason", "updated"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e["id"] or "(new)", e["key"], e["kind"], e["state"], str(e["attempts"]),
            _text(e["error_class"]), _text(e["reason"] or e["error"]), _when(e["updated_at"]),
        )  # fmt: skip
    return table


def _show_dead_letters(console: Console, answer: dict[str, Any]) -> None:
    console.print(_entries_table(f"{len(answer['items'])} dead letter(s)", answer["items"]))
    if answer["next_cursor"] is not None:
        console.print(f"more: --cursor {answer['next_cursor']}")


def _show_entry(console: Console, answer: dict[str, Any]) -> None:
    entry = answer["entry"]
    table = Table(show_header=False, title=f"entry {entry['id']}")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    for name in ("key", "kind", "source", "idempotency_key", "state", "attempts", "system",
                 "error_class", "error", "reason", "traceparent", "replay_of", "released_by",
                 "release_reason"):  # fmt: skip
        table.add_row(name, _text(entry[name]))
    table.add_row("flow (owner)", f"{_text(answer['flow'])} ({_text(answer['owner'])})")
    table.add_row(
        "accepted / updated", f"{_when(entry['accepted_at'])} / {_when(entry['updated_at'])}"
    )
    console.print(table)
    console.print(_entries_table("lineage", answer["lineage"]))
    console.print("payload:", msgspec.json.encode(answer["payload"]).decode())


def _show_replay(console: Console, answer: dict[str, Any]) -> None:
    verb = "would send" if answer["dry_run"] else "sent"
    console.print(_entries_table(f"{verb} {len(answer['sent'])}", answer["sent"]))
    if answer["quarantined"]:
        console.print(_entries_table("quarantined", answer["quarantined"]))
    if answer["dry_run"]:
        console.print("dry run: nothing was sent; add --send --reason '...' to send")
    if answer["more_matching"]:
        console.print("more dead letters match: run it again for the next 500")


def _show_closed(console: Console, answer: dict[str, Any]) -> None:
    entry = answer["entry"]
    console.print(
        f"{entry['id']} is {entry['state']} by {entry['released_by']}: "
        f"{entry['release_reason']}; {answer['unparked']} parked entr(y/ies) go on",
        markup=False,
    )


def _approvals_table(items: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=f"{len(items)} approval(s)")
    for column in ("id", "flow", "entity", "what", "amount", "requested", "state", "by", "reason"):
        table.add_column(column, overflow="fold")
    for a in items:
        amount = "-" if a["amount"] is None else f"{a['amount']} {a['currency'] or ''}".strip()
        table.add_row(
            a["id"], a["flow"], a["entity"], a["what"], amount, _when(a["requested_at"]),
            a["state"], _text(a["decided_by"]), _text(a["reason"]),
        )  # fmt: skip
    return table


def _show_approvals(console: Console, answer: dict[str, Any]) -> None:
    console.print(_approvals_table(answer["items"]))


def _show_decision(console: Console, answer: dict[str, Any]) -> None:
    console.print(_approvals_table([answer]))


def _show_entity(console: Console, answer: dict[str, Any]) -> None:
    console.print(f"{answer['key']}: {answer['summary']}", markup=False)
    console.print(_entries_table("entries", answer["entries"]))
    if answer["xrefs"]:
        table = Table(title="ids in each system")
        for column in ("system", "id", "recorded"):
            table.add_column(column)
        for x in answer["xrefs"]:
            table.add_row(x["system"], x["system_id"], _when(x["recorded_at"]))
        console.print(table)
    for state in answer["flows"]:
        console.print(
            f"flow {state['flow']} v{state['version']} ({_when(state['updated_at'])}): "
            f"{state['state']}",
            markup=False,
        )
    if answer["approvals"]:
        console.print(_approvals_table(answer["approvals"]))
    if answer["trace_ids"]:
        console.print("traces: " + ", ".join(answer["trace_ids"]), markup=False)


def _show_status(console: Console, answer: dict[str, Any]) -> None:
    console.print(f"mediator: {answer['health']['status']}", markup=False)
    flows = Table(title="flows")
    for column in ("flow", "owner", "accepted", "in flight", "due retries", "parked",
                   "dead letters", "oldest pending", "last min", "last 15 min"):  # fmt: skip
        flows.add_column(column)
    for f in answer["flows"]:
        age = f["oldest_pending_age"]
        flows.add_row(
            f["name"], f["owner"], str(f["accepted"]), str(f["in_flight"]),
            str(f["due_retries"]), str(f["parked"]), str(f["dead_letters"]),
            "-" if age is None else f"{age:.0f} s", str(f["last_minute"]),
            str(f["last_15_minutes"]),
        )  # fmt: skip
    console.print(flows)
    systems = Table(title="systems")
    for column in ("system", "calls", "failures", "breakers", "limiter tokens", "quota left",
                   "last error"):  # fmt: skip
        systems.add_column(column, overflow="fold")
    for s in answer["systems"]:
        systems.add_row(
            s["name"], str(s["calls"]), str(s["failures"]),
            ", ".join(b["state"] for b in s["breakers"]) or "-",
            ", ".join(f"{r['tokens']:.1f}/{r['burst']:g}" for r in s["limiters"]) or "-",
            ", ".join(f"{q['left']}/{q['allowance']}" for q in s["quotas"]) or "-",
            _text(s["last_error"]),
        )  # fmt: skip
    console.print(systems)
