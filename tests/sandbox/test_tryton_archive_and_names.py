"""The Tryton sandbox hides archived records and answers bad names and arguments as trytond.

Each case was seen on a real trytond 8.2 (tests/tryton_real/hostile.py compares the two);
before these fixes the sandbox returned inactive records from every search, answered 403 to
unknown namespaces and ran calls with missing or extra arguments.
"""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.codecs.tryton.rpc import loads as tryton_loads
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.tryton import TrytonSandbox, session_header
from mediator.testing import FakeClock

Answer = tuple[int, Any]  # status and body: the parsed JSON, or the text of a non-JSON one


class Erp:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url, self.http = url + "/tryton/rpc/", http
        self.auth = ""
        self.context: dict[str, Any] = {}

    async def send(self, method: str, *params: object) -> Answer:
        headers = {"Content-Type": "application/json", "Authorization": self.auth}
        body = tryton_dumps({"id": 1, "method": method, "params": list(params)})
        async with self.http.post(self.url, data=body, headers=headers) as resp:
            raw = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, tryton_loads(raw)
            return resp.status, raw.decode()

    async def call(self, method: str, *args: object, **context: object) -> Any:
        """The call's result: the sandbox's JSON, whose shape the test asserts."""
        status, body = await self.send(method, *args, {**self.context, **context})
        assert status == 200, body
        assert isinstance(body, dict)
        assert "result" in body, body
        return body["result"]

    async def error(self, method: str, *args: object) -> Any:
        """The call's error: the sandbox's JSON, whose shape the test asserts."""
        status, body = await self.send(method, *args, self.context)
        assert status == 200, body
        assert isinstance(body, dict)
        assert "error" in body, body
        return body["error"]


@pytest.fixture
async def erp(clock: FakeClock, http: aiohttp.ClientSession) -> AsyncIterator[Erp]:
    async with open_sandbox(TrytonSandbox(clock=clock)) as url:
        erp = Erp(url, http)
        _, body = await erp.send("common.db.login", "admin", {"password": "admin"}, "en")
        assert isinstance(body, dict)
        user, key, _ = body["result"]
        erp.auth = session_header("admin", user, key)
        erp.context = await erp.call("model.res.user.get_preferences", True)
        yield erp


@pytest.fixture
async def parties(erp: Erp) -> tuple[int, int]:
    archived, live = await erp.call(
        "model.party.party.create", [{"name": "Old", "code": "A-1"}, {"name": "New", "code": "L-1"}]
    )
    await erp.call("model.party.party.write", [archived], {"active": False})
    return archived, live


MINE = ["code", "in", ["A-1", "L-1"]]


async def test_searches_hide_archived_records_unless_asked(
    erp: Erp, parties: tuple[int, int]
) -> None:
    archived, live = parties
    assert await erp.call("model.party.party.search", [MINE]) == [live]
    assert await erp.call("model.party.party.search_count", [MINE]) == 1
    assert await erp.call("model.party.party.search_read", [MINE], 0, None, None, ["code"]) == [
        {"id": live, "code": "L-1"}
    ]
    for off in (False, 0, None):  # trytond tests the context value's truth
        found = await erp.call("model.party.party.search", [MINE], active_test=off)
        assert sorted(found) == sorted(parties)
    assert await erp.call("model.party.party.search_count", [MINE], active_test=False) == 2
    # the archived record is still read by id
    [row] = await erp.call("model.party.party.read", [archived], ["code", "active"])
    assert row == {"id": archived, "code": "A-1", "active": False}


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ([MINE, ["active", "=", False]], ["archived"]),
        ([MINE, ["active", "in", [True, False]]], ["archived", "live"]),
        ([MINE, ["active", "!=", True]], ["archived"]),
        (["OR", ["code", "=", "A-1"], ["code", "=", "L-1"]], ["live"]),
        (["OR", ["code", "=", "A-1"], ["active", "=", False]], ["archived"]),
        # a level that names active keeps no implicit filter, but the levels above it do
        ([MINE, ["OR", ["active", "=", False], ["code", "=", "-"]]], []),
    ],
)
async def test_a_domain_level_naming_active_drops_the_implicit_filter(
    erp: Erp, parties: tuple[int, int], domain: list[object], expected: list[str]
) -> None:
    labels = dict(zip(parties, ("archived", "live"), strict=True))
    found = await erp.call("model.party.party.search", domain)
    assert isinstance(found, list)
    assert sorted(labels.get(i, "other") for i in found) == expected


