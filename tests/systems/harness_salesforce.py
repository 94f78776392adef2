"""The Salesforce connector against the Salesforce sandbox, for the conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from mediator.codecs.salesforce_wire import SfAccount
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.systems import Command, Secret
from mediator.systems.salesforce import (
    ClientCredentials,
    SalesforceConnector,
    UpsertRecord,
)
from mediator.testing.clock import FakeClock

PAGE_SIZE = 5


class SalesforceHarness:
    """Accounts upserted by ``External_Id__c``; SOQL pages of five records."""

    system = "salesforce"
    page_size = PAGE_SIZE

    def __init__(
        self, clock: FakeClock, sandbox: SalesforceSandbox, connector: SalesforceConnector
    ) -> None:
        self.clock = clock
        self.sandbox = sandbox
        self.connector = connector

    def install_faults(self, plan: FaultPlan) -> None:
        self.sandbox.faults.install(plan)

    async def expire_credentials(self) -> None:
        # sessions live token_ttl seconds at the org; let the current one run out
        await self.clock.advance(self.sandbox.token_ttl)

    def logins(self) -> int:
        return self.connector.auth.logins

    async def seed_readable(self, count: int) -> Sequence[str]:
        return [self.sandbox.store.create("Account", {"Name": f"Seed {i}"}) for i in range(count)]

    async def read_all(self) -> Sequence[str]:
        records = await self.connector.query_all("SELECT Id, Name FROM Account", SfAccount)
        return [r.Id for r in records]

    def write(self, key: str, *, valid: bool = True) -> Command:
        return UpsertRecord(
            idempotency_key=key,
            sobject="Account",
            fields={"Name": f"Client {key}" if valid else None},
        )

    async def count_written(self, key: str) -> int:
        return len(self.sandbox.store.find_by("Account", "External_Id__c", key))


@asynccontextmanager
async def open_harness(
    *, daily_api_requests: int = 100_000, client_secret: str = "sandbox-secret"
) -> AsyncIterator[SalesforceHarness]:
    clock = FakeClock()
    sandbox = SalesforceSandbox(
        clock=clock, query_batch_size=PAGE_SIZE, daily_api_requests=daily_api_requests
    )
    async with open_sandbox(sandbox) as url:
        registry = PolicyRegistry(default_policy_config(), clock=clock, random=lambda: 0.5)
        connector = SalesforceConnector(
            base_url=url,
            policies=registry,
            clock=clock,
            credentials=ClientCredentials(
                login_url=url, client_id="mediator", client_secret=Secret(client_secret)
            ),
        )
        try:
            if client_secret == "sandbox-secret":
                await connector.auth.session()  # log in first: faults then hit API calls
            yield SalesforceHarness(clock, sandbox, connector)
        finally:
            await connector.aclose()
