"""How fast the admin API's reads answer on a big journal, and what they cost the data path. JSON.

The journal first holds `--entries` done entries (1,000,000; 100,000 with `--quick`), written
fast behind the journal's back as bench/journal.py does. A `Mediator` then runs one flow
whose entity actors answer at once (one entry in a hundred is rejected, so dead letters
accumulate as they do in a real month-end), fed by `--producers` concurrent `accept` calls:
every entry is appended, marked in flight and marked done (or dead) by the journal's one
writer, the journal-heavy path. A client in another process (as a dashboard or Prometheus
would be) does the measuring:

(a) read latency: `--requests` GETs one after another of each read endpoint (flows, systems,
    a dead-letter page, one dead letter, an entity's history: a dead letter's and one with
    200 entries in the big journal, approvals, the audit log, `/metrics`, and `/` when the
    dashboard is there), with the data path idle; p50/p99 per endpoint against the 50 ms
    target. Baseline: `/healthz`, the HTTP stack's own floor.
(b) the data path with a dashboard polling every endpoint once per second, against none (a
    harsh load: two entity histories a second); and with ten operators' overview pages open,
    each refreshed by the page's own live refresh (the overview's fragment every 5 s, with a
    session cookie as a browser has it), against none;
(c) the data path with `/metrics` scraped once per second (Prometheus' default is 15 s),
    against none; the CPU time one scrape costs the daemon (in process: steadier than a
    throughput ratio on a shared machine); and what the metrics' counting on the hot path
    costs per delivery (the dispatcher's and a transport's counters and histograms, timed
    in this run) as a share of the CPU time a delivery takes.
Each of `--rounds` rounds of (b) and (c) runs a `--seconds` segment off and one on, back to
back (the order alternating); the figures are the medians over rounds of the ratio of
entries settled per second, and of CPU time per entry (the steadier one on a shared machine).

  python bench/admin_reads.py                 # 1,000,000 entries, 12 pairs of 3 s segments
  python bench/admin_reads.py --quick         # 100,000 entries, 4 pairs
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import timeit
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec
from _machine import machine  # bench/ siblings
from journal import Keys, prefill

from mediator.actors import Actor
from mediator.codecs import Envelope, new_id
from mediator.config import parse_config
from mediator.errors import BusinessRejected
from mediator.histogram import CALL_BUCKETS, LatencyHistogram
from mediator.journal import DeadLetterFilter, DeliveryCounts
from mediator.runtime import Flow, FlowContext, Mediator, Poller
from mediator.telemetry import collect, render_prometheus
from mediator.tomlfile import Fail

TOKEN = "bench-dashboard-token-0123456789"
KIND = "bench.entry.accepted"
TARGET_P99_MS = 50.0

_CLIENT = r"""
import asyncio, json, sys, time
import aiohttp

DASHBOARDS = 10
PAGES = ["/ui/", "/ui/fragments/overview", "/ui/dead-letters", "/ui/reconciliation"]

async def main(url, token, dashboard, scrape):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    paths = []
    requests = errors = 0

    async def get(http, path):
        nonlocal requests, errors
        async with http.get(path) as response:
            await response.read()
            requests += 1
            errors += response.status >= 400
            return response.status

    async def commands(http):
        nonlocal paths
        while (line := (await reader.readline()).strip()) != b"stop" and line:
            command, _, argument = line.decode().partition(" ")
            if command == "latency":  # n GETs of each path, one after another
                answer = {}
                page = await logged_in()
                for session, path in [*((http, p) for p in dashboard), *((page, p) for p in PAGES)]:
                    for _ in range(5):
                        await get(session, path)
                    times = []
                    for _ in range(int(argument)):
                        started = time.perf_counter()
                        status = await get(session, path)
                        times.append(time.perf_counter() - started)
                    answer[path] = {"status": status, "seconds": times}
                await page.close()
                print(json.dumps(answer), flush=True)
                continue
            paths = {"dashboard": dashboard, "scrape": scrape, "live": "live"}.get(command, [])
            print("ok", flush=True)

    async def poll(http):
        while True:
            started = time.monotonic()
            for path in paths if isinstance(paths, list) else ():
                await get(http, path)
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async def logged_in():
        # a browser's session: logged in with the token, its cookie kept (unsafe: from an IP
        # address, 127.0.0.1, as a browser keeps it)
        page = aiohttp.ClientSession(url, cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with page.get("/ui/login") as response:
            form = await response.text()
        nonce = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        login = {"csrf": nonce, "next": "/ui/", "token": token}
        async with page.post("/ui/login", data=login, headers={"Origin": url}) as response:
            await response.read()
            assert str(response.url).endswith("/ui/"), f"login failed: {response.url}"
        return page

    async def browse(index):
        # one operator's open overview, as its page refreshes it: the overview's fragment
        # every 5 s (staggered across the open dashboards)
        async with await logged_in() as page:
            await asyncio.sleep(index * 5.0 / DASHBOARDS)
            while True:
                started = time.monotonic()
                if paths == "live":
                    await get(page, "/ui/fragments/overview")
                await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - started)))

    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as http:
        poller = asyncio.ensure_future(poll(http))
        browsers = [asyncio.ensure_future(browse(i)) for i in range(DASHBOARDS)]
        await commands(http)
        poller.cancel()
        for browser in browsers:
            browser.cancel()
    print(json.dumps({"requests": requests, "errors": errors}), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])))
