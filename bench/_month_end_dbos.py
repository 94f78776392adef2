"""Month-end part D (issue #20): the time-entry path built with DBOS Transact, against ours.

The same work on both sides, in the same run, against the same out-of-process sandboxes (limits
off): every approved Harvest time entry of the month becomes exactly one Tryton timesheet line,
with a journal in between so nothing is lost or posted twice.

- **ours**: part A's path with the approved-time flow alone (no billing): a `Mediator` on the
  SQLite journal polls Harvest once, journals each entry under its idempotency key and has the
  Tryton actor create the lines (looked up by their reference first, in batched calls). Timed
  from the poll's start until every delivery is done.
- **DBOS**: DBOS Transact's documented idiom for this: one workflow per entry, started on a DBOS
  queue under `SetWorkflowID(<the entry's key>)` (DBOS's idempotent start: a second enqueue of
  a key is the first workflow), the workflow one `@DBOS.step` that searches the ERP for the line
  by its key and creates it if absent, by a plain aiohttp JSON-RPC call. DBOS's system tables
  live in a scratch schema of the local PostgreSQL. The queue is tuned for throughput with
  DBOS's documented knobs: up to 1,000 workflows at once in this process
  (`worker_concurrency`; their calls share aiohttp's pool of 100 connections) and a 0.1 s
  queue poll (`polling_interval_sec`; at the default 1 s and 100 at once it cannot pass
  100 entries/s); 100 producers enqueue. It is handed the entries ready made
  (Harvest read, ids mapped) outside the timing, which ours does inside it: timed from the first
  enqueue until every workflow is SUCCESS in DBOS's own table.

Each side's ERP lines are counted and their keys checked (one line per approved entry, none
twice) before a figure is reported; ours' lines are deleted before DBOS runs. The CPU is this
process's (every thread: DBOS works in threads of its own), the sandboxes being elsewhere.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import re
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
from _reconcile_month import Plan, Sizes, plan, systems_config

from mediator.codecs.tryton.rpc import TrytonRequest, encode_request
from mediator.config import parse_config
from mediator.runtime import Mediator
from mediator.testing.postgres import TEST_DSN, scratch_schema

__all__ = ["run_part_d"]

Sandboxes = Callable[[Sizes], AbstractAsyncContextManager[dict[str, dict[str, Any]]]]
SeedJournal = Callable[[Path, Plan, dict[str, dict[str, Any]]], Awaitable[None]]

_PRODUCERS = 100
_WORKER_CONCURRENCY = 1_000
_QUEUE_POLL = 0.1
_DEADLINE = 3_600.0
#: `--quick`: a third of part A's quick firm (~3,600 entries), DBOS's side taking ~30 s of it
_QUICK = Sizes(consultants=50, clients=14, projects=27, milestones=0)
_TARGET_RATIO = 10.0
_OURS_KEY = re.compile(r"\[mediator (?P<key>[^\]]+)\]$")
_DBOS_KEY = re.compile(r"\[dbos (?P<key>[^\]]+)\]$")


def say(text: str) -> None:
    print(f"[month_end d] {text}", file=sys.stderr, flush=True)


class _Rpc:
    """A bare JSON-RPC client of the ERP sandbox, usable from any event loop: DBOS runs async
    steps on a loop of its own thread, and an aiohttp session belongs to the loop it was made
    on, so each loop gets its own session and login."""

    def __init__(self, url: str, credentials: dict[str, Any]) -> None:
        self.url = f"{url}/{credentials['database']}/rpc/"
        self.credentials = credentials
        self._sessions: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, str]] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    async def call(self, method: str, params: list[Any]) -> Any:
        http, auth = await self._session()
        return await self._post(http, method, params, auth)

    async def aclose(self) -> None:
        for http, _ in self._sessions.values():
            await http.close()
        self._sessions.clear()

    async def _session(self) -> tuple[aiohttp.ClientSession, str]:
        loop = asyncio.get_running_loop()
        if loop in self._sessions:
            return self._sessions[loop]
        async with self._locks.setdefault(loop, asyncio.Lock()):
            if loop not in self._sessions:
                http = aiohttp.ClientSession()
                creds = self.credentials
                user, key, *_ = await self._post(
                    http,
                    "common.db.login",
                    [creds["login"], {"password": creds["password"]}, "en"],
                    None,
                )
                session = base64.b64encode(f"{creds['login']}:{user}:{key}".encode()).decode()
                self._sessions[loop] = (http, "Session " + session)
        return self._sessions[loop]

    async def _post(
        self, http: aiohttp.ClientSession, method: str, params: list[Any], auth: str | None
    ) -> Any:
        body = encode_request(TrytonRequest(id=1, method=method, params=params))
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        async with asyncio.timeout(60.0), http.post(self.url, data=body, headers=headers) as got:
            answer = msgspec.json.decode(await got.read())
        if answer.get("error"):
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]


async def _lines(rpc: _Rpc) -> list[str]:
    """The descriptions of every timesheet line in the ERP."""
    rows = await rpc.call(
        "model.timesheet.line.search_read", [[], 0, None, None, ["description"], {}]
    )
    return [str(row["description"]) for row in rows]


async def _clear_lines(rpc: _Rpc) -> None:
    ids = await rpc.call("model.timesheet.line.search", [[], {}])
    for start in range(0, len(ids), 10_000):
        await rpc.call("model.timesheet.line.delete", [ids[start : start + 10_000], {}])


def _one_each(descriptions: list[str], pattern: re.Pattern[str], keys: set[str]) -> bool:
    """Whether the lines carry every key of `keys` exactly once and nothing else."""
    found = [m["key"] for d in descriptions if (m := pattern.search(d)) is not None]
    return len(found) == len(descriptions) == len(keys) and set(found) == keys


# -- ours -----------------------------------------------------------------------------------------


def _config(urls: dict[str, str], ids: dict[str, dict[str, Any]], folder: Path) -> str:
    return f"""\
