"""Every value a Harvest request carries is checked before use: Harvest's errors, never a 500.

Each case is one the probes of issues #13 and #14 found answering aiohttp's 500 (a traceback
in the log) or the wrong records: deep JSON, ids as lists, bad times of day, ``hours=abc``, a
5,000-digit id, forged cursors, the same instant in two time zones, page numbers on cursor
pages.
"""

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mediator.sandbox.harvest import HarvestSandbox
from mediator.testing import FakeClock

from .harvest_account import HEADERS, Account, open_account


@pytest.fixture
async def account(clock: FakeClock, http: aiohttp.ClientSession) -> AsyncIterator[Account]:
    async with open_account(clock, http) as found:
        yield found


def entry(account: Account, **extra: object) -> dict[str, object]:
    return {
        "project_id": account.project,
        "task_id": account.task,
        "spent_date": "2026-11-02",
        "hours": 1,
        **extra,
    }


async def raw(account: Account, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    """Status and JSON body (the sandbox's answer, whose shape the test asserts)."""
    kw.setdefault("headers", HEADERS)
    async with account.http.request(method, account.url + path, **kw) as resp:
        assert resp.content_type == "application/json", await resp.text()
        return resp.status, await resp.json()


async def test_a_deeply_nested_body_is_400_malformed_json(account: Account) -> None:
    deep = b'{"notes":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    status, body = await raw(
        account,
        "POST",
        "/v2/time_entries",
        data=deep,
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert status == 400
    assert isinstance(body, dict)
    assert body["status"] == 400
    assert "Malformed JSON" in str(body["error"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("project_id", [1], "Project is invalid"),
        ("project_id", {"id": 1}, "Project is invalid"),
        ("task_id", True, "Task is invalid"),
        ("task_id", 10**30, "Task is invalid"),
        ("hours", "abc", "Hours is invalid"),
        ("hours", [1], "Hours is invalid"),
        ("spent_date", "2026-13-45", "Spent date is invalid"),
        ("spent_date", 20261102, "Spent date is invalid"),
        ("notes", {"a": 1}, "Notes is invalid"),
        ("started_time", "25:99", "Started time is invalid"),
        ("started_time", "13:00pm", "Started time is invalid"),
        ("ended_time", ["8:00am"], "Ended time is invalid"),
        ("external_reference", "X-1", "External reference is invalid"),
        ("external_reference", {"id": [1]}, "External reference is invalid"),
    ],
)
async def test_a_json_field_of_the_wrong_type_is_422_naming_it(
    account: Account, field: str, value: object, message: str
) -> None:
    status, body, _ = await account.call(
        "POST", "/v2/time_entries", entry(account, **{field: value})
    )
    assert (status, body) == (422, {"message": message})
    assert account.box.store.tables["time_entries"] == {}


async def test_form_fields_are_cast_or_refused(account: Account) -> None:
    form = {k: str(v) for k, v in entry(account).items()} | {"hours": "1.5"}
    status, created = await raw(account, "POST", "/v2/time_entries", data=form)
    assert status == 201
    assert isinstance(created, dict)
    assert (created["hours"], created["project"]["id"]) == (1.5, account.project)
    for field, value, message in (
        ("hours", "abc", "Hours is invalid"),
        ("project_id", "P-1", "Project is invalid"),
        ("started_time", "noon", "Started time is invalid"),
        ("spent_date", "yesterday", "Spent date is invalid"),
    ):
        status, body = await raw(account, "POST", "/v2/time_entries", data={**form, field: value})
        assert (status, body) == (422, {"message": message})


async def test_times_of_day_in_either_format_give_the_hours(account: Account) -> None:
    for started, ended, hours in (("8:00am", "11:30am", 3.5), ("08:00", "17:15", 9.25)):
        body = entry(account, started_time=started, ended_time=ended)
        del body["hours"]
        status, created, _ = await account.call("POST", "/v2/time_entries", body)
        assert status == 201
        assert (created["hours"], created["started_time"]) == (hours, started)
    body = entry(account, started_time="5:00pm", ended_time="9:00am")
    del body["hours"]
    status, refused, _ = await account.call("POST", "/v2/time_entries", body)
    assert (status, refused) == (422, {"message": "Ended time must be after the started time"})


@pytest.mark.parametrize("path", ["/v2/time_entries/" + "9" * 5000, "/v2/clients/" + "1" * 20])
async def test_an_id_too_long_for_any_record_is_404(account: Account, path: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        status, body = await raw(account, method, path, json={})
        assert (status, body) == (404, {"status": 404, "error": "Not Found"})


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!not-base64!!!",
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _cursor({"after": 1}),
        _cursor(["2026-11-01"]),
        _cursor(["2026-11-01", "1"]),
        _cursor([[], 1]),
        _cursor(["2026-11-01", 10**40]),
        _cursor("[" * 5000),
        "A" * 5000,
    ],
)
async def test_a_forged_cursor_is_422(account: Account, cursor: str) -> None:
    status, body, _ = await account.call("GET", "/v2/time_entries", params={"cursor": cursor})
    assert (status, body) == (422, {"message": "cursor is invalid"})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"per_page": "abc"}, "per_page must be an integer"),
        ({"per_page": "0"}, "per_page must be between 1 and 2000"),
        ({"page": "0"}, "page must be 1 or more"),
        ({"page": "9" * 5000}, "page must be an integer"),
        ({"project_id": "[1]"}, "project_id must be an integer"),
        ({"is_billed": "maybe"}, "is_billed must be true or false"),
        (
            {"approval_status": "done"},
            "approval_status must be one of unsubmitted, submitted, approved",
        ),
        ({"updated_since": "yesterday"}, "updated_since is not a valid ISO 8601 date-time"),
        ({"from": "2026-02-30"}, "from is not a valid date"),
        ({"to": "soon"}, "to is not a valid date"),
    ],
)
async def test_a_bad_query_parameter_is_422_naming_it(
    account: Account, params: dict[str, str], message: str
) -> None:
    status, body, _ = await account.call("GET", "/v2/time_entries", params=params)
    assert (status, body) == (422, {"message": message})


