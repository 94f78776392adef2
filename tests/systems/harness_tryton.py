"""The Tryton connector against the Tryton sandbox, for the conformance suite.

Writes are timesheet lines on one project, each carrying its reference in the description
(the bad one has a negative duration, which Tryton refuses with a ``UserError``); reads list
seeded parties. Credentials expire the way a Tryton session does: it is logged out at the
server (``common.db.logout`` with the connector's own session), and the next call gets 401.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal

import aiohttp
import msgspec

from mediator.codecs.tryton import TrytonRequest
from mediator.codecs.tryton.rpc import RpcValue
from mediator.codecs.tryton.rpc import encode_request as encode_tryton_request
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox import open_sandbox
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.tryton import TrytonSandbox
from mediator.systems import Command, Secret
from mediator.systems.tryton import CreateRecord, TrytonConnector
from mediator.testing import FakeClock

DATABASE = "tryton"
SEED_PREFIX = "SEED-"


class TrytonHarness:
    system = "tryton"
    page_size = 5

    def __init__(
        self,
        clock: FakeClock,
        sandbox: TrytonSandbox,
        connector: TrytonConnector,
        http: aiohttp.ClientSession,
        url: str,
    ) -> None:
        self.clock = clock
        self.sandbox = sandbox
        self.connector = connector
        self.http = http
        self.url = url
        db = sandbox.db
        setup = sandbox.setup
        [person] = db.create("party.party", [{"name": "Ada Consultant"}])
        [self.employee] = db.create(
            "company.employee", [{"party": person, "company": setup.company}]
        )
        sandbox.employee = self.employee
        [self.project] = db.create(
            "project.work",
            [
                {
                    "name": "P-1 Harness project",
                    "type": "project",
                    "company": setup.company,
                    "timesheet_available": True,
                    "list_price": Decimal("100"),
                }
            ],
        )
        [self.work] = list(db.tables["timesheet.work"])  # the project's, made with it

    def install_faults(self, plan: FaultPlan) -> None:
        # The product's own storm answer states no wait (only Harvest's does); the plan's
        # `retry_after_header` adds it, so the limit scenario can see the wait honoured.
        self.sandbox.faults.install(msgspec.structs.replace(plan, retry_after_header=True))

    async def expire_credentials(self) -> None:
        session = self.connector.session
        assert session is not None, "the connector has not logged in yet"
        await logout(self.http, f"{self.url}/{DATABASE}/rpc/", session.authorization())

    def credential_loads(self) -> int:
        return self.connector.credential_loads

    async def seed_readable(self, count: int) -> Sequence[str]:
        ids = self.sandbox.db.create(
            "party.party",
            [{"name": f"Seed {i}", "code": f"{SEED_PREFIX}{i}"} for i in range(count)],
        )
        return [str(i) for i in ids]

    async def read_all(self) -> Sequence[str]:
        rows = await self.connector.search_read(
            "party.party", [["code", "like", f"{SEED_PREFIX}%"]], ["id"], page_size=self.page_size
        )
        return [str(row["id"]) for row in rows]

    def write(self, key: str, *, valid: bool = True) -> Command:
        company = self.sandbox.setup.company
        return timesheet_line(
            key, work=self.work, employee=self.employee, company=company, valid=valid
        )

    async def count_written(self, key: str) -> int:
        lines = self.sandbox.db.tables["timesheet.line"].values()
        return sum(1 for line in lines if line["description"] == reference_of(key))


def record_ids(value: RpcValue) -> list[int]:
    """`value` (a create's answer, a one2many field) as the list of record ids it must be."""
    assert isinstance(value, list), value
    assert all(isinstance(i, int) for i in value), value
    return [i for i in value if isinstance(i, int)]


def reference_of(key: str) -> str:
    """The description that carries the time entry `key` (its external reference)."""
    return f"Harness work [{key}]"


def timesheet_line(
    key: str, *, work: int, employee: int, company: int, valid: bool = True
) -> CreateRecord:
    """One hour on `work` (minus one hour when not `valid`: Tryton refuses it)."""
    hours = 1 if valid else -1
    return CreateRecord(
        idempotency_key=key,
        model="timesheet.line",
        values={
            "company": company,
            "employee": employee,
            "work": work,
            "date": dt.date(2026, 11, 2),
            "duration": dt.timedelta(hours=hours),
        },
        reference=reference_of(key),
    )


async def logout(http: aiohttp.ClientSession, rpc_url: str, authorization: str) -> None:
    """End the session behind `authorization` at the server, as another client of it could."""
    body = encode_tryton_request(TrytonRequest(id=1, method="common.db.logout", params=[]))
    headers = {"Content-Type": "application/json", "Authorization": authorization}
    async with http.post(rpc_url, data=body, headers=headers) as response:
        assert response.status == 200, await response.text()


@asynccontextmanager
async def open_harness(
    *, sandbox: TrytonSandbox | None = None, clock: FakeClock | None = None
) -> AsyncIterator[TrytonHarness]:
    """Serve a Tryton sandbox on the fake clock and connect a TrytonConnector to it."""
    clock = clock or FakeClock()
    box = sandbox or TrytonSandbox(clock=clock, database=DATABASE)
    async with open_sandbox(box) as url, aiohttp.ClientSession() as http:
        policies = PolicyRegistry(
            default_policy_config(), clock=clock, random=random.Random(7).random
        )
        connector = TrytonConnector(
            base_url=url,
            database=DATABASE,
            login="admin",
            secret=lambda: Secret("admin"),
            policies=policies,
            clock=clock,
        )
        try:
            yield TrytonHarness(clock, box, connector, http, url)
        finally:
            await connector.aclose()