[journal]
path = "{folder / "journal_d.sqlite"}"

{systems_config(urls, ids, folder)}
[flows.approved_time.options]
account_currency = "USD"

[ingress.pollers.harvest_time]
interval = 86400.0
"""


async def _ours(
    month: Plan, ids: dict[str, dict[str, Any]], folder: Path, seed_journal: SeedJournal
) -> dict[str, Any]:
    urls = {name: box["url"] for name, box in ids.items()}
    await seed_journal(folder / "journal_d.sqlite", month, ids)
    loaded = parse_config(_config(urls, ids, folder), file="<bench part d>")
    approved = sum(e.approved for e in month.entries)
    async with Mediator(loaded, serve_admin=False) as mediator:
        cpu, began = time.process_time(), time.perf_counter()
        await mediator.poll("harvest_time")
        async with asyncio.timeout(_DEADLINE):
            while True:  # a bench, not a test: the dispatcher's counters, ten times a second
                stats = mediator.statistics().dispatcher
                if stats.delivered + stats.dead >= approved and stats.pending == 0:
                    break
                await asyncio.sleep(0.1)
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {"seconds": seconds, "cpu": cpu, "dead": stats.dead}


# -- DBOS -----------------------------------------------------------------------------------------


def _rpc_date(day: dt.date) -> dict[str, object]:
    return {"__class__": "date", "year": day.year, "month": day.month, "day": day.day}


def _work(month: Plan, ids: dict[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Each approved entry's key and its line's create values, in the ERP's ids (what ours
    reads from Harvest and maps through the journal's xrefs while timed)."""
    tr = ids["tryton"]
    return [
        (
            key := f"harvest-time-{entry_id}",
            {
                "company": tr["erp"]["company"],
                "employee": tr["employees"][e.consultant],
                "work": tr["timesheet_works"][e.project],
                "date": _rpc_date(e.day),
                "duration": {"__class__": "timedelta", "seconds": float(e.hours * 3600)},
                "description": f"Delivery work [dbos {key}]",
            },
        )
        for e, entry_id in zip(month.entries, ids["harvest"]["entries"], strict=True)
        if e.approved
    ]