async def test_an_archived_record_is_read_only_but_for_active(
    erp: Erp, parties: tuple[int, int]
) -> None:
    archived, live = parties
    refused = 'You are not allowed to modify the field "Name" in record "Old" of "Party".'
    for values in ({"name": "Renamed"}, {"active": True, "name": "Renamed"}):
        error = await erp.error("model.party.party.write", [archived], values)
        assert error == ["UserError", [refused, "", None]]
    error = await erp.error("model.party.party.write", [live, archived], {"name": "Both"})
    assert error == ["UserError", [refused, "", None]]
    [row] = await erp.call("model.party.party.read", [live], ["name"])
    assert row["name"] == "New"  # the refused call changed nothing
    await erp.call("model.party.party.write", [archived], {"active": True})
    assert sorted(await erp.call("model.party.party.search", [MINE])) == sorted(parties)


@pytest.mark.parametrize(
    ("method", "text"),
    [
        ("foo.bar.baz", "'bar'"),
        ("foo.bar", "''"),
        ("foo", "not enough values to unpack (expected 2, got 1)"),
        ("common.db.foo", "'db'"),
        ("model.foo.bar.baz.search", "'foo.bar.baz'"),
        ("wizard.foo.create", "'foo'"),
        (
            "report.foo.execute",
            "Report.execute() missing 2 required positional arguments: 'ids' and 'data'",
        ),
    ],
)
async def test_unknown_names_are_the_pools_key_error(erp: Erp, method: str, text: str) -> None:
    assert await erp.error(method) == [text, ""]


async def test_an_unknown_method_of_a_known_object_is_403(erp: Erp) -> None:
    for method in ("model.party.party.nosuch", "wizard.account.invoice.pay.nosuch"):
        status, body = await erp.send(method, erp.context)
        assert status == 403
        assert "You don&#39;t have the permission" in str(body)


@pytest.mark.parametrize(
    ("method", "args", "text"),
    [
        ("search", [], "ModelSQL.search() missing 1 required positional argument: 'domain'"),
        (
            "search",
            [[], 0, None, None, False, 1, 2],
            "ModelSQL.search() takes from 2 to 7 positional arguments but 8 were given",
        ),
        (
            "read",
            [],
            "ModelSQL.read() missing 2 required positional arguments: 'ids' and 'fields_names'",
        ),
        ("write", [[1]], "ModelSQL.write() missing 1 required positional argument: 'values'"),
        ("read", [1, ["name"]], "'int' object is not iterable"),
        ("read", [[1], None], "'NoneType' object is not iterable"),
        ("read", [[1], "name"], "'n'"),
        ("search", [[], 0, None, None, 5], "'int' object is not iterable"),
        ("search", [[], "a"], "invalid offset: 'a'"),
        ("search", [[], 0, "x"], "invalid limit: 'x'"),
        ("search", [[], 0, None, [["name", "SIDEWAYS"]]], "'SIDEWAYS'"),
        ("search", [[], 0, None, [["name"]]], "not enough values to unpack (expected 2, got 1)"),
        ("search", [[], 0, None, ["name"]], "too many values to unpack (expected 2)"),
        ("search", [[], 0, None, [["nosuch", "ASC"]]], "'nosuch'"),
        ("read", [[10**20], ["name"]], "Python int too large to convert to SQLite INTEGER"),
        ("write", [[10**20], {"name": "x"}], "Python int too large to convert to SQLite INTEGER"),
        ("delete", [[10**20]], "Python int too large to convert to SQLite INTEGER"),
        ("search", [[["id", "=", 10**20]]], "Python int too large to convert to SQLite INTEGER"),
        ("search", [[], 10**20], "Python int too large to convert to SQLite INTEGER"),
        ("delete", ["x"], "invalid literal for int() with base 10: 'x'"),
    ],
)
async def test_wrong_arguments_get_the_python_error_trytond_lets_through(
    erp: Erp, method: str, args: list[object], text: str
) -> None:
    assert await erp.error(f"model.party.party.{method}", *args) == [text, ""]