"""


class _Answering(Actor[Envelope]):
    async def receive(self, message: Envelope) -> object:
        if message.key.endswith("07"):  # one entry in a hundred
            raise BusinessRejected(message.key, "the bench rejects this one")
        return None


class _BenchFlow:
    name = "bench"
    kinds = frozenset({KIND})
    owner = "bench"
    systems: frozenset[str] = frozenset()
    poller_names: frozenset[str] = frozenset()
    delivery_timeout = 10.0

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        return _Answering()

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        return ()


def _factory(options: Mapping[str, object], fail: Fail, /) -> Flow:
    return _BenchFlow()


def _config(journal: Path) -> str:
    return f"""\
[journal]
path = "{journal}"

[flows.bench]

[admin]
listen = "127.0.0.1:0"

[[admin.tokens]]
name = "dashboard"
role = "viewer"
token = "env:BENCH_ADMIN_TOKEN"
"""


async def _produce(mediator: Mediator, *, producers: int, seconds: float, start: int) -> int:
    counter = start
    stop = asyncio.get_running_loop().time() + seconds

    async def producer(index: int) -> None:
        nonlocal counter
        while asyncio.get_running_loop().time() < stop:
            counter += 1
            number = counter
            await mediator.accept(
                Envelope(
                    id=new_id(), key=f"entry:{number}", kind=KIND, source="bench",
                    idempotency_key=f"bench:{number}",
                    occurred_at=datetime.datetime.now(datetime.UTC),
                    payload=msgspec.Raw(b'{"hours": "1.5", "notes": "month end"}'),
                )
            )  # fmt: skip

    async with asyncio.TaskGroup() as group:
        for index in range(producers):
            group.create_task(producer(index))
    await mediator.wait_idle()
    return counter


async def _segment(
    mediator: Mediator, *, args: argparse.Namespace, start: int
) -> tuple[float, float, int]:
    # entries settled per second, and this process's CPU seconds per entry (all its threads:
    # loop, writer, reader): the second is what other tenants of the machine disturb least
    before = mediator.statistics().dispatcher
    began = asyncio.get_running_loop().time()
    cpu = time.process_time()
    end = await _produce(mediator, producers=args.producers, seconds=args.seconds, start=start)
    cpu = time.process_time() - cpu
    elapsed = asyncio.get_running_loop().time() - began
    after = mediator.statistics().dispatcher
    settled = (after.delivered - before.delivered) + (after.dead - before.dead)
    # a segment in which nothing settled (the data path stalled: reported, not divided by)
    return settled / elapsed, cpu / settled if settled else float("inf"), end


class _Client:
    """The measuring client in its own process, driven line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdin is not None
        assert process.stdout is not None
        self.process = process
        self._stdin = process.stdin
        self._stdout = process.stdout

    async def send(self, command: str) -> bytes:
        self._stdin.write(command.encode() + b"\n")
        return await self._stdout.readline()

    async def stop(self) -> dict[str, int]:
        out, _ = await self.process.communicate(b"stop\n")
        answer: dict[str, int] = json.loads(out.splitlines()[-1])
        return answer


