"""Several `mediator run` processes on one PostgreSQL journal, running the approved-time path.

The sandboxes (Harvest and Tryton, seeded with a firm of a few hundred approved entries,
approved day by day while the daemons run) are in this test's process; each daemon is a child
process with its own config naming the same scratch schema. What the daemons did is read in
the ERP sandbox (one timesheet line per entry, whoever posted it) and in the lease table.
Time here is real (other processes): conditions are polled with a deadline, never slept on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from mediator.clock import SystemClock
from mediator.cluster import PARTITIONS
from mediator.journal import EntryState
from mediator.journal.postgres import open_postgres_journal
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.config_tables import env_secrets, systems_toml
from mediator.sandbox.faults import FaultPlan, Outage
from mediator.sandbox.generator import Firm, generate_firm
from mediator.sandbox.seeding import approve_through
from mediator.testing.onboarded import record_onboarding
from mediator.testing.postgres import TEST_DSN
from tests.runtime.support import SECRETS, erp_lines

pytestmark = [pytest.mark.cluster, pytest.mark.slow]  # real processes

SEED = 7
ROOT = Path(__file__).parents[2]


class Daemon:
    """A `mediator run` child process; its JSON log lines are read as they come."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.records: list[dict[str, object]] = []
        self._reading = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            try:
                self.records.append(json.loads(raw))
            except ValueError:
                self.records.append({"message": raw.decode(errors="replace")})

    async def cluster_health(self) -> dict[str, object]:
        """The cluster part of this daemon's `/healthz`."""
        ready = str(self.logged("ready:")[0]["message"])
        url = ready.split("health on ")[1].split(",")[0] + "/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            body = await response.json()
        return dict(body["parts"]["cluster"])

    def logged(self, fragment: str) -> list[dict[str, object]]:
        return [r for r in self.records if fragment in str(r.get("message"))]

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
                self.process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(20):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reading


class Cluster:
    """The sandboxes, the schema, and the daemons started on them."""

    def __init__(self, tmp: Path, boxes: Sandboxes, firm: Firm, schema: str) -> None:
        self.tmp, self.boxes, self.firm, self.schema = tmp, boxes, firm, schema
        self.daemons: dict[str, Daemon] = {}
        creds = boxes.credentials()
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            SECRETS["harvest"]: creds["harvest"]["token"],
            SECRETS["tryton"]: creds["tryton"]["password"],
        }

    async def start(self, name: str, *, lease_ttl: float, renew_every: float) -> Daemon:
        config = self.tmp / f"{name}.toml"
        config.write_text(
            f"""\
time_zone = "Europe/Berlin"

[journal]
dsn = "{TEST_DSN}"
schema = "{self.schema}"
drain_timeout = 1.0

[cluster]
daemon_id = "{name}"
lease_ttl = {lease_ttl}
renew_every = {renew_every}
intake_interval = 0.2

{systems_toml(self.boxes, env_secrets(SECRETS))}
[flows.approved_time.options]
account_currency = "USD"

[ingress.pollers.harvest_time]
interval = 0.5

[admin]
listen = "127.0.0.1:0"
""",
            encoding="utf-8",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mediator.cli", "run", "--config", str(config),
            "--log-format", "json",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=self.env,
        )  # fmt: skip
        daemon = self.daemons[name] = Daemon(name, process)
        await until(lambda: bool(daemon.logged("ready:")) or process.returncode is not None)
        assert process.returncode is None, daemon.records
        return daemon

    async def holdings(self) -> Counter[str]:
        """Live partition leases by owner (expired ones are nobody's)."""
        conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": self.schema})
        try:
            rows = await conn.fetch(
                "SELECT owner, count(*) AS n FROM leases WHERE name LIKE 'partition/%' "
                "AND owner IS NOT NULL "
                "AND expires_at > extract(epoch from clock_timestamp()) GROUP BY owner"
            )
        finally:
            await conn.close()
        return Counter({r["owner"]: r["n"] for r in rows})

    async def in_flight_of(self, owner: str) -> int:
        conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": self.schema})
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM entries e JOIN leases l "
                    "ON l.name = 'partition/' || e.partition "
                    "WHERE e.state = $1 AND l.owner = $2",
                    int(EntryState.IN_FLIGHT),
                    owner,
                )
            )
        finally:
            await conn.close()

    def approved(self) -> int:
        assert self.boxes.harvest is not None
        table = self.boxes.harvest.store.tables["time_entries"]
        return sum(1 for r in table.values() if r["is_closed"])

    def check_effects(self) -> None:
        """Every approved entry has exactly one ERP line: nothing doubled, nothing lost; and
        no daemon logged a traceback."""
        for daemon in self.daemons.values():
            assert not daemon.logged("Traceback"), daemon.logged("Traceback")
            assert not [r for r in daemon.records if r.get("exc_info") or r.get("exception")]
        descriptions = Counter(str(row["description"]) for row in erp_lines(self.boxes))
        doubled = {d: n for d, n in descriptions.items() if n > 1}
        assert not doubled, doubled
        assert len(descriptions) == self.approved()


