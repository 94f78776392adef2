"""A seeded Harvest account served over loopback, for the Harvest sandbox's tests."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.testing import FakeClock

HEADERS = {
    "Authorization": "Bearer sandbox-token",
    "Harvest-Account-Id": "1234567",
    "User-Agent": "mediator tests (ops@example.com)",
}


@dataclass
class Account:
    box: HarvestSandbox
    url: str
    http: aiohttp.ClientSession
    project: int
    task: int
    user: int

    async def call(
        self,
        method: str,
        path: str,
        json: object = None,
        headers: dict[str, str] | None = None,
        **kw: Any,
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """Status, JSON body (the sandbox's answer, Any: the test asserts its shape; {} when
        not JSON) and headers."""
        async with self.http.request(
            method,
            self.url + path,
            json=json,
            headers=HEADERS if headers is None else headers,
            **kw,
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else {}
            return resp.status, body, resp.headers


def record_id(record: dict[str, object]) -> int:
    """The ``id`` the sandbox's store gave `record`."""
    found = record["id"]
    assert isinstance(found, int), record
    return found


@asynccontextmanager
async def open_account(clock: FakeClock, http: aiohttp.ClientSession) -> AsyncIterator[Account]:
    """Serve an account with a client, a user (``me``), a task and a project assigning both."""
    box = HarvestSandbox(clock=clock)
    store = box.store
    client = store.create("clients", {"name": "ACME", "currency": "EUR"})
    user = store.create(
        "users",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "cost_rate": 80.0,
        },
    )
    task = store.create("tasks", {"name": "Consulting"})
    project = store.create(
        "projects",
        {
            "client_id": client["id"],
            "name": "Revamp",
            "code": "P-1",
            "is_billable": True,
            "bill_by": "People",
            "budget_by": "none",
        },
    )
    store.create(
        "user_assignments",
        {"project_id": project["id"], "user_id": user["id"], "hourly_rate": 150.0},
    )
    store.create("task_assignments", {"project_id": project["id"], "task_id": task["id"]})
    box.me = record_id(user)
    async with open_sandbox(box) as url:
        yield Account(box, url, http, record_id(project), record_id(task), record_id(user))
