"""Month-end part E (issue #20): the ERP half of part A against a real trytond 8.2.

The test fixture's server (`mediator.testing.tryton_server`: one gunicorn sync worker on a
SQLite database, built into a cache once, ~45 s) is seeded with the firm's parties, employees
and projects through a bare JSON-RPC client (tests/tryton_real's `TrytonClient`). Harvest, the
month's approved time, is a sandbox in a process of its own.

Then, on that one server in one run:

- **the floor**: a bare client creates the month's approved lines straight from the plan, in
  ``timesheet.line.create`` calls of `_RAW_BATCH` (no journal, no poll, no look-up), and the
  customer invoices in ``create`` calls of `_RAW_INVOICE_BATCH`, validated and posted by batch;
- **mediator**: a `Mediator` with the approved-time flow and the real server as
  ``[systems.tryton]`` polls Harvest once and delivers one timesheet line per approved entry;
  then the invoices go through the Tryton connector's `PostInvoice` (create unless found by
  reference, validate, post: what the receivables flow asks of it), built from the same config.

The floor runs first, so mediator meets the larger tables. Mediator's lines are checked
before any figure: one line per approved entry, by the key in each line's description.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
from _connectors_common import served  # bench/ siblings
from _reconcile_month import Plan, Sizes, build_harvest, client_of, plan, systems_config

from mediator.clock import SystemClock
from mediator.codecs.tryton import RpcValue
from mediator.config import parse_config
from mediator.journal import Watermark, open_journal
from mediator.policies import PolicyRegistry
from mediator.runtime import Mediator
from mediator.runtime.systems import build_connectors
from mediator.systems.tryton import PostedInvoice, PostInvoice, TrytonConnector
from mediator.testing.tryton_server import TrytonServer, open_tryton_server
from tests.tryton_real.client import TrytonClient
from tests.tryton_real.scenario import Run, invoice_values, references

__all__ = ["QUICK", "SIZES", "real_erp"]

#: ~10,700 approved entries (part A's quick firm's people) over the full firm's 400 clients and
#: 800 projects: entries are delivered one at a time per project (their key), so the projects
#: bound how many lines one ERP create can carry (80 projects: batches of ~65, 0.34 of the
#: floor). --quick: ~1,100 entries over 8 projects.
SIZES = Sizes(consultants=150, clients=400, projects=800, milestones=0)
QUICK = Sizes(consultants=15, clients=4, projects=8, milestones=0)
_INVOICES, _QUICK_INVOICES = 200, 20
_RAW_BATCH = 1_000
_RAW_INVOICE_BATCH = 50
_BEFORE_THE_MONTH = "2026-10-31T00:00:00+00:00"
_TIMEOUT = aiohttp.ClientTimeout(total=600)  # a create of 1,000 lines on one sync worker


def _say(text: str) -> None:
    print(f"[month_end:e] {text}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def _server(folder: Path) -> AsyncIterator[TrytonServer]:
    """The fixture's trytond, entered and left in a thread (building the cache blocks)."""
    with contextlib.ExitStack() as stack:
        server = await asyncio.to_thread(
            stack.enter_context, open_tryton_server(work_dir=folder / "trytond")
        )
        try:
            yield server
        finally:
            await asyncio.to_thread(stack.close)


async def _client(http: aiohttp.ClientSession, server: TrytonServer) -> TrytonClient:
    client = TrytonClient(http, server.rpc_url)
    await client.login(server.login, server.password)
    return client


async def _seed(client: TrytonClient, sizes: Sizes) -> dict[str, list[int]]:
    """Parties (with an invoice address) per client, an employee per consultant, a project per
    project with the timesheet work Tryton makes for it."""
    company = client.context["company"]
    parties = await client.model(
        "party.party",
        "create",
        [
            {"name": f"Client {n}", "addresses": [["create", [{"street": f"{n} Main St"}]]]}
            for n in range(sizes.clients)
        ],
    )
    rows = await client.model("party.party", "read", parties, ["addresses"])
    addresses = [row["addresses"][0] for row in rows]
    people = await client.model(
        "party.party", "create", [{"name": f"C {c:04d}"} for c in range(sizes.consultants)]
    )
    employees = await client.model(
        "company.employee",
        "create",
        [{"party": p, "company": company, "start_date": dt.date(2020, 1, 1)} for p in people],
    )
    projects = await client.model(
        "project.work",
        "create",
        [
            {
                "name": f"P-{p:04d} Project {p}",
                "type": "project",
                "company": company,
                "party": parties[client_of(sizes, p)],
                "timesheet_available": True,
            }
            for p in range(sizes.projects)
        ],
    )
    rows = await client.model("project.work", "read", projects, ["timesheet_works"])
    works = [row["timesheet_works"][0] for row in rows]
    return {
        "parties": parties,
        "addresses": addresses,
        "employees": employees,
        "projects": projects,
        "works": works,
    }


