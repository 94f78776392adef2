"""Month-end at scale, part A (issue #20): a firm's approved month through the daemon's flows.

The firm of `_reconcile_month` (1,500 consultants, 400 clients, 800 projects: ~107,000
approved time entries, ~95 % of them billable) is loaded into the sandboxes as the month
begins: Harvest holds the month's time, approved; the ERP (Tryton) its parties, employees and
projects but no timesheet line; Stripe its customers; the journal holds what onboarding
wrote (the xref map), and the approved-time poller's watermark stands before the month. Each
sandbox runs in a process of its own (so this process's CPU is mediator's), limits off.

Then a `Mediator` with the approved-time and billing flows (the composition `mediator run`
uses, on the SQLite journal) polls Harvest once and delivers: every approved entry becomes a
Tryton timesheet line (approved time → ERP), and every billable one lands in its client's
billing aggregate (billing's delivery; the flush to Stripe is the close's, not timed here).
Timed from the poll's start until every delivery is done; the run is checked (one ERP line per
approved entry, nothing dead) before any figure is reported.

Reported: `entries_per_s` (approved entries end to end: poll, journal, ERP line, billing
aggregate) against the target of 10,000/s; `deliveries_per_s`; mediator's CPU per entry;
peak RSS; the journal's size. `--profile FILE` saves a pyinstrument profile of the timed
run (HTML for a ``.html`` name, else text): where the CPU per entry goes, stage by stage.

Baseline, in the same run: the ERP half done by hand with no runtime — the same lines created
by a bare aiohttp client in Tryton's batched `create` calls of 1,000, straight from the plan
(no journal, no poll, no idempotency look-up): the floor the sandbox itself sets.
``ratio_to_bare_erp_client`` = our entries/s over its lines/s.

`--part e` runs part E instead: the ERP half against a real trytond, against a bare client on
the same server (`_month_end_real_erp`). Not yet here (issue #20 B, C): the vendors' limits
on, chaos, three consecutive months for RSS growth.

    .venv/bin/python bench/month_end.py [--quick] [--profile FILE.html]
    .venv/bin/python bench/month_end.py [--quick] --part d   # D: against DBOS Transact
    .venv/bin/python bench/month_end.py [--quick] --part e   # E: a real trytond

`--part d` runs part D instead (bench/_month_end_dbos.py): the approved-time path alone,
ours against DBOS Transact's idiom for it, on the same entries and sandboxes.

`--quick` is 10× smaller. Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
from _connectors_common import served  # bench/ siblings
from _machine import machine
from _month_end_dbos import run_part_d
from _reconcile_month import (
    Plan,
    Sizes,
    build_harvest,
    build_stripe,
    build_tryton,
    plan,
    systems_config,
)

from mediator.clock import SystemClock
from mediator.codecs.tryton.rpc import TrytonRequest, encode_request
from mediator.config import parse_config
from mediator.journal import Watermark, open_journal
from mediator.runtime import Mediator

_FULL = Sizes(consultants=1_500, clients=400, projects=800, milestones=0)
_QUICK = Sizes(consultants=150, clients=40, projects=80, milestones=0)
_TARGET_ENTRIES_PER_S = 10_000.0
_BASELINE_BATCH = 1_000
#: the poller's watermark: before the month's first approval
_BEFORE_THE_MONTH = "2026-10-31T00:00:00+00:00"


def say(text: str) -> None:
    print(f"[month_end] {text}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def sandboxes(sizes: Sizes) -> AsyncIterator[dict[str, dict[str, Any]]]:
    """Serve Harvest (the month's time), Tryton and Stripe as the month begins, each in its
    own process."""
    async with contextlib.AsyncExitStack() as stack:
        harvest, tryton, stripe = await asyncio.gather(
            stack.enter_async_context(served(build_harvest, sizes=sizes)),
            stack.enter_async_context(served(build_tryton, sizes=sizes, entries=[], invoices=[])),
            stack.enter_async_context(served(build_stripe, sizes=sizes, bills=False)),
        )
        yield {"harvest": harvest, "tryton": tryton, "stripe": stripe}


async def seed_journal(path: Path, month: Plan, ids: dict[str, dict[str, Any]]) -> None:
    """Write the xref map onboarding and HR keep, and the poller's watermark."""
    sizes = month.sizes
    hv, st, tr = ids["harvest"], ids["stripe"], ids["tryton"]
    xrefs: list[tuple[str, str, str, str]] = []
    for n in range(sizes.clients):
        client = f"C-{n:04d}"
        xrefs += [
            ("client", client, "harvest", str(hv["clients"][n])),
            ("client", client, "tryton", str(tr["parties"][n])),
            ("client", client, "stripe", st["customers"][n]),
        ]
    for p in range(sizes.projects):
        xrefs += [
            ("project", f"P-{p:04d}", "harvest", str(hv["projects"][p])),
            ("project", f"P-{p:04d}", "tryton", str(tr["works"][p])),
        ]
    for c in range(sizes.consultants):
        xrefs += [
            ("consultant", f"U-{c:04d}", "harvest", str(hv["users"][c])),
            ("consultant", f"U-{c:04d}", "tryton", str(tr["employees"][c])),
        ]
    async with open_journal(path, clock=SystemClock()) as journal:
        for start in range(0, len(xrefs), 500):
            await asyncio.gather(*(journal.record_xref(*x) for x in xrefs[start : start + 500]))
        await journal.set_watermark(Watermark(name="harvest_time", value=_BEFORE_THE_MONTH))


def config_text(urls: dict[str, str], ids: dict[str, dict[str, Any]], folder: Path) -> str:
    """The `mediator.toml`: Harvest, Tryton and Stripe, the approved-time and billing flows,
    the Harvest poller once a day (the bench polls it itself), every rate limit lifted."""
    return f"""\
[journal]
path = "{folder / "journal.sqlite"}"

{systems_config(urls, ids, folder)}
[flows.approved_time.options]
account_currency = "USD"

[flows.billing.options]
account_currency = "USD"
payment_terms_days = 30

[ingress.pollers.harvest_time]
interval = 86400.0
"""


def _rpc_date(day: dt.date) -> dict[str, object]:
    return {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}


class _Erp:
    """A bare JSON-RPC client of the ERP sandbox: a login, then calls (no connector)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, credentials: dict[str, Any]):
        self.http, self.credentials = http, credentials
        self.url = f"{url}/{credentials['database']}/rpc/"
        self.auth: str | None = None

    async def login(self) -> None:
        creds = self.credentials
        user, key, *_ = await self.call(
            "common.db.login", [creds["login"], {"password": creds["password"]}, "en"]
        )
        session = f"{creds['login']}:{user}:{key}".encode()
        self.auth = "Session " + base64.b64encode(session).decode()

    async def call(self, method: str, params: list[Any]) -> Any:
        body = encode_request(TrytonRequest(id=1, method=method, params=params))
        headers = {"Content-Type": "application/json"}
        if self.auth is not None:
            headers["Authorization"] = self.auth
        async with self.http.post(self.url, data=body, headers=headers) as response:
            answer = msgspec.json.decode(await response.read())
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


async def erp_lines(url: str, credentials: dict[str, Any]) -> int:
    """How many timesheet lines the ERP holds (read with a bare client)."""
    async with aiohttp.ClientSession() as http:
        erp = _Erp(http, url, credentials)
        await erp.login()
        return int(await erp.call("model.timesheet.line.search_count", [[], {}]))


async def baseline(url: str, month: Plan, ids: dict[str, Any]) -> float:
    """Lines/s of the same lines created straight from the plan by a bare client, in batched
    `create` calls (the ERP half with no runtime); the lines are deleted again after."""
    tr, hv = ids["tryton"], ids["harvest"]
    values = [
        {
            "company": tr["erp"]["company"],
            "employee": tr["employees"][e.consultant],
            "work": tr["timesheet_works"][e.project],
            "date": _rpc_date(e.day),
            "duration": {"__class__": "timedelta", "seconds": float(e.hours * 3600)},
            "description": f"baseline {entry_id}",
        }
        for e, entry_id in zip(month.entries, hv["entries"], strict=True)
        if e.approved
    ]
    async with aiohttp.ClientSession() as http:
        erp = _Erp(http, url, tr["credentials"])
        await erp.login()
        began = time.perf_counter()
        made: list[int] = []
        for start in range(0, len(values), _BASELINE_BATCH):
            batch = values[start : start + _BASELINE_BATCH]
            made += await erp.call("model.timesheet.line.create", [batch, {}])
        seconds = time.perf_counter() - began
        for start in range(0, len(made), 10_000):
            await erp.call("model.timesheet.line.delete", [made[start : start + 10_000], {}])
    return len(values) / seconds


async def run(sizes: Sizes, folder: Path, profile: Path | None) -> dict[str, object]:
    month = plan(sizes)
    approved = sum(e.approved for e in month.entries)
    billable = sum(e.approved and e.billable for e in month.entries)
    say(f"month: {approved:,} approved entries ({billable:,} billable)")
    async with sandboxes(sizes) as ids:
        urls = {name: box["url"] for name, box in ids.items()}
        lines_per_s = await baseline(urls["tryton"], month, ids)
        say(f"baseline: {lines_per_s:,.0f} ERP lines/s by a bare batched client")
        await seed_journal(folder / "journal.sqlite", month, ids)
        loaded = parse_config(config_text(urls, ids, folder), file="<bench>")
        expected = approved + billable
        async with Mediator(loaded, serve_admin=False) as mediator:
            profiler = _profiler() if profile else None
            cpu = time.process_time()
            began = time.perf_counter()
            if profiler is not None:
                profiler.start()
            outcome = await mediator.poll("harvest_time")
            say(f"polled: {outcome.journaled:,} journaled in {time.perf_counter() - began:.1f} s")
            await _settled(mediator, expected)
            if profiler is not None:
                profiler.stop()
            seconds = time.perf_counter() - began
            cpu = time.process_time() - cpu
            stats = mediator.statistics()
        lines = await erp_lines(urls["tryton"], ids["tryton"]["credentials"])
    if profiler is not None and profile is not None:
        html = profile.suffix == ".html"
        report = profiler.output_html() if html else profiler.output_text(unicode=True)
        await asyncio.to_thread(profile.write_text, report, encoding="utf-8")
    entries_per_s = approved / seconds
    return {
        "sandboxes": "out of process, one each, limits off",
        "journal": "sqlite",
        "approved_entries": approved,
        "billable_entries": billable,
        "deliveries": expected,
        "erp_lines": lines,
        "one_line_per_entry": lines == approved,
        "dead": stats.dispatcher.dead,
        "retried": stats.dispatcher.retried,
        "seconds": round(seconds, 2),
        "entries_per_s": round(entries_per_s, 1),
        "deliveries_per_s": round(expected / seconds, 1),
        "target_entries_per_s": _TARGET_ENTRIES_PER_S,
        "meets_target": entries_per_s >= _TARGET_ENTRIES_PER_S,
        "mediator_cpu_seconds": round(cpu, 2),
        "mediator_cpu_us_per_entry": round(1e6 * cpu / approved, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "baseline_bare_erp_lines_per_s": round(lines_per_s, 1),
        "ratio_to_bare_erp_client": round(entries_per_s / lines_per_s, 3),
        "profile": None if profile is None else str(profile),
    }


async def _settled(mediator: Mediator, expected: int) -> None:
    # A bench, not a test: the dispatcher's counters are read five times a second
    last = -1
    while True:
        stats = mediator.statistics().dispatcher
        finished = stats.delivered + stats.dead
        if finished >= expected and stats.pending == 0:
            return
        if finished // 10_000 != last // 10_000:
            say(f"{finished:,} of {expected:,} deliveries finished")
        last = finished
        await asyncio.sleep(0.2)


def _profiler() -> Any:
    from pyinstrument import Profiler

    return Profiler(async_mode="enabled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a 10x smaller firm")
    parser.add_argument("--profile", type=Path, help="save a pyinstrument profile (HTML) here")
    parser.add_argument(
        "--part",
        choices=("a", "d", "e"),
        default="a",
        help="d: against DBOS Transact; e: the ERP half against a real trytond",
    )
    args = parser.parse_args()
    if args.part == "e":
        # part E reuses the real-trytond tests' client and seeding (the repository's `tests`)
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from _month_end_real_erp import real_erp

        with tempfile.TemporaryDirectory() as folder:
            erp = asyncio.run(real_erp(Path(folder), quick=args.quick))
        print(json.dumps({"machine": machine(), "quick": args.quick, "part_e": erp}, indent=2))
        return
    sizes = _QUICK if args.quick else _FULL
    if args.part == "d":
        with tempfile.TemporaryDirectory() as folder:
            peer = run_part_d(
                sizes,
                Path(folder),
                quick=args.quick,
                sandboxes=sandboxes,
                seed_journal=seed_journal,
            )
            result = asyncio.run(peer)
        print(json.dumps({"machine": machine(), "quick": args.quick, **result}, indent=2))
        return
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(sizes, Path(folder), args.profile))
        journal = sum(f.stat().st_size for f in Path(folder).glob("journal.sqlite*"))
        result["journal_mb"] = round(journal / 2**20, 1)
    print(json.dumps({"machine": machine(), "quick": args.quick, **result}, indent=2))


if __name__ == "__main__":
    main()
