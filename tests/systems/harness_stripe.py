"""The Stripe connector against the Stripe sandbox, for the conformance suite.

Writes are invoice items billed to one customer (the bad one names a customer that does not
exist: 404 ``resource_missing``); reads list the seeded customers. Credentials "expire" the way
a Stripe key does: it is rolled, the old one is refused with 401, and the connector re-reads
the new one from its key source.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import msgspec

from mediator.codecs import InvoiceLine, Money
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox import open_sandbox
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.stripe import StripeSandbox
from mediator.systems import Command, Secret
from mediator.systems.stripe import AddInvoiceItem, StripeConnector
from mediator.testing import FakeClock

SEED_EMAIL = "seed@harness.test"


class KeyRing:
    """The key file the connector re-reads: `roll()` replaces the key at the sandbox and here."""

    def __init__(self, sandbox: StripeSandbox, key: str) -> None:
        self.sandbox = sandbox
        self.key = key
        sandbox.api_keys = {key}

    def load(self) -> Secret:
        return Secret(self.key, source="harness key ring")

    def roll(self) -> None:
        self.key = self.key + "x"
        self.sandbox.api_keys = {self.key}


class StripeHarness:
    system = "stripe"
    page_size = 5

    def __init__(
        self,
        clock: FakeClock,
        sandbox: StripeSandbox,
        connector: StripeConnector,
        keys: KeyRing,
        customer: str,
    ) -> None:
        self.clock = clock
        self.sandbox = sandbox
        self.connector = connector
        self.keys = keys
        self.customer = customer

    def install_faults(self, plan: FaultPlan) -> None:
        # The product's own storm answer states no wait (only Harvest's does); the plan's
        # `retry_after_header` adds it, so the limit scenario can see the wait honoured.
        self.sandbox.faults.install(msgspec.structs.replace(plan, retry_after_header=True))

    async def expire_credentials(self) -> None:
        self.keys.roll()

    def credential_loads(self) -> int:
        return self.connector.credential_loads

    async def seed_readable(self, count: int) -> Sequence[str]:
        store = self.sandbox.store
        made = [
            store.create_customer({"name": f"Seed {i}", "email": SEED_EMAIL}) for i in range(count)
        ]
        return [str(c["id"]) for c in made]

    async def read_all(self) -> Sequence[str]:
        customers = await self.connector.list_customers(email=SEED_EMAIL, page_size=self.page_size)
        return [c.id for c in customers]

    def write(self, key: str, *, valid: bool = True) -> Command:
        return item(key, customer=self.customer if valid else "cus_doesnotexist")

    async def count_written(self, key: str) -> int:
        items = self.sandbox.store.invoiceitems.values()
        return sum(
            1
            for i in items
            if isinstance(metadata := i["metadata"], dict)
            and metadata.get("mediator_origin") == key
        )


def item(key: str, *, customer: str, cents: int = 12_500) -> AddInvoiceItem:
    """An invoice item of `cents` USD for `customer`, billing the origin `key`."""
    money = Money(amount=cents, currency="USD")
    line = InvoiceLine(description=f"Work {key}", unit_amount=money, amount=money, origin_id=key)
    return AddInvoiceItem(idempotency_key=key, customer=customer, line=line)


@asynccontextmanager
async def open_harness(
    *, sandbox: StripeSandbox | None = None, clock: FakeClock | None = None
) -> AsyncIterator[StripeHarness]:
    """Serve a Stripe sandbox on the fake clock and connect a StripeConnector to it."""
    clock = clock or FakeClock()
    box = sandbox or StripeSandbox(clock=clock)
    keys = KeyRing(box, "sk_test_harness")
    async with open_sandbox(box) as url:
        policies = PolicyRegistry(
            default_policy_config(), clock=clock, random=random.Random(7).random
        )
        connector = StripeConnector(base_url=url, policies=policies, clock=clock, secret=keys.load)
        customer = box.store.create_customer(
            {"name": "Harness Ltd", "email": "ap@harness.test", "currency": "usd"}
        )
        try:
            yield StripeHarness(clock, box, connector, keys, str(customer["id"]))
        finally:
            await connector.aclose()
