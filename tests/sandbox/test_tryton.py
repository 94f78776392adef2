"""The Tryton sandbox speaks trytond 8.2's JSON-RPC as the probe observed it (REPORT.md §4)."""

import base64
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from mediator.codecs.tryton.rpc import dumps as tryton_dumps
from mediator.codecs.tryton.rpc import loads as tryton_loads
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.tryton import TrytonSandbox, session_header
from mediator.testing import FakeClock


class Failure(Exception):
    def __init__(self, status: int, payload: Any, headers: Any = None) -> None:
        super().__init__(status, payload)
        self.status, self.payload, self.headers = status, payload, headers


@dataclass
class Client:
    url: str
    http: aiohttp.ClientSession
    auth: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    last_id: int = 0

    async def post(
        self, path: str, body: dict[str, object], headers: dict[str, str] | None = None
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """Status, body (the sandbox's JSON, Any: the test asserts its shape; raw bytes when
        not JSON) and headers."""
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        if self.auth:
            all_headers["Authorization"] = self.auth
        async with self.http.post(
            self.url + path, data=tryton_dumps(body), headers=all_headers, allow_redirects=False
        ) as resp:
            raw = await resp.read()
            payload = tryton_loads(raw) if resp.content_type == "application/json" else raw
            return resp.status, payload, resp.headers

    async def rpc(self, method: str, params: list[object], path: str = "/tryton/rpc/") -> Any:
        """The call's result: the sandbox's JSON, whose shape the test asserts."""
        self.last_id += 1
        status, payload, headers = await self.post(
            path, {"id": self.last_id, "method": method, "params": params}
        )
        if status != 200:
            raise Failure(status, payload, headers)
        assert isinstance(payload, dict)
        assert payload["id"] == self.last_id
        if "error" in payload:
            raise Failure(status, payload["error"])
        return payload["result"]

    async def login(self, login: str = "admin", password: str = "admin") -> None:
        user_id, key, bus = await self.rpc("common.db.login", [login, {"password": password}, "en"])
        assert bus is None
        self.auth = session_header(login, user_id, key)
        self.context = await self.rpc("model.res.user.get_preferences", [True, {}])

    async def call(self, model: str, method: str, *args: object) -> Any:
        return await self.rpc(f"model.{model}.{method}", [*args, self.context])


@pytest.fixture
async def erp(
    clock: FakeClock, http: aiohttp.ClientSession
) -> AsyncIterator[tuple[TrytonSandbox, Client]]:
    box = TrytonSandbox(clock=clock, seed=7)
    async with open_sandbox(box) as url:
        client = Client(url, http)
        await client.login()
        yield box, client


async def _party(c: Client) -> tuple[int, int]:
    [party] = await c.call(
        "party.party",
        "create",
        [
            {
                "name": "ACME Corp",
                "addresses": [["create", [{"street": "1 Main St", "city": "Springfield"}]]],
                "contact_mechanisms": [["create", [{"type": "email", "value": "ap@acme.example"}]]],
                "identifiers": [["create", [{"type": "eu_vat", "code": "DE123456789"}]]],
            }
        ],
    )
    [row] = await c.call(
        "party.party", "read", [party], ["addresses", "email", "code", "tax_identifier.code"]
    )
    assert row["email"] == "ap@acme.example"
    assert row["tax_identifier."]["code"] == "DE123456789"
    return party, row["addresses"][0]


async def test_login_context_and_server_calls(erp: tuple[TrytonSandbox, Client]) -> None:
    box, c = erp
    assert c.context["company"] == box.setup.company
    assert await c.rpc("common.server.version", [], path="/rpc/") == "8.2"
    assert await c.rpc("common.db.list", [], path="/") == ["tryton"]


async def test_business_flow_party_project_timesheets_invoice(
    erp: tuple[TrytonSandbox, Client],
) -> None:
    box, c = erp
    setup = box.setup
    company = c.context["company"]
    party, address = await _party(c)
    [emp_party] = await c.call("party.party", "create", [{"name": "Jane Dev"}])
    [employee] = await c.call(
        "company.employee",
        "create",
        [{"party": emp_party, "company": company, "start_date": dt.date(2020, 1, 1)}],
    )
    [project] = await c.call(
        "project.work",
        "create",
        [
            {
                "name": "Website revamp",
                "type": "project",
                "company": company,
                "party": party,
                "timesheet_available": True,
                "project_invoice_method": "timesheet",
                "product": setup.product,
                "list_price": Decimal("100"),
                "effort_duration": dt.timedelta(hours=40),
            }
        ],
    )
    [work] = await c.call("project.work", "read", [project], ["timesheet_works", "status"])
    [ts_work] = work["timesheet_works"]
    lines = await c.call(
        "timesheet.line",
        "create",
        [
            {
                "company": company,
                "employee": employee,
                "work": ts_work,
                "date": dt.date(2026, 11, 2),
                "duration": dt.timedelta(hours=3),
                "description": "Design",
            },
            {
                "company": company,
                "employee": employee,
                "work": ts_work,
                "date": dt.date(2026, 11, 3),
                "duration": dt.timedelta(hours=2, minutes=30),
                "description": "Build",
            },
        ],
    )
    assert len(lines) == 2
    rows = await c.call(
        "timesheet.line",
        "search_read",
        [["work", "=", ts_work]],
        0,
        None,
        [["date", "ASC"]],
        ["id", "date", "duration", "employee.rec_name"],
    )
    assert [r["duration"] for r in rows] == [dt.timedelta(hours=3), dt.timedelta(hours=2.5)]
    assert rows[0]["employee."] == {"id": employee, "rec_name": "Jane Dev"}
    assert (
        await c.call("timesheet.line", "search_count", [["duration", ">", dt.timedelta(hours=2.9)]])
        == 1
    )
    [invoice] = await c.call(
        "account.invoice",
        "create",
        [
            {
                "type": "out",
                "company": company,
                "party": party,
                "invoice_address": address,
                "account": setup.receivable,
                "journal": setup.journal,
                "payment_term": setup.payment_term,
                "currency": setup.currency,
                "invoice_date": dt.date(2026, 11, 30),
                "lines": [
                    [
                        "create",
                        [
                            {
                                "type": "line",
                                "product": setup.product,
                                "quantity": 5.5,
                                "unit": setup.unit,
                                "unit_price": Decimal("100.0000"),
                                "account": setup.revenue,
                                "description": "Consulting",
                            }
                        ],
                    ]
                ],
            }
        ],
    )
    await c.call("account.invoice", "validate_invoice", [invoice])
    await c.call("account.invoice", "post", [invoice])
    [inv] = await c.call(
        "account.invoice",
        "read",
        [invoice],
        ["number", "state", "total_amount", "amount_to_pay", "move"],
    )
    assert inv["number"] == "INV2026-1"
    assert inv["state"] == "posted"
    assert inv["total_amount"] == Decimal("550.00")
    with pytest.raises(Failure) as caught:
        await c.call("account.invoice", "delete", [invoice])
    assert caught.value.status == 200
    assert caught.value.payload == [
        "UserError",
        [
            'You cannot modify invoice "INV2026-1" because it is posted, paid or cancelled.',
            "",
            None,
        ],
    ]
    session, _start, _end = await c.rpc("wizard.account.invoice.pay.create", [c.context])
    ctx = {
        **c.context,
        "active_id": invoice,
        "active_ids": [invoice],
        "active_model": "account.invoice",
    }
    await c.rpc(
        "wizard.account.invoice.pay.execute",
        [
            session,
            {
                "start": {
                    "amount": Decimal("550.00"),
                    "date": dt.date(2026, 12, 5),
                    "payment_method": setup.payment_method,
                    "currency": setup.currency,
                }
            },
            "choice",
            ctx,
        ],
    )
    await c.rpc("wizard.account.invoice.pay.delete", [session, c.context])
    [inv] = await c.call("account.invoice", "read", [invoice], ["state", "amount_to_pay"])
    assert inv["state"] == "paid"


async def test_error_envelopes_as_observed(erp: tuple[TrytonSandbox, Client]) -> None:
    _, c = erp
    with pytest.raises(Failure) as caught:
        await c.call("no.such.model", "search", [])
    assert caught.value.payload == ["'no.such.model'", ""]
    with pytest.raises(Failure) as caught:
        await c.call("party.party", "_private", [])
    assert caught.value.status == 403
    with pytest.raises(Failure) as caught:
        await c.rpc("model.party.party.search", [[]])
    assert caught.value.status == 422
    with pytest.raises(Failure) as caught:
        await c.call("timesheet.line", "create", [{"company": c.context["company"]}])
    assert caught.value.payload[0] == "UserError"
    assert caught.value.payload[1][0].startswith(
        'A value is required for field "Employee" in record'
    )
    with pytest.raises(Failure) as caught:
        await c.call("party.party", "search", [["nope", "=", 1]])
    assert caught.value.payload == ["'nope'", ""]


async def test_failed_create_leaves_nothing_behind(erp: tuple[TrytonSandbox, Client]) -> None:
    box, c = erp
    before = len(box.db.tables["party.party"])
    with pytest.raises(Failure):
        # (a party needs no name in trytond 8.2: the second is refused for its payment term)
        await c.call(
            "party.party",
            "create",
            [{"name": "Fine"}, {"code": "bad term", "customer_payment_term": 999_999}],
        )
    assert len(box.db.tables["party.party"]) == before


async def test_bare_requests_get_http_statuses(erp: tuple[TrytonSandbox, Client]) -> None:
    _, c = erp
    status, body, _ = await c.post(
        "/tryton/rpc/",
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "model.party.party.search_count",
            "params": [[], c.context],
        },
    )
    assert status == 200
    assert body == 1  # bare result: the company's party
    status, body, _ = await c.post(
        "/tryton/rpc/",
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "model.company.employee.create",
            "params": [[{"company": c.context["company"]}], c.context],
        },
    )
    assert status == 400  # a UserError without the envelope is a werkzeug page
    assert b"A value is required" in body
    status, _, headers = await c.post("/tryton/rpc", {"id": 3, "method": "x", "params": []})
    assert status == 308
    assert headers["Location"] == "/tryton/rpc/"
    async with c.http.post(
        c.url + "/tryton/rpc/", data=b"{}", headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 400
    status, _, _ = await c.post(
        "/nosuchdb/rpc/",
        {"id": 4, "method": "common.db.login", "params": ["admin", {"password": "x"}, "en"]},
    )
    assert status == 404  # trytond 8.2 under gunicorn (the threaded server on SQLite: 503)


async def test_authentication_and_throttling(
    erp: tuple[TrytonSandbox, Client], clock: FakeClock
) -> None:
    _box, c = erp
    anonymous = Client(c.url, c.http)
    with pytest.raises(Failure) as caught:
        await anonymous.rpc("model.party.party.search", [[], {}])
    assert caught.value.status == 401
    assert caught.value.headers["WWW-Authenticate"] == 'Basic realm="Tryton"'
    status, _, headers = await anonymous.post(
        "/tryton/rpc/",
        {"id": 1, "method": "model.party.party.search", "params": [[], {}]},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert status == 401
    assert "WWW-Authenticate" not in headers
    with pytest.raises(Failure) as caught:
        await anonymous.rpc("common.db.login", ["admin", {}, "en"])
    assert caught.value.payload == [
        "LoginException",
        ["password", "Password for admin", "password"],
    ]
    for _ in range(5):
        with pytest.raises(Failure) as caught:
            await anonymous.rpc("common.db.login", ["intruder", {"password": "bad"}, "en"])
        assert caught.value.status == 401
    with pytest.raises(Failure) as caught:
        await anonymous.rpc("common.db.login", ["intruder", {"password": "bad"}, "en"])
    assert caught.value.status == 429
    basic = Client(c.url, c.http, auth="Basic " + base64.b64encode(b"admin:admin").decode())
    assert await basic.rpc("model.party.party.search_count", [[], {}]) == 1
    bogus = Client(c.url, c.http, auth=session_header("admin", 1, "deadbeef"))
    with pytest.raises(Failure) as caught:
        await bogus.rpc("model.party.party.search", [[], {}])
    assert caught.value.status == 401


async def test_post_needs_a_fresh_session(
    erp: tuple[TrytonSandbox, Client], clock: FakeClock
) -> None:
    box, c = erp
    setup = box.setup
    party, address = await _party(c)
    [invoice] = await c.call(
        "account.invoice",
        "create",
        [
            {
                "company": setup.company,
                "party": party,
                "invoice_address": address,
                "account": setup.receivable,
                "journal": setup.journal,
                "currency": setup.currency,
                "lines": [
                    [
                        "create",
                        [{"quantity": 1.0, "unit_price": Decimal("10"), "account": setup.revenue}],
                    ]
                ],
            }
        ],
    )
    await clock.advance(301)
    with pytest.raises(Failure) as caught:
        await c.call("account.invoice", "post", [invoice])
    assert caught.value.status == 401
    with pytest.raises(Failure) as caught:  # the stale session was deleted
        await c.call("party.party", "search_count", [])
    assert caught.value.status == 401
    await c.login()
    await c.call("account.invoice", "post", [invoice])
    [row] = await c.call("account.invoice", "read", [invoice], ["state", "invoice_date"])
    assert row["state"] == "posted"
    assert isinstance(row["invoice_date"], dt.date)


async def test_timestamp_conflict(erp: tuple[TrytonSandbox, Client], clock: FakeClock) -> None:
    _, c = erp
    [party] = await c.call("party.party", "create", [{"name": "Stamped"}])
    [row] = await c.call("party.party", "read", [party], ["_timestamp"])
    await clock.advance(1)
    await c.call("party.party", "write", [party], {"name": "Changed"})
    stale = {**c.context, "_timestamp": {f"party.party,{party}": row["_timestamp"]}}
    with pytest.raises(Failure) as caught:
        await c.rpc("model.party.party.write", [[party], {"name": "Lost"}, stale])
    assert caught.value.payload == [
        "ConcurrencyException",
        "Records were modified in the meanwhile",
    ]


async def test_project_invoice_button_bills_uninvoiced_timesheets(
    erp: tuple[TrytonSandbox, Client],
) -> None:
    box, c = erp
    setup = box.setup
    company = c.context["company"]
    party, _ = await _party(c)
    [emp_party] = await c.call("party.party", "create", [{"name": "Jane Dev"}])
    [employee] = await c.call(
        "company.employee", "create", [{"party": emp_party, "company": company}]
    )
    [project] = await c.call(
        "project.work",
        "create",
        [
            {
                "name": "Audit",
                "type": "project",
                "company": company,
                "party": party,
                "timesheet_available": True,
                "project_invoice_method": "timesheet",
                "product": setup.product,
                "list_price": Decimal("120"),
            }
        ],
    )
    [work] = await c.call("project.work", "read", [project], ["timesheet_works"])
    await c.call(
        "timesheet.line",
        "create",
        [
            {
                "company": company,
                "employee": employee,
                "work": work["timesheet_works"][0],
                "date": dt.date(2026, 11, 2),
                "duration": dt.timedelta(hours=h),
            }
            for h in (2, 1.5)
        ],
    )
    [before] = await c.call(
        "project.work", "read", [project], ["amount_to_invoice", "timesheet_duration"]
    )
    assert before["amount_to_invoice"] == Decimal("420.00")
    assert before["timesheet_duration"] == dt.timedelta(hours=3.5)
    assert await c.call("project.work", "invoice", [project]) is None
    [invoice] = await c.call(
        "account.invoice",
        "search_read",
        [["party", "=", party], ["state", "=", "draft"]],
        0,
        None,
        None,
        ["total_amount", "description", "lines"],
    )
    assert invoice["total_amount"] == Decimal("420.00")
    assert invoice["description"] == "Audit"
    [after] = await c.call("project.work", "read", [project], ["amount_to_invoice"])
    assert after["amount_to_invoice"] == Decimal("0.00")
    await c.call("project.work", "invoice", [project])  # nothing left: no second invoice
    assert await c.call("account.invoice", "search_count", [["party", "=", party]]) == 1


async def test_read_only_fields_are_refused_over_rpc(erp: tuple[TrytonSandbox, Client]) -> None:
    # trytond 8.2 as observed: static read-only fields are refused in RPC creates and writes
    # (nested ones too), whatever the value; tests/sandbox/test_tryton_fidelity.py compares.
    _, c = erp
    company = c.context["company"]
    [project] = await c.call(
        "project.work", "create", [{"name": "Ops", "type": "project", "company": company}]
    )
    [row] = await c.call("project.work", "read", [project], ["number"])
    assert row["number"] == "1"  # drawn from the sequence
    [party] = await c.call("party.party", "create", [{"name": "Ada"}])
    [employee] = await c.call("company.employee", "create", [{"party": party, "company": company}])
    [work] = await c.call("timesheet.work", "create", [{"name": "Ops", "company": company}])
    line = {"company": company, "employee": employee, "work": work, "date": dt.date(2026, 11, 2)}
    [line_id] = await c.call("timesheet.line", "create", [{**line, "duration": dt.timedelta(1)}])
    assert await c.call("timesheet.line", "read", [line_id], ["uuid"]) == [
        {"id": line_id, "uuid": None}
    ]

    def refused(field: str, model: str) -> list[object]:
        message = f'You are not allowed to modify the field "{field}" of "{model}".'
        return ["UserError", [message, "", None]]

    calls: list[tuple[Any, ...]] = [
        ("timesheet.line", "write", [line_id], {"uuid": "u"}),
        ("timesheet.line", "write", [line_id], {"description": "d", "uuid": None}),
        ("timesheet.line", "create", [{**line, "duration": dt.timedelta(1), "uuid": "u"}]),
        ("project.work", "write", [project], {"number": "N-1"}),
        ("project.work", "create", [{"name": "X", "company": company, "number": "N-2"}]),
        (
            "project.work",
            "write",
            [project],
            {"children": [["create", [{"name": "Y", "company": company, "number": "N"}]]]},
        ),
        ("project.work", "write", [project], {"amount_to_invoice": 3}),
    ]
    expected = [refused("UUID", "Timesheet Line")] * 3 + [refused("Number", "Project Work")] * 3
    expected.append(refused("Amount to Invoice", "Project Work"))
    answers = []
    for model, method, *args in calls:
        with pytest.raises(Failure) as caught:
            await c.call(model, method, *args)
        assert caught.value.status == 200
        answers.append(caught.value.payload)
    assert answers == expected
    with pytest.raises(Failure) as caught:  # an unknown field before it: the KeyError wins
        await c.call("project.work", "write", [project], {"nosuch": 1, "number": "x"})
    assert caught.value.payload == ["'nosuch'", ""]
    [row] = await c.call("project.work", "read", [project], ["number", "children"])
    assert row == {"id": project, "number": "1", "children": []}


async def test_negative_duration_breaks_the_field_domain(erp: tuple[TrytonSandbox, Client]) -> None:
    # the message, and the domain with the field's definition as third argument, as trytond 8.2
    _, c = erp
    company = c.context["company"]
    [party] = await c.call("party.party", "create", [{"name": "Ada"}])
    [employee] = await c.call("company.employee", "create", [{"party": party, "company": company}])
    [work] = await c.call("timesheet.work", "create", [{"name": "Ops", "company": company}])
    line = {"company": company, "employee": employee, "work": work, "date": dt.date(2026, 11, 2)}
    [line_id] = await c.call("timesheet.line", "create", [{**line, "duration": dt.timedelta(0)}])
    with pytest.raises(Failure) as caught:
        await c.call("timesheet.line", "write", [line_id], {"duration": dt.timedelta(hours=-2)})
    name, (message, description, (domain, definitions)) = caught.value.payload
    assert name == "UserError"
    assert message == (
        f'The value "-1 day, 22:00:00" for field "Duration" in record "({line_id})" of '
        '"Timesheet Line" is not valid according to its domain.'
    )
    assert description == ""
    assert domain == [["duration", ">=", dt.timedelta(0)]]
    assert definitions["duration"]["type"] == "timedelta"
    assert definitions["duration"]["string"] == "Duration"
    with pytest.raises(Failure) as caught:
        await c.call("timesheet.line", "create", [{**line, "duration": dt.timedelta(hours=-1)}])
    assert caught.value.payload[1][0].startswith('The value "-1 day, 23:00:00" for field')
    [row] = await c.call("timesheet.line", "read", [line_id], ["duration"])
    assert row["duration"] == dt.timedelta(0)


async def test_project_work_keeps_a_comment(erp: tuple[TrytonSandbox, Client]) -> None:
    _, c = erp
    company = c.context["company"]
    [project] = await c.call(
        "project.work",
        "create",
        [{"name": "Ops", "type": "project", "company": company, "comment": "Kick-off\nnotes"}],
    )
    [row] = await c.call("project.work", "read", [project], ["comment"])
    assert row["comment"] == "Kick-off\nnotes"
    await c.call("project.work", "write", [project], {"comment": None})
    assert await c.call(
        "project.work", "search", [["comment", "=", None], ["id", "=", project]]
    ) == [project]