async def _pairs(
    mediator: Mediator, client: _Client, *, on: str, args: argparse.Namespace, start: int
) -> tuple[dict[str, object], int]:
    rates: dict[bool, list[float]] = {False: [], True: []}
    costs: dict[bool, list[float]] = {False: [], True: []}
    ratios: list[float] = []
    cost_ratios: list[float] = []
    stalled = 0
    counter = start
    for index in range(args.rounds):
        pair: dict[bool, float] = {}
        cost: dict[bool, float] = {}
        for switched in (False, True) if index % 2 == 0 else (True, False):
            await client.send(on if switched else "off")
            pair[switched], cost[switched], counter = await _segment(
                mediator, args=args, start=counter
            )
            rates[switched].append(pair[switched])
            costs[switched].append(cost[switched])
        if not (pair[True] and pair[False]):
            stalled += 1  # a segment settled nothing: no ratio to take (counted below)
            continue
        ratios.append(pair[True] / pair[False])
        cost_ratios.append(cost[True] / cost[False])
    await client.send("off")
    if not ratios:
        raise RuntimeError(f"the data path settled nothing in every round of {on!r}")
    without = statistics.median(rates[False])
    with_it = statistics.median(rates[True])
    return {
        "entries_per_s_off": round(without, 1),
        "entries_per_s_on": round(with_it, 1),
        # each round's pair ran back to back: the median of their ratios cancels the drift of
        # a shared machine better than the ratio of the medians
        "throughput_ratio_on_to_off": round(statistics.median(ratios), 4),
        "cpu_us_per_entry_off": round(1e6 * statistics.median(costs[False]), 1),
        "cpu_us_per_entry_on": round(1e6 * statistics.median(costs[True]), 1),
        "cpu_per_entry_increase_percent": round(100.0 * (statistics.median(cost_ratios) - 1), 2),
        "stalled_rounds": stalled,
        "every_round": {
            "off": [round(r, 1) for r in rates[False]],
            "on": [round(r, 1) for r in rates[True]],
        },
    }, counter


def _counting_cost_us() -> float:
    """Microseconds the metrics' hot-path work adds to one delivery that makes one vendor
    call: what the dispatcher does per delivered entry (its kind's counters, the accepted
    count, a latency observation) and what a transport does per exchange (its counter and
    its histogram), the same operations on the same structures, timed here."""
    counts = DeliveryCounts()  # what the dispatcher calls, with what it holds
    exchanges: dict[tuple[str, str], int] = {}
    call = LatencyHistogram(CALL_BUCKETS)
    key = ("model.account.invoice.create", "200")

    def one_delivery() -> None:
        counts.accepted(KIND)
        counts.delivered(KIND, 0.004)
        call.observe(0.03)  # as HttpTransport does per exchange
        exchanges[key] = exchanges.get(key, 0) + 1

    n = 200_000
    return 1e6 * min(timeit.repeat(one_delivery, number=n, repeat=5)) / n


async def _scrape_cost(mediator: Mediator, n: int = 50) -> dict[str, float]:
    """CPU milliseconds the daemon spends answering one `/metrics` (fresh statistics, the
    journal's open counts, the exposition), measured in this process: steadier than a
    throughput ratio on a shared machine."""
    cpu = time.process_time()
    for _ in range(n):
        render_prometheus(await collect(mediator))
    per_scrape = 1e3 * (time.process_time() - cpu) / n
    return {
        "cpu_ms_per_scrape": round(per_scrape, 2),
        "live_entities": mediator.statistics().flows["bench"].live,
        # at Prometheus' default interval (15 s), and at one scrape a second
        "share_of_a_core_every_15_s_percent": round(100 * per_scrape / 1e3 / 15, 3),
        "share_of_a_core_every_1_s_percent": round(100 * per_scrape / 1e3, 3),
    }


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    cut = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "p50_ms": round(1e3 * cut[49], 2),
        "p99_ms": round(1e3 * cut[98], 2),
        "max_ms": round(1e3 * ordered[-1], 2),
    }