async def test_updated_since_compares_instants_in_any_zone(
    account: Account, clock: FakeClock
) -> None:
    status, first, _ = await account.call("POST", "/v2/time_entries", entry(account))
    assert status == 201
    created = dt.datetime.strptime(first["updated_at"], "%Y-%m-%dT%H:%M:%S%z")
    await clock.advance(3600)
    await account.call("PATCH", f"/v2/time_entries/{first['id']}", {"notes": "changed"})
    await clock.advance(3600)
    status, second, _ = await account.call("POST", "/v2/time_entries", entry(account))
    # between the first entry's change and the second entry, written in several zones
    mark = created + dt.timedelta(minutes=90)
    east, west = dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))
    for since in (
        mark.strftime("%Y-%m-%dT%H:%M:%SZ"),
        mark.astimezone(east).isoformat(),
        mark.astimezone(west).isoformat(),
        mark.replace(tzinfo=None).isoformat(),  # naive: UTC
    ):
        status, page, _ = await account.call(
            "GET", "/v2/time_entries", params={"updated_since": since}
        )
        assert status == 200, since
        assert [e["id"] for e in page["time_entries"]] == [second["id"]], since
    # as text "…T14:30+02:00" sorts after "…T13:00Z" though it is the earlier instant
    early = (created + dt.timedelta(minutes=30)).astimezone(east).isoformat()
    status, page, _ = await account.call("GET", "/v2/time_entries", params={"updated_since": early})
    assert {e["id"] for e in page["time_entries"]} == {first["id"], second["id"]}


async def test_cursor_pages_number_only_the_first_and_the_last(account: Account) -> None:
    for day in range(1, 8):
        await account.call("POST", "/v2/time_entries", entry(account, spent_date=f"2026-11-0{day}"))
    _, page, _ = await account.call("GET", "/v2/time_entries", params={"per_page": "3"})
    assert (page["page"], page["next_page"], page["previous_page"], page["total_pages"]) == (
        1,
        2,
        None,
        3,
    )
    assert page["links"]["first"].endswith("ref=first&per_page=3")
    pages = []
    next_url = page["links"]["next"]
    while next_url:
        async with account.http.get(next_url, headers=HEADERS) as resp:
            page = await resp.json()
        pages.append(page)
        next_url = page["links"]["next"]
    middle, last = pages
    assert (middle["page"], middle["next_page"], middle["previous_page"]) == (None, None, None)
    assert middle["links"]["previous"] is None
    assert (last["page"], last["next_page"], last["previous_page"]) == (3, None, 2)
    assert "page=2" in last["links"]["previous"]
    assert [len(p["time_entries"]) for p in pages] == [3, 1]


async def test_bad_json_to_the_approval_route_is_400(account: Account) -> None:
    for data in (b"{nope", b'{"time_entries": "1"}', b'{"time_entries": [' + b"9" * 5000 + b"]}"):
        async with account.http.post(account.url + "/__sandbox/approve", data=data) as resp:
            assert resp.status == 400, data
            assert "error" in await resp.json()
    async with account.http.post(
        account.url + "/__sandbox/approve", json={"time_entries": [123]}
    ) as resp:
        assert resp.status == 404


def test_a_body_too_large_is_harvests_error_shape() -> None:
    response = HarvestSandbox().error_response(413, "Request Entity Too Large")
    assert response.status == 413
    assert response.content_type == "application/json"
    assert response.body == b'{"status":413,"error":"Request Entity Too Large"}'