async def _seed_journal(path: Path, sizes: Sizes, hv: dict[str, Any], erp: dict[str, Any]) -> None:
    """The xref map onboarding and HR keep (a project maps to its ``project.work``, as
    onboarding records it; the connector books its lines on that project's timesheet work),
    and the poller's watermark before the month."""
    xrefs = [
        ("project", f"P-{p:04d}", system, str(ids[p]))
        for p in range(sizes.projects)
        for system, ids in (("harvest", hv["projects"]), ("tryton", erp["projects"]))
    ] + [
        ("consultant", f"U-{c:04d}", system, str(ids[c]))
        for c in range(sizes.consultants)
        for system, ids in (("harvest", hv["users"]), ("tryton", erp["employees"]))
    ]
    async with open_journal(path, clock=SystemClock()) as journal:
        for start in range(0, len(xrefs), 500):
            await asyncio.gather(*(journal.record_xref(*x) for x in xrefs[start : start + 500]))
        await journal.set_watermark(Watermark(name="harvest_time", value=_BEFORE_THE_MONTH))


def _config(server: TrytonServer, harvest_url: str, folder: Path) -> str:
    setup = server.setup
    erp = {
        "company": setup.company,
        "currency": setup.currency,
        "journal": setup.revenue_journal,
        "receivable_account": setup.receivable_account,
        "revenue_account": setup.revenue_account,
        "payment_term": setup.payment_term,
        "product": setup.product,
        "unit": setup.uom_hour,
    }
    tryton = {
        "credentials": {
            "database": server.database,
            "login": server.login,
            "password": server.password,
        },
        "erp": erp,
    }
    urls = {"harvest": harvest_url, "tryton": server.url.rstrip("/")}
    return f"""\
[journal]
path = "{folder / "journal.sqlite"}"

{systems_config(urls, {"tryton": tryton}, folder)}
[flows.approved_time.options]
account_currency = "USD"

[ingress.pollers.harvest_time]
interval = 86400.0
"""


def _raw_lines(month: Plan, hv: dict[str, Any], erp: dict[str, Any], company: int) -> list[Any]:
    return [
        {
            "company": company,
            "employee": erp["employees"][e.consultant],
            "work": erp["works"][e.project],
            "date": e.day,
            "duration": dt.timedelta(seconds=int(e.hours * 3600)),
            "description": f"raw client harvest:{entry_id}",
        }
        for e, entry_id in zip(month.entries, hv["entries"], strict=True)
        if e.approved
    ]


async def _raw_floor(
    client: TrytonClient, lines: list[Any], invoices: list[dict[str, object]]
) -> tuple[float, float]:
    """Lines/s and invoices/s of a bare client's best batched creates (and posts)."""
    began = time.perf_counter()
    for start in range(0, len(lines), _RAW_BATCH):
        await client.model("timesheet.line", "create", lines[start : start + _RAW_BATCH])
    lines_per_s = len(lines) / (time.perf_counter() - began)
    began = time.perf_counter()
    for start in range(0, len(invoices), _RAW_INVOICE_BATCH):
        made = await client.model(
            "account.invoice", "create", invoices[start : start + _RAW_INVOICE_BATCH]
        )
        await client.model("account.invoice", "validate_invoice", made)
        await client.model("account.invoice", "post", made)
    invoices_per_s = len(invoices) / (time.perf_counter() - began)
    return lines_per_s, invoices_per_s


async def _mediator_lines(config: str, expected: int) -> dict[str, Any]:
    """Poll Harvest once and wait until every approved entry is delivered; return the seconds,
    mediator's CPU, the dead and retried deliveries, and the ERP connector's batches."""
    loaded = parse_config(config, file="<bench part e>")
    async with Mediator(loaded, serve_admin=False) as mediator:
        cpu = time.process_time()
        began = time.perf_counter()
        outcome = await mediator.poll("harvest_time")
        _say(f"polled: {outcome.journaled:,} journaled")
        last = -1
        while True:  # a bench, not a test: the counters are read five times a second
            stats = mediator.statistics().dispatcher
            finished = stats.delivered + stats.dead
            if finished >= expected and stats.pending == 0:
                break
            if finished // 1_000 != last // 1_000:
                _say(f"{finished:,} of {expected:,} lines")
            last = finished
            await asyncio.sleep(0.2)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
        erp = mediator.statistics().systems["tryton"]
        return {
            "seconds": seconds,
            "cpu": cpu,
            "dead": stats.dead,
            "retried": stats.retried,
            "batches": erp.batches,
            "average_batch": erp.average_batch,
        }