async def _paths(mediator: Mediator, url: str) -> list[str]:
    dead = await mediator.dead_letters(DeadLetterFilter(), limit=1)
    assert dead, "the warm-up made no dead letter to read"
    paths = [
        "/healthz", "/flows", "/systems", "/posting-windows", "/dead-letters?limit=50",
        f"/dead-letters/{dead[0].id}", f"/entities/{dead[0].key}",
        "/entities/project:P-42",  # 200 entries of the big journal's history
        "/approvals", "/audit", "/metrics",
    ]  # fmt: skip
    import aiohttp  # the dashboard page is another issue's: measured when it is there

    async with aiohttp.ClientSession(url) as http, http.get("/") as page:
        if page.status != 404:
            paths.append("/")
    return paths


async def main(args: argparse.Namespace) -> dict[str, object]:
    os.environ["BENCH_ADMIN_TOKEN"] = TOKEN
    logging.basicConfig(level=logging.ERROR)  # each rejection is a warning: not the bench's cost
    result: dict[str, object] = {"machine": machine()}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        journal = Path(folder) / "journal.sqlite"
        result["journal"] = {
            "entries_before_the_run": args.entries,
            # prefill runs its own event loop: in a thread of its own
            "prefill_seconds": round(
                await asyncio.to_thread(prefill, journal, args.entries, Keys(seed=7)), 1
            ),
        }
        loaded = parse_config(_config(journal), file="bench.toml", base_dir=Path(folder))
        async with Mediator(loaded, flows={"bench": _factory}) as mediator:
            counter = await _produce(mediator, producers=args.producers, seconds=2.0, start=0)
            assert mediator.admin_address is not None
            host, port = mediator.admin_address
            url = f"http://{host}:{port}"
            paths = await _paths(mediator, url)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CLIENT, url, TOKEN, json.dumps(paths),
                json.dumps(["/metrics"]),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                limit=16 * 1024 * 1024,  # the latencies' line: every request's time, as JSON
            )  # fmt: skip
            client = _Client(process)
            measured = json.loads(await client.send(f"latency {args.requests}"))
            latency = {
                path: {"status": m["status"], **_percentiles(m["seconds"])}
                for path, m in measured.items()
            }
            result["read_latency"] = {
                "requests_per_endpoint": args.requests,
                "journal_entries": mediator.statistics().journal.appends + args.entries,
                "target_p99_ms": TARGET_P99_MS,
                "every_endpoint_under_target": all(
                    v["p99_ms"] < TARGET_P99_MS for v in latency.values()
                ),
                "baseline_healthz": latency.pop("/healthz"),
                "endpoints": latency,
            }
            result["metrics_scrape_cost"] = await _scrape_cost(mediator)
            dashboard, counter = await _pairs(
                mediator, client, on="dashboard", args=args, start=counter
            )
            live, counter = await _pairs(mediator, client, on="live", args=args, start=counter)
            scrape, counter = await _pairs(mediator, client, on="scrape", args=args, start=counter)
            polled = await client.stop()
    counting = _counting_cost_us()
    per_entry = float(scrape["cpu_us_per_entry_off"])  # type: ignore[arg-type]  # a float above
    result["producers"] = args.producers
    result["seconds_per_segment"] = args.seconds
    result["rounds"] = args.rounds
    result["data_path_with_dashboard_polling_every_endpoint_each_second"] = dashboard
    result["data_path_with_ten_dashboards_open_refreshing_every_5_s"] = live
    result["data_path_with_metrics_scraped_each_second"] = scrape
    result["metrics_hot_path"] = {
        "us_per_delivery": round(counting, 3),
        "cpu_us_per_entry": per_entry,
        # the throughput ratio had the counting been off: what it adds is this share of a
        # delivery's CPU time (target: at least 0.95)
        "throughput_ratio_counting_on_to_off": round(per_entry / (per_entry + counting), 4),
    }
    result["client_requests"] = polled
    result["paths"] = paths
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="GETs per endpoint in (a)")
    parser.add_argument("--producers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--dir", help="where to build the journal (default: a temp dir)")
    parser.add_argument(
        "--quick", action="store_true", help="100,000 entries, 4 rounds: a smoke run"
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.entries = min(arguments.entries, 100_000)
        arguments.rounds = min(arguments.rounds, 4)
        arguments.requests = min(arguments.requests, 100)
    print(json.dumps(asyncio.run(main(arguments)), indent=2))