async def test_search_count_takes_offset_and_limit(erp: Erp, parties: tuple[int, int]) -> None:
    assert await erp.call("model.party.party.search_count", [MINE], 1, None, active_test=False) == 1
    assert await erp.call("model.party.party.search_count", [MINE], 0, 1, active_test=False) == 1
    missing = 'You are trying to write to records "999999" of "Party" that don\'t exist.'
    assert await erp.error("model.party.party.write", [999999], {"name": "x"}) == [
        "UserError",
        [missing, "", None],
    ]


async def test_envelopes_without_params_or_with_a_map_of_them(
    erp: Erp, http: aiohttp.ClientSession
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": erp.auth}
    for body, status, text in (
        (b'{"id":1,"method":"model.party.party.search"}', 400, "Unable to get RPC params"),
        (b'{"id":1,"method":"model.party.party.search","params":{}}', 422, "Missing context"),
    ):
        async with http.post(erp.url, data=body, headers=headers) as resp:
            assert resp.status == status
            assert text in await resp.text()


def test_a_body_too_large_is_werkzeugs_413_page() -> None:
    response = TrytonSandbox().error_response(413, "Request Entity Too Large")
    assert (response.status, response.content_type) == (413, "text/html")
    assert isinstance(response.text, str)
    assert "<title>413 Request Entity Too Large</title>" in response.text


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b'{"id":1,"method":5,"params":[{}]}', 200, ["'int' object has no attribute 'split'", ""]),
        (b'{"id":1,"method":["a"],"params":[{}]}', 200, ["unhashable type: 'list'", ""]),
        (
            b'{"id":1,"method":null,"params":[{}]}',
            200,
            ["not enough values to unpack (expected 2, got 1)", ""],
        ),
        (
            b'{"id":1,"method":"model.party.party.search_count","params":5}',
            200,
            ["Value after * must be an iterable, not int", ""],
        ),
    ],
)
async def test_odd_envelope_members_fail_as_in_trytond(
    erp: Erp, http: aiohttp.ClientSession, body: bytes, status: int, expected: list[str]
) -> None:
    headers = {"Content-Type": "application/json", "Authorization": erp.auth}
    async with http.post(erp.url, data=body, headers=headers) as resp:
        assert resp.status == status
        assert await resp.json() == {"id": 1, "error": expected}


async def test_any_json_id_is_echoed(erp: Erp, http: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/json", "Authorization": erp.auth}
    for ident in ([1], {"a": 1}, True, 1.5):
        body: dict[str, object] = {
            "id": ident,
            "method": "model.party.party.search_count",
            "params": [[], {}],
        }
        async with http.post(erp.url, json=body, headers=headers) as resp:
            assert resp.status == 200
            answer = await resp.json()
            assert answer["id"] == ident
            assert isinstance(answer["result"], int)


async def test_a_bare_head_restricts_nothing_and_in_iterates_a_string(
    erp: Erp, parties: tuple[int, int]
) -> None:
    for head in ("OR", "AND"):
        found = await erp.call("model.party.party.search", [MINE, [head]], active_test=False)
        assert sorted(found) == sorted(parties)
    assert await erp.call("model.party.party.search", [MINE, ["code", "in", "L-1"]]) == []


async def test_reading_no_fields_reads_the_ids_only(erp: Erp, parties: tuple[int, int]) -> None:
    _, live = parties
    assert await erp.call("model.party.party.read", [live], []) == [{"id": live}]
    fields: list[str] | None
    for fields in ([], None):
        rows = await erp.call("model.party.party.search_read", [MINE], 0, None, None, fields)
        assert rows == [{"id": live}]