async def _mediator_invoices(config: str, invoices: list[dict[str, object]]) -> float:
    """Invoices/s through the Tryton connector's `PostInvoice`, as the receivables flow asks
    it (one command per invoice; the connector posts them one by one)."""
    loaded = parse_config(config, file="<bench part e>")
    clock = SystemClock()
    registry = PolicyRegistry(loaded.policies, clock=clock)
    connector = build_connectors(loaded, policies=registry, clock=clock)["tryton"]
    assert isinstance(connector, TrytonConnector)
    commands = [
        PostInvoice(
            idempotency_key=f"bench-e-invoice-{n}",
            attempt=1,
            values=cast("dict[str, RpcValue]", values),  # invoice_values: the server's JSON
            reference=f"mediator invoice {n}",
        )
        for n, values in enumerate(invoices)
    ]
    try:
        began = time.perf_counter()
        results = await connector.execute_batch(commands)
        seconds = time.perf_counter() - began
    finally:
        await connector.aclose()
    bad = [r for r in results if not isinstance(r, PostedInvoice) or r.state != "posted"]
    if bad:
        raise RuntimeError(f"{len(bad)} invoices not posted; first: {bad[0]!r}")
    return len(invoices) / seconds


async def _mediator_line_keys(client: TrytonClient) -> Counter[str]:
    rows = await client.model(
        "timesheet.line",
        "search_read",
        [["description", "like", "%[mediator %"]],
        0,
        None,
        None,
        ["description"],
    )
    return Counter(str(row["description"]).rsplit("[mediator ", 1)[1] for row in rows)


async def real_erp(folder: Path, *, quick: bool) -> dict[str, object]:
    """Run part E on a fresh fixture server; return its figures (see the module docstring)."""
    sizes = QUICK if quick else SIZES
    month = plan(sizes)
    approved = sum(e.approved for e in month.entries)
    count = _QUICK_INVOICES if quick else _INVOICES
    _say(f"{approved:,} approved entries, {count} invoices; starting trytond")
    async with (
        _server(folder) as server,
        served(build_harvest, sizes=sizes) as hv,
        aiohttp.ClientSession(timeout=_TIMEOUT) as http,
    ):
        client = await _client(http, server)
        erp = await _seed(client, sizes)
        refs = await references(Run(), client)
        invoices = [
            invoice_values(
                refs,
                party=erp["parties"][n % sizes.clients],
                address=erp["addresses"][n % sizes.clients],
                hours=float(1 + n % 40),
                description=f"Month-end invoice {n}",
            )
            for n in range(count)
        ]
        raw = _raw_lines(month, hv, erp, client.context["company"])
        _say("floor: a bare client's batched creates")
        raw_lines_per_s, raw_invoices_per_s = await _raw_floor(
            client, raw, [{**v, "reference": f"raw invoice {n}"} for n, v in enumerate(invoices)]
        )
        _say(f"floor: {raw_lines_per_s:,.0f} lines/s, {raw_invoices_per_s:,.1f} invoices/s")
        await _seed_journal(folder / "journal.sqlite", sizes, hv, erp)
        config = _config(server, hv["url"], folder)
        timed = await _mediator_lines(config, approved)
        seconds = timed["seconds"]
        invoices_per_s = await _mediator_invoices(config, invoices)
        keys = await _mediator_line_keys(client)
    wanted = {
        f"harvest:{entry_id}:r0]"
        for e, entry_id in zip(month.entries, hv["entries"], strict=True)
        if e.approved
    }
    one_each = set(keys) == wanted and all(n == 1 for n in keys.values())
    lines_per_s = approved / seconds
    return {
        "server": f"trytond {server.version}, one gunicorn sync worker, SQLite",
        "approved_entries": approved,
        "projects": sizes.projects,
        "erp_lines": sum(keys.values()),
        "one_line_per_entry": one_each,
        "dead": timed["dead"],
        "retried": timed["retried"],
        "lines_seconds": round(seconds, 2),
        "mediator_cpu_us_per_line": round(1e6 * timed["cpu"] / approved, 1),
        "erp_create_batches": timed["batches"],
        "erp_average_batch": round(timed["average_batch"], 1),
        "lines_per_s": round(lines_per_s, 1),
        "raw_lines_per_s": round(raw_lines_per_s, 1),
        "lines_ratio": round(lines_per_s / raw_lines_per_s, 3),
        "invoices": count,
        "invoices_per_s": round(invoices_per_s, 2),
        "raw_invoices_per_s": round(raw_invoices_per_s, 2),
        "invoices_ratio": round(invoices_per_s / raw_invoices_per_s, 3),
        "raw_batches": {"lines": _RAW_BATCH, "invoices": _RAW_INVOICE_BATCH},
        "target_ratio": 0.9,
    }