async def until(condition: Callable[[], bool | Awaitable[bool]], *, timeout: float = 30.0) -> float:
    """Poll `condition` (other processes' doing) every 50 ms up to `timeout`; the time taken."""
    began = time.monotonic()
    async with asyncio.timeout(timeout):
        while True:
            outcome = condition()
            if not isinstance(outcome, bool):
                outcome = await outcome
            if outcome:
                return time.monotonic() - began
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def approving(cluster: Cluster, *, every: float) -> AsyncIterator[asyncio.Task[None]]:
    """Approve the month's entries day by day in the PSA while the daemons run."""
    boxes, firm = cluster.boxes, cluster.firm
    assert boxes.harvest is not None
    harvest = boxes.harvest

    async def days() -> None:
        for day in range(1, 31):
            approve_through(firm, harvest, boxes.index, firm.month.replace(day=day))
            await asyncio.sleep(every)

    task = asyncio.ensure_future(days())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def cluster(tmp_path: Path, schema: str) -> AsyncIterator[Cluster]:
    firm = generate_firm(seed=SEED, size=6)
    async with open_sandboxes(
        products=("harvest", "tryton"),
        clock=SystemClock(),
        seed=SEED,
        firm=firm,
        as_of=firm.month,
        # slow ERP answers: deliveries are under way when a daemon is killed or paused
        faults={"tryton": FaultPlan(latency=0.05)},
    ) as boxes:
        async with open_postgres_journal(TEST_DSN, clock=SystemClock(), schema=schema) as journal:
            await record_onboarding(journal, firm, boxes)
        running = Cluster(tmp_path, boxes, firm, schema)
        try:
            yield running
        finally:
            await asyncio.gather(*(d.stop() for d in running.daemons.values()))


def near(count: int, daemons: int) -> bool:
    share = PARTITIONS / daemons
    return share - 3 <= count <= share + 3


async def test_a_killed_daemon_is_replaced_an_outage_ridden_and_a_joiner_gets_its_share(
    cluster: Cluster,
) -> None:
    for name in ("d1", "d2", "d3"):
        await cluster.start(name, lease_ttl=6.0, renew_every=2.0)  # the defaults
    async with approving(cluster, every=0.2) as approvals:
        await until(lambda: len(erp_lines(cluster.boxes)) > 0)  # work is under way
        await until(lambda: _spread(cluster, 3), timeout=15)
        # a fourth joins mid-run: each holds about a quarter
        await cluster.start("d4", lease_ttl=6.0, renew_every=2.0)
        joined = await until(lambda: _spread(cluster, 4), timeout=15)
        print(f"rebalance after a fourth joined: {joined:.1f} s")
        # one is killed mid-run: its partitions are taken within the lease time
        killed = cluster.daemons["d2"]
        killed.process.kill()
        took = await until(lambda: _all_held_by(cluster, {"d1", "d3", "d4"}), timeout=15)
        print(f"takeover after SIGKILL: {took:.1f} s (lease_ttl 6 s, renew_every 2 s)")
        assert took <= 10.0
        # then the ERP goes down for 3 s (503s) and loses one answer in twenty after it has
        # committed: the survivors retry, and find by its key what a lost answer made
        assert cluster.boxes.tryton is not None
        cluster.boxes.tryton.faults.install(
            FaultPlan(latency=0.05, outages=(Outage(start=0.0, end=3.0),), drop_rate=0.05)
        )
        await approvals
        await until(lambda: len(erp_lines(cluster.boxes)) >= cluster.approved(), timeout=60)
    await until(lambda: _spread(cluster, 3), timeout=15)
    cluster.check_effects()
    faults = cluster.boxes.tryton.faults.statistics()
    assert faults.outages > 0, faults  # the ERP was down
    assert faults.drops > 0, faults  # and answers were lost
    assert sum(len(d.logged("took over")) for d in cluster.daemons.values()) >= 3
    # each daemon's /healthz says what it holds; the poller runs on exactly one of them
    held = await cluster.holdings()
    parts = {name: await cluster.daemons[name].cluster_health() for name in ("d1", "d3", "d4")}
    assert {name: part["count"] for name, part in parts.items()} == dict(held)
    assert sum("harvest_time" in str(part["detail"]) for part in parts.values()) == 1


async def test_a_paused_daemons_late_marks_are_refused(cluster: Cluster) -> None:
    for name in ("d1", "d2", "d3"):
        await cluster.start(name, lease_ttl=3.0, renew_every=1.0)
    paused = cluster.daemons["d2"]
    async with approving(cluster, every=0.2) as approvals:
        await until(lambda: _spread(cluster, 3), timeout=15)

        async def stopped_with_deliveries_under_way() -> bool:
            # stopped while some of its entries are in flight: their marks will come late
            paused.process.send_signal(signal.SIGSTOP)
            if await _in_flight(cluster, "d2"):
                return True
            paused.process.send_signal(signal.SIGCONT)
            return False

        await until(stopped_with_deliveries_under_way)
        # past its leases: the others take its partitions over and deliver its entries
        await until(lambda: _all_held_by(cluster, {"d1", "d3"}), timeout=15)
        paused.process.send_signal(signal.SIGCONT)
        await until(lambda: _spread(cluster, 3), timeout=15)
        await approvals
        await until(lambda: len(erp_lines(cluster.boxes)) >= cluster.approved(), timeout=60)
    # what it delivered late was refused: its marks by the journal's fence, or (once it holds
    # the partition again under a new epoch) by its own dispatcher
    await until(lambda: bool(paused.logged("fenced:")), timeout=10)
    cluster.check_effects()


async def _in_flight(cluster: Cluster, owner: str) -> bool:
    return await cluster.in_flight_of(owner) > 0


async def _spread(cluster: Cluster, daemons: int) -> bool:
    held = await cluster.holdings()
    return (
        len(held) == daemons
        and sum(held.values()) == PARTITIONS
        and all(near(n, daemons) for n in held.values())
    )


async def _all_held_by(cluster: Cluster, owners: set[str]) -> bool:
    held = await cluster.holdings()
    return set(held) == owners and sum(held.values()) == PARTITIONS
