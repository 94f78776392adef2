"""The Harvest sandbox: required headers, the 100/15 s window, paging, filters, locking."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

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
        **kw: object,
    ) -> tuple[int, dict[str, object], aiohttp.typedefs.LooseHeaders]:
        async with self.http.request(
            method,
            self.url + path,
            json=json,
            headers=HEADERS if headers is None else headers,
            **kw,
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else {}
            return resp.status, body, resp.headers


@pytest.fixture
async def account(clock: FakeClock, http: aiohttp.ClientSession) -> AsyncIterator[Account]:
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
    box.me = int(user["id"])
    async with open_sandbox(box) as url:
        yield Account(box, url, http, int(project["id"]), int(task["id"]), int(user["id"]))


async def test_required_headers(account: Account) -> None:
    no_agent = {k: v for k, v in HEADERS.items() if k != "User-Agent"}
    async with account.http.get(
        account.url + "/v2/clients", headers=no_agent, skip_auto_headers=["User-Agent"]
    ) as resp:
        assert resp.status == 400
    status, body, _ = await account.call(
        "GET", "/v2/clients", headers={**HEADERS, "Authorization": "Bearer nope"}
    )
    assert status == 401
    assert body["error"] == "invalid_token"
    status, _, _ = await account.call(
        "GET", "/v2/clients", headers={**HEADERS, "Harvest-Account-Id": "1"}
    )
    assert status == 403
    status, body, _ = await account.call("GET", "/v2/clients")
    assert status == 200
    assert [c["name"] for c in body["clients"]] == ["ACME"]


async def test_time_entry_shape_rates_and_locking(account: Account) -> None:
    status, entry, _ = await account.call(
        "POST",
        "/v2/time_entries",
        {
            "project_id": account.project,
            "task_id": account.task,
            "spent_date": "2026-11-02",
            "hours": 1.6,
            "notes": "Workshop",
            "external_reference": {"id": "X-1"},
        },
    )
    assert status == 201
    assert entry["user"] == {"id": account.user, "name": "Ada Lovelace"}
    assert entry["client"] == {"id": entry["client"]["id"], "name": "ACME", "currency": "EUR"}
    assert entry["project"]["code"] == "P-1"
    assert (entry["billable"], entry["billable_rate"], entry["cost_rate"]) == (True, 150.0, 80.0)
    assert entry["rounded_hours"] == 1.75
    assert entry["is_locked"] is False
    entry_id = entry["id"]
    status, entry, _ = await account.call(
        "PATCH", f"/v2/time_entries/{entry_id}", {"started_time": "9:00am", "ended_time": "11:30am"}
    )
    assert status == 200
    assert entry["hours"] == 2.5
    account.box.approve("time_entries", [entry_id])
    status, body, _ = await account.call("PATCH", f"/v2/time_entries/{entry_id}", {"hours": 3})
    assert status == 422
    assert "locked" in str(body["message"])
    status, _, _ = await account.call("DELETE", f"/v2/time_entries/{entry_id}")
    assert status == 422
    status, entry, _ = await account.call("GET", f"/v2/time_entries/{entry_id}")
    assert (entry["is_locked"], entry["is_closed"], entry["hours"]) == (True, True, 2.5)


async def test_validation_is_422_with_a_message(account: Account) -> None:
    status, body, _ = await account.call(
        "POST", "/v2/time_entries", {"project_id": account.project}
    )
    assert status == 422
    assert body == {"message": "Task can't be blank"}
    other = account.box.store.create("tasks", {"name": "Unassigned"})
    status, body, _ = await account.call(
        "POST",
        "/v2/time_entries",
        {"project_id": account.project, "task_id": other["id"], "spent_date": "2026-11-02"},
    )
    assert body == {"message": "Task is not assigned to the project"}
    status, body, _ = await account.call("GET", "/v2/time_entries/1")
    assert status == 404


async def test_cursor_pages_and_updated_since(account: Account, clock: FakeClock) -> None:
    for day in range(1, 6):
        await account.call(
            "POST",
            "/v2/time_entries",
            {
                "project_id": account.project,
                "task_id": account.task,
                "spent_date": f"2026-11-0{day}",
                "hours": 1,
            },
        )
    status, page, _ = await account.call("GET", "/v2/time_entries", params={"per_page": "2"})
    assert (page["total_entries"], page["total_pages"], page["page"]) == (5, 3, 1)
    seen = [e["spent_date"] for e in page["time_entries"]]
    # an entry created between pages must neither shift nor repeat the cursor's rows
    await account.call(
        "POST",
        "/v2/time_entries",
        {
            "project_id": account.project,
            "task_id": account.task,
            "spent_date": "2026-11-09",
            "hours": 1,
        },
    )
    next_url = page["links"]["next"]
    while next_url:
        assert "cursor=" in next_url
        async with account.http.get(next_url, headers=HEADERS) as resp:
            page = await resp.json()
        assert page["page"] is None
        seen += [e["spent_date"] for e in page["time_entries"]]
        next_url = page["links"]["next"]
    assert seen == [f"2026-11-0{d}" for d in (5, 4, 3, 2, 1)]
    _, body, _ = await account.call(
        "GET", "/v2/time_entries", params={"external_reference_id": "nope"}
    )
    assert body["time_entries"] == []
    status, body, _ = await account.call("GET", "/v2/time_entries", params={"per_page": "2001"})
    assert status == 422
    await clock.advance(60)
    mark = "2026-09-21T14:14:20Z"
    [first] = account.box.store.find("time_entries", spent_date="2026-11-01")
    await account.call("PATCH", f"/v2/time_entries/{first['id']}", {"notes": "changed"})
    _, body, _ = await account.call("GET", "/v2/time_entries", params={"updated_since": mark})
    assert [e["notes"] for e in body["time_entries"]] == ["changed"]


async def test_sliding_window_gives_429_with_retry_after(
    account: Account, clock: FakeClock
) -> None:
    for _ in range(100):
        status, _, _ = await account.call("GET", "/v2/users/me")
        assert status == 200
    status, body, headers = await account.call("GET", "/v2/users/me")
    assert status == 429
    assert body == {"status": 429, "error": "Too Many Requests"}
    assert headers["Retry-After"] == "15"
    await clock.advance(10)
    status, _, headers = await account.call("GET", "/v2/users/me")
    assert status == 429
    assert headers["Retry-After"] == "5"
    await clock.advance(5)
    status, _, _ = await account.call("GET", "/v2/users/me")
    assert status == 200


async def test_project_scoped_assignments(account: Account) -> None:
    status, body, _ = await account.call("GET", f"/v2/projects/{account.project}/user_assignments")
    assert status == 200
    [assignment] = body["user_assignments"]
    assert assignment["hourly_rate"] == 150.0
    assert assignment["user"]["name"] == "Ada Lovelace"


async def test_time_entries_filter_by_external_reference_id(account: Account) -> None:
    # GET /v2/time_entries documents external_reference_id (apis.md §3.1); other lists don't
    ids = {}
    for ref in ("X-1", "X-2", None):
        body: dict[str, object] = {
            "project_id": account.project,
            "task_id": account.task,
            "spent_date": "2026-11-02",
            "hours": 1,
        }
        if ref is not None:
            body["external_reference"] = {"id": ref, "permalink": f"https://crm.test/{ref}"}
        status, entry, _ = await account.call("POST", "/v2/time_entries", body)
        assert status == 201
        ids[ref] = entry["id"]
    for wanted, expected in (("X-2", [ids["X-2"]]), ("X-1", [ids["X-1"]]), ("X-3", [])):
        status, page, _ = await account.call(
            "GET", "/v2/time_entries", params={"external_reference_id": wanted}
        )
        assert status == 200
        assert [e["id"] for e in page["time_entries"]] == expected
        assert page["total_entries"] == len(expected)
        assert all(e["external_reference"]["id"] == wanted for e in page["time_entries"])
    _, page, _ = await account.call("GET", "/v2/clients", params={"external_reference_id": "X-1"})
    assert [c["name"] for c in page["clients"]] == ["ACME"]  # not a clients filter: ignored
