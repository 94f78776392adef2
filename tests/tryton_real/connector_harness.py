"""The Tryton connector wired to the real trytond fixture, shaped like the conformance harness.

The tests of a session share one database, so every reference carries the test's `tag`. There
is no fault injection on a real server: `install_faults` refuses, and the scenarios that need
it (limit storms, outages, dropped answers) run against the sandbox only.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal

import aiohttp

from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox.faults import FaultPlan
from mediator.systems import Command, Secret
from mediator.systems.tryton import CreateRecord, RecordRef, TrytonConnector
from mediator.testing import FakeClock
from mediator.testing.tryton_server import TrytonServer
from tests.systems.harness_tryton import logout, record_ids


class RealTrytonHarness:
    """A `ConnectorHarness` over the real server; writes are timesheet lines on one project."""

    system = "tryton"
    page_size = 5

    def __init__(
        self,
        clock: FakeClock,
        server: TrytonServer,
        connector: TrytonConnector,
        http: aiohttp.ClientSession,
        tag: str,
    ) -> None:
        self.clock = clock
        self.server = server
        self.connector = connector
        self.http = http
        self.tag = tag
        self.work = 0

    async def start(self) -> None:
        """Create the project whose timesheet work the writes book on."""
        setup = self.server.setup
        (project,) = await self.connector.execute_batch(
            [
                CreateRecord(
                    idempotency_key=f"project:{self.tag}",
                    model="project.work",
                    values={
                        "type": "project",
                        "company": setup.company,
                        "timesheet_available": True,
                        "project_invoice_method": "timesheet",
                        "product": setup.product,
                        "list_price": Decimal("100"),
                    },
                    reference=f"P {self.tag}",
                )
            ]
        )
        assert isinstance(project, RecordRef), project
        (row,) = await self.connector.read("project.work", [project.id], ["timesheet_works"])
        (self.work,) = record_ids(row["timesheet_works"])

    def install_faults(self, plan: FaultPlan) -> None:
        raise NotImplementedError("a real trytond has no fault injection")

    async def expire_credentials(self) -> None:
        session = self.connector.session
        assert session is not None, "the connector has not logged in yet"
        await logout(self.http, self.server.rpc_url, session.authorization())

    def credential_loads(self) -> int:
        return self.connector.credential_loads

    async def seed_readable(self, count: int) -> Sequence[str]:
        ids = await self.connector.call(
            "model.party.party.create",
            [{"name": f"Seed {i}", "code": f"{self.tag}-SEED-{i}"} for i in range(count)],
        )
        assert isinstance(ids, list)
        return [str(i) for i in ids]

    async def read_all(self) -> Sequence[str]:
        rows = await self.connector.search_read(
            "party.party",
            [["code", "like", f"{self.tag}-SEED-%"]],
            ["id"],
            page_size=self.page_size,
        )
        return [str(row["id"]) for row in rows]

    def write(self, key: str, *, valid: bool = True) -> Command:
        setup = self.server.setup
        return CreateRecord(
            idempotency_key=key,
            model="timesheet.line",
            values={
                "company": setup.company,
                "employee": setup.employee,
                "work": self.work,
                "date": dt.date.today(),
                "duration": dt.timedelta(hours=1 if valid else -1),
            },
            reference=self.reference(key),
        )

    def reference(self, key: str) -> str:
        """The description that carries write `key`."""
        return f"{self.tag} [{key}]"

    async def count_written(self, key: str) -> int:
        count = await self.connector.call(
            "model.timesheet.line.search_count", [["description", "=", self.reference(key)]]
        )
        assert isinstance(count, int)
        return count


@asynccontextmanager
async def open_real_harness(server: TrytonServer, tag: str) -> AsyncIterator[RealTrytonHarness]:
    """Connect a TrytonConnector to the fixture server, on a fake clock for its policies."""
    clock = FakeClock()
    policies = PolicyRegistry(default_policy_config(), clock=clock, random=random.Random(7).random)
    async with aiohttp.ClientSession() as http:
        connector = TrytonConnector(
            base_url=server.url,
            database=server.database,
            login=server.login,
            secret=lambda: Secret(server.password, source="fixture"),
            policies=policies,
            clock=clock,
        )
        harness = RealTrytonHarness(clock, server, connector, http, tag)
        try:
            await harness.start()
            yield harness
        finally:
            await connector.aclose()
