"""Does a dashboard polling every admin endpoint each second slow the month-end run? JSON.

A `Mediator` runs one flow whose entity actors answer at once (one entry in a hundred is
rejected, so dead letters accumulate as they do in a real month-end), fed by `--producers`
concurrent `accept` calls: every entry is appended, marked in flight and marked done (or
dead) by the journal's one writer, the journal-heavy path. A dashboard in another process (as
a real one would be) GETs every read endpoint of the admin API once per second while it is
switched on: health, readiness, flows, systems, posting windows, a dead-letter page, one dead
letter, one entity's history, approvals, the audit log. Each of `--rounds` rounds runs a
`--seconds` segment with it off and one with it on, back to back (the order alternating);
the figures are the medians over rounds of the drop in entries settled per second and of the
rise in this process's CPU time per entry (the steadier one on a shared machine).

  python bench/admin_reads.py                 # 12 pairs of 3 s segments
  python bench/admin_reads.py --seconds 2 --rounds 4
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
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec
from _machine import machine  # a bench/ sibling

from mediator.actors import Actor
from mediator.codecs import Envelope, new_id
from mediator.config import parse_config
from mediator.errors import BusinessRejected
from mediator.journal import DeadLetterFilter
from mediator.runtime import Flow, FlowContext, Mediator, Poller
from mediator.tomlfile import Fail

TOKEN = "bench-dashboard-token-0123456789"
KIND = "bench.entry.accepted"

_DASHBOARD = r"""
import asyncio, json, sys, time
import aiohttp

async def main(url, token, paths):
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    polling = False
    requests = errors = 0

    async def commands():
        nonlocal polling
        while (line := (await reader.readline()).strip()) != b"stop" and line:
            polling = line == b"on"
            print("ok", flush=True)

    async def poll(http):
        nonlocal requests, errors
        while True:
            started = time.monotonic()
            if polling:
                for path in paths:
                    async with http.get(path) as response:
                        await response.read()
                        requests += 1
                        errors += response.status >= 500
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {token}"}) as http:
        poller = asyncio.ensure_future(poll(http))
        await commands()
        poller.cancel()
    print(json.dumps({"requests": requests, "errors": errors}), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
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


def _config(folder: Path) -> str:
    return f"""\
[journal]
path = "{folder / "journal.sqlite"}"

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
    return settled / elapsed, cpu / settled, end


async def main(args: argparse.Namespace) -> dict[str, object]:
    os.environ["BENCH_ADMIN_TOKEN"] = TOKEN
    logging.basicConfig(level=logging.ERROR)  # each rejection is a warning: not the bench's cost
    with tempfile.TemporaryDirectory() as folder:
        loaded = parse_config(_config(Path(folder)), file="bench.toml", base_dir=Path(folder))
        async with Mediator(loaded, flows={"bench": _factory}) as mediator:
            counter = await _produce(mediator, producers=args.producers, seconds=2.0, start=0)
            dead = await mediator.dead_letters(DeadLetterFilter(), limit=1)
            assert dead, "the warm-up made no dead letter to read"
            paths = [
                "/healthz", "/readyz", "/flows", "/systems", "/posting-windows",
                "/dead-letters?limit=50", f"/dead-letters/{dead[0].id}",
                f"/entities/{dead[0].key}", "/approvals", "/audit",
            ]  # fmt: skip
            if args.only:
                paths = [p for p in paths if p.split("?")[0].rstrip("/").count("/") and
                         any(p.startswith(o) for o in args.only)]  # fmt: skip
            assert mediator.admin_address is not None
            host, port = mediator.admin_address
            dashboard = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _DASHBOARD, f"http://{host}:{port}", TOKEN,
                json.dumps(paths), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert dashboard.stdin is not None
            assert dashboard.stdout is not None

            async def switch(on: bool) -> None:
                dashboard.stdin.write(b"on\n" if on else b"off\n")  # type: ignore[union-attr]
                await dashboard.stdout.readline()  # type: ignore[union-attr]

            rates: dict[bool, list[float]] = {False: [], True: []}
            costs: dict[bool, list[float]] = {False: [], True: []}
            ratios: list[float] = []
            cost_ratios: list[float] = []
            for index in range(args.rounds):
                pair: dict[bool, float] = {}
                cost: dict[bool, float] = {}
                for polling in (False, True) if index % 2 == 0 else (True, False):
                    await switch(polling)
                    pair[polling], cost[polling], counter = await _segment(
                        mediator, args=args, start=counter
                    )
                    rates[polling].append(pair[polling])
                    costs[polling].append(cost[polling])
                ratios.append(pair[True] / pair[False])
                cost_ratios.append(cost[True] / cost[False])
            out, _ = await dashboard.communicate(b"stop\n")
            polled = json.loads(out.splitlines()[-1])
    without = statistics.median(rates[False])
    with_dashboard = statistics.median(rates[True])
    return {
        "machine": machine(),
        "producers": args.producers,
        "seconds_per_round": args.seconds,
        "rounds": args.rounds,
        "entries_per_s_without_dashboard": round(without, 1),
        "entries_per_s_with_dashboard": round(with_dashboard, 1),
        # each round's pair ran back to back: the median of their ratios cancels the drift of a
        # shared machine better than the ratio of the medians
        "slowdown_percent": round(100.0 * (1.0 - statistics.median(ratios)), 2),
        "slowdown_percent_of_medians": round(100.0 * (without - with_dashboard) / without, 2),
        "cpu_us_per_entry_without": round(1e6 * statistics.median(costs[False]), 1),
        "cpu_us_per_entry_with": round(1e6 * statistics.median(costs[True]), 1),
        # CPU per entry: the dashboard's cost to the daemon with other tenants' noise removed
        "cpu_per_entry_increase_percent": round(100.0 * (statistics.median(cost_ratios) - 1), 2),
        "every_round": {
            "without": [round(r, 1) for r in rates[False]],
            "with": [round(r, 1) for r in rates[True]],
        },
        "dashboard_requests": polled,
        "dashboard_paths": paths,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--producers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="4 rounds instead of 12: a smoke run")
    parser.add_argument(
        "--only", nargs="*", help="poll only the endpoints starting with these (to find a cost)"
    )
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.rounds = min(arguments.rounds, 4)
    print(json.dumps(asyncio.run(main(arguments)), indent=2))
