"""The Harvest connector against the Harvest sandbox, for the conformance suite."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.systems import Command, load_secret
from mediator.systems.harvest import CreateTimeEntry, HarvestConnector
from mediator.testing.clock import FakeClock
from tests.sandbox.harvest_account import record_id

PAGE_SIZE = 5
ACCOUNT = 1234567


class HarvestHarness:
    """Time entries written once per ``external_reference.id``; pages of five entries.

    The token lives in a file, as a rotated personal access token would: expiring it revokes
    it at the sandbox and writes its successor to the file.
    """

    system = "harvest"
    page_size = PAGE_SIZE

    def __init__(
        self,
        clock: FakeClock,
        sandbox: HarvestSandbox,
        connector: HarvestConnector,
        token_file: Path,
        ids: dict[str, int],
    ) -> None:
        self.clock = clock
        self.sandbox = sandbox
        self.connector = connector
        self.token_file = token_file
        self.ids = ids
        self._rotations = 0

    def install_faults(self, plan: FaultPlan) -> None:
        self.sandbox.faults.install(plan)

    async def expire_credentials(self) -> None:
        old = self.token_file.read_text().strip()
        self._rotations += 1
        new = f"rotated-token-{self._rotations}"
        del self.sandbox.tokens[old]
        self.sandbox.tokens[new] = ACCOUNT
        self.token_file.write_text(new)

    def credential_loads(self) -> int:
        return self.connector.credential_loads

    async def seed_readable(self, count: int) -> Sequence[str]:
        store = self.sandbox.store
        made = [
            store.create("time_entries", {**self._entry(), "notes": f"seed {i}"})
            for i in range(count)
        ]
        self.sandbox.approve("time_entries", [record_id(e) for e in made])
        return [str(e["id"]) for e in made]

    async def read_all(self) -> Sequence[str]:
        changed = await self.connector.approved_time_entries()
        return [str(e.id) for e in changed.records]

    def write(self, key: str, *, valid: bool = True) -> Command:
        return CreateTimeEntry(
            idempotency_key=key, fields={**self._entry(), "hours": 1.5 if valid else -1.0}
        )

    async def count_written(self, key: str) -> int:
        return sum(
            1
            for entry in self.sandbox.store.tables["time_entries"].values()
            if isinstance(ref := entry.get("external_reference"), dict) and ref.get("id") == key
        )

    def _entry(self) -> dict[str, object]:
        return {
            "project_id": self.ids["project"],
            "task_id": self.ids["task"],
            "user_id": self.ids["user"],
            "spent_date": "2026-11-02",
            "hours": 2.0,
        }


def seed_account(sandbox: HarvestSandbox) -> dict[str, int]:
    """A client, a project, a user and a task assigned to it: what time entries need."""
    store = sandbox.store
    client = store.create("clients", {"name": "Acme", "currency": "EUR"})
    user = store.create(
        "users", {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}
    )
    task = store.create("tasks", {"name": "Consulting"})
    project = store.create("projects", {"client_id": client["id"], "name": "Roll-out"})
    store.create("user_assignments", {"project_id": project["id"], "user_id": user["id"]})
    store.create("task_assignments", {"project_id": project["id"], "task_id": task["id"]})
    return {
        name: record_id(record)
        for name, record in (
            ("client", client),
            ("user", user),
            ("task", task),
            ("project", project),
        )
    }


@asynccontextmanager
async def open_harness(*, rate_limit: int = 100) -> AsyncIterator[HarvestHarness]:
    clock = FakeClock()
    sandbox = HarvestSandbox(clock=clock, tokens={"first-token": ACCOUNT}, rate_limit=rate_limit)
    ids = seed_account(sandbox)
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder) / "harvest-token"
        token_file.write_text("first-token")
        async with open_sandbox(sandbox) as url:
            registry = PolicyRegistry(default_policy_config(), clock=clock, random=lambda: 0.5)
            connector = HarvestConnector(
                base_url=url,
                policies=registry,
                clock=clock,
                account_id=str(ACCOUNT),
                secret=lambda: load_secret(f"file:{token_file}"),
                user_agent="mediator tests (ops@example.com)",
                per_page=PAGE_SIZE,
            )
            try:
                yield HarvestHarness(clock, sandbox, connector, token_file, ids)
            finally:
                await connector.aclose()