async def _dbos(rpc: _Rpc, work: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Enqueue a workflow per entry on a DBOS queue; time it until all are SUCCESS."""
    from dbos import DBOS, SetWorkflowID

    @DBOS.step()
    async def post_line(values: dict[str, Any]) -> int:
        # a step is retried from the start after a crash: the look-up makes the create once
        domain = [["description", "=", values["description"]]]
        found = await rpc.call("model.timesheet.line.search", [domain, 0, 1, None, {}])
        if found:
            return int(found[0])
        made = await rpc.call("model.timesheet.line.create", [[values], {}])
        return int(made[0])

    @DBOS.workflow()
    async def post_time_entry(values: dict[str, Any]) -> int:
        return await post_line(values)

    async with scratch_schema() as schema:
        DBOS(
            config={
                "name": "month_end_d",
                "system_database_url": TEST_DSN,
                "dbos_system_schema": schema,
                "log_level": "WARNING",
            }
        )
        try:
            await asyncio.to_thread(DBOS.launch)
            queue = await DBOS.register_queue_async(
                "time_entries",
                worker_concurrency=_WORKER_CONCURRENCY,
                polling_interval_sec=_QUEUE_POLL,
            )
            conn = await asyncpg.connect(TEST_DSN)
            try:
                pending = iter(work)

                async def produce() -> None:
                    for key, values in pending:
                        with SetWorkflowID(key):
                            await queue.enqueue_async(post_time_entry, values)

                cpu, began = time.process_time(), time.perf_counter()
                async with asyncio.TaskGroup() as producers:
                    for _ in range(_PRODUCERS):
                        producers.create_task(produce())
                enqueued = time.perf_counter() - began
                say(f"DBOS: {len(work):,} workflows enqueued in {enqueued:.1f} s")
                done = await _finished(conn, schema, len(work))
                seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
            finally:
                await conn.close()
        finally:
            await asyncio.to_thread(DBOS.destroy)
            # DBOS made its pool the loop's default executor and has shut it down
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
    return {"seconds": seconds, "cpu": cpu, "enqueue_seconds": enqueued, "errors": done}


async def _finished(conn: asyncpg.Connection, schema: str, expected: int) -> int:
    """Wait until `expected` workflows have ended in DBOS's table; return how many failed."""
    sql = (
        "SELECT count(*) FILTER (WHERE status = 'SUCCESS'), "
        "count(*) FILTER (WHERE status IN ('ERROR', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED')) "
        f"FROM {schema}.workflow_status WHERE queue_name = 'time_entries'"
    )
    async with asyncio.timeout(_DEADLINE):
        while True:  # DBOS's own record of completion, read as often as ours' counters
            row = await conn.fetchrow(sql)
            assert row is not None  # an aggregate always answers one row
            if row[0] + row[1] >= expected:
                return int(row[1])
            await asyncio.sleep(0.1)


# -- the part -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _rpc(url: str, credentials: dict[str, Any]) -> AsyncIterator[_Rpc]:
    rpc = _Rpc(url, credentials)
    try:
        yield rpc
    finally:
        await rpc.aclose()


async def run_part_d(
    sizes: Sizes, folder: Path, *, quick: bool, sandboxes: Sandboxes, seed_journal: SeedJournal
) -> dict[str, object]:
    """Ours then DBOS's on the same month's approved entries, against the same sandboxes
    (`sizes`' firm, or a smaller one when `quick`)."""
    sizes = _QUICK if quick else sizes
    month = plan(sizes)
    async with sandboxes(sizes) as ids:
        tr = ids["tryton"]
        async with _rpc(tr["url"], tr["credentials"]) as rpc:
            say(f"ours: {sum(e.approved for e in month.entries):,} approved entries")
            ours = await _ours(month, ids, folder, seed_journal)
            say(f"ours: done in {ours['seconds']:.1f} s; DBOS next")
            ours_lines = await _lines(rpc)
            await _clear_lines(rpc)
            work_of_month = _work(month, ids)
            keys = {key for key, _ in work_of_month}
            peer = await _dbos(rpc, work_of_month)
            peer_lines = await _lines(rpc)
    approved = len(work_of_month)
    ours_ok = len(ours_lines) == approved and ours["dead"] == 0
    ours_unique = len({m["key"] for d in ours_lines if (m := _OURS_KEY.search(d))})
    ours_per_s, peer_per_s = approved / ours["seconds"], approved / peer["seconds"]
    return {
        "part": "d",
        "approved_entries": approved,
        "ours": {
            "what": "Mediator, approved-time flow only, SQLite journal: poll, journal, "
            "batched ERP creates with look-ups; timed from the poll",
            "erp_lines": len(ours_lines),
            "distinct_keys": ours_unique,
            "one_line_per_entry": ours_ok and ours_unique == approved,
            "seconds": round(ours["seconds"], 2),
            "entries_per_s": round(ours_per_s, 1),
            "cpu_seconds": round(ours["cpu"], 2),
            "cpu_us_per_entry": round(1e6 * ours["cpu"] / approved, 1),
        },
        "dbos": {
            "what": "DBOS Transact: a workflow per entry on a DBOS queue under "
            "SetWorkflowID(key), one step: search the line by key, create if absent; "
            "timed from the first enqueue to all SUCCESS",
            "erp_lines": len(peer_lines),
            "one_line_per_entry": _one_each(peer_lines, _DBOS_KEY, keys) and not peer["errors"],
            "failed_workflows": peer["errors"],
            "seconds": round(peer["seconds"], 2),
            "enqueue_seconds": round(peer["enqueue_seconds"], 2),
            "entries_per_s": round(peer_per_s, 1),
            "cpu_seconds": round(peer["cpu"], 2),
            "cpu_us_per_entry": round(1e6 * peer["cpu"] / approved, 1),
        },
        "ratio_ours_to_dbos": round(ours_per_s / peer_per_s, 2),
        "cpu_per_entry_dbos_to_ours": round(peer["cpu"] / ours["cpu"], 2),
        "target_ratio": _TARGET_RATIO,
        "meets_target": ours_per_s >= _TARGET_RATIO * peer_per_s,
    }
