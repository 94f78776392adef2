"""The connector conformance suite's seam: what each connector's harness must provide.

Every connector passes the same scenarios (tests/systems/test_conformance.py) against its
sandbox, and the Tryton connector also against a real trytond: credentials that expire and are
refreshed, pagination to the last page, the system's own limit answer with ``Retry-After``,
an outage that opens the breaker and a recovery that closes it, a write whose response is lost
after commit (retried: exactly one record), and a bulk write with one bad item. A harness
adapts one connector and one running system to these scenarios; host teams writing their own
connector implement one too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from mediator.sandbox.faults import FaultPlan
from mediator.systems import Command, Connector
from mediator.testing.clock import FakeClock

__all__ = ["ConnectorHarness", "execute"]


class ConnectorHarness(Protocol):
    """One connector wired to one running system, with the controls the scenarios need.

    The connector and the sandbox share `clock` (a `FakeClock`), so waits (Retry-After,
    backoff, breaker open time, outage windows) pass when the scenario advances it.
    """

    system: str
    clock: FakeClock
    connector: Connector
    #: Records per page the harness reads with (small, so pagination is exercised).
    page_size: int

    def install_faults(self, plan: FaultPlan) -> None:
        """Install `plan` on the system (outage windows count from now on `clock`)."""
        ...

    async def expire_credentials(self) -> None:
        """Make the connector's current token or session invalid at the system."""
        ...

    def logins(self) -> int:
        """How many times the connector has authenticated (token or session requests)."""
        ...

    async def seed_readable(self, count: int) -> Sequence[str]:
        """Create `count` records the connector can list; return their ids."""
        ...

    async def read_all(self) -> Sequence[str]:
        """List every seeded record through the connector (all pages); return their ids."""
        ...

    def write(self, key: str, *, valid: bool = True) -> Command:
        """A create/upsert command whose idempotency key is `key`; `valid=False` makes one the
        system rejects as invalid (a validation error, not a system failure)."""
        ...

    async def count_written(self, key: str) -> int:
        """How many records exist at the system for the write with idempotency key `key`."""
        ...


async def execute(harness: ConnectorHarness, commands: Sequence[Command]) -> Sequence[object]:
    """Run `commands` through the harness's connector as one batch."""
    return await harness.connector.execute_batch(commands)
