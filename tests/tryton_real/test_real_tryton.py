"""A real trytond 8.2 over HTTP JSON-RPC: login, party, project, timesheets, a posted invoice.

These pin down what the Tryton connector and the Tryton sandbox must agree with. The error
answers, exactly as trytond 8.2 (served by gunicorn) produces them, are in
`test_error_answers_as_the_real_server_sends_them`.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest

from mediator.testing.tryton_server import TrytonServer

from .client import CallFailed, TrytonClient
from .conftest import INSTALL_TIMEOUT, RealRuns
from .scenario import business_flow, error_cases

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]


async def test_login_gives_a_session_that_authorizes_later_calls(
    client: TrytonClient, tryton_server: TrytonServer
) -> None:
    user_id, key, bus_url = await client.login(tryton_server.login, tryton_server.password)

    assert user_id == tryton_server.setup.admin_user
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert bus_url is None  # no bus configured
    assert client.authorization is not None
    token = base64.b64decode(client.authorization.removeprefix("Session "))
    assert token.decode() == f"{tryton_server.login}:{user_id}:{key}"
    assert client.context["company"] == tryton_server.setup.company
    assert client.context["companies"] == [tryton_server.setup.company]
    count = await client.model("party.party", "search_count", [])
    assert isinstance(count, int)
    assert count >= 2  # at least the company's and the employee's parties from the set-up


async def test_login_with_basic_authorization_works_without_a_session(
    client: TrytonClient, tryton_server: TrytonServer
) -> None:
    basic = base64.b64encode(f"{tryton_server.login}:{tryton_server.password}".encode()).decode()
    client.authorization = f"Basic {basic}"
    assert await client.call("model.party.party.search_count", [], {}) >= 1


async def test_party_is_created_with_address_and_email_and_found_again(
    client: TrytonClient, tryton_server: TrytonServer, tag: str
) -> None:
    await client.login(tryton_server.login, tryton_server.password)
    (party,) = await client.model(
        "party.party",
        "create",
        [
            {
                "name": f"Initech {tag}",
                "addresses": [["create", [{"street": "4120 Freidrich Ln", "city": "Austin"}]]],
                "contact_mechanisms": [
                    ["create", [{"type": "email", "value": "ap@initech.example"}]]
                ],
            }
        ],
    )
    (row,) = await client.model(
        "party.party", "read", [party], ["name", "code", "email", "addresses", "create_date"]
    )
    assert row["name"] == f"Initech {tag}"
    assert row["email"] == "ap@initech.example"
    assert re.fullmatch(r"\d+", row["code"])  # drawn from the party sequence
    assert len(row["addresses"]) == 1
    assert isinstance(row["create_date"], dt.datetime)

    await client.model("party.party", "write", [party], {"name": f"Initech Corp {tag}"})
    found = await client.model(
        "party.party", "search", [["name", "=", f"Initech Corp {tag}"]], 0, None, None
    )
    assert found == [party]


@pytest.mark.slow
async def test_project_timesheet_lines_are_read_back_and_priced(
    client: TrytonClient, tryton_server: TrytonServer, tag: str
) -> None:
    setup = tryton_server.setup
    await client.login(tryton_server.login, tryton_server.password)
    # Invoicing needs an address on the party: the invoice's address is required.
    globex = {"name": f"Globex {tag}", "addresses": [["create", [{"city": "Cypress Creek"}]]]}
    (party,) = await client.model("party.party", "create", [globex])
    (project,) = await client.model(
        "project.work",
        "create",
        [
            {
                "name": f"Migration {tag}",
                "type": "project",
                "company": setup.company,
                "party": party,
                "timesheet_available": True,
                "project_invoice_method": "timesheet",
                "product": setup.product,
                "list_price": Decimal("120"),
            }
        ],
    )
    (work,) = (await client.model("project.work", "read", [project], ["timesheet_works"]))[0][
        "timesheet_works"
    ]
    day = dt.date.today()
    lines = await client.model(
        "timesheet.line",
        "create",
        [
            {
                "company": setup.company,
                "employee": setup.employee,
                "work": work,
                "date": day,
                "duration": dt.timedelta(hours=1, minutes=30),
                "description": "Kick-off",
            },
            {
                "company": setup.company,
                "employee": setup.employee,
                "work": work,
                "date": day,
                "duration": dt.timedelta(hours=2),
                "description": "Analysis",
            },
        ],
    )
    assert len(lines) == 2

    rows = await client.model(
        "timesheet.line",
        "search_read",
        [["work", "=", work]],
        0,
        None,
        [["id", "ASC"]],
        ["duration", "date", "employee.rec_name", "description"],
    )
    assert [row["duration"] for row in rows] == [dt.timedelta(hours=1.5), dt.timedelta(hours=2)]
    assert [row["date"] for row in rows] == [day, day]
    assert rows[0]["employee."] == {"id": setup.employee, "rec_name": "Ada Consultant"}
    (amounts,) = await client.model(
        "project.work",
        "read",
        [project],
        ["timesheet_duration", "amount_to_invoice", "invoiced_amount"],
    )
    assert amounts["timesheet_duration"] == dt.timedelta(hours=3.5)
    assert amounts["amount_to_invoice"] == Decimal("420.00")
    assert amounts["invoiced_amount"] == Decimal("0.00")

    # The project's "invoice" button bills the timesheets into a draft invoice, posted here.
    await client.model("project.work", "invoice", [project])
    (invoice,) = await client.model(
        "account.invoice", "search", [["party", "=", party]], 0, None, None
    )
    await client.model("account.invoice", "write", [invoice], {"invoice_date": day})
    await client.model("account.invoice", "post", [invoice])
    (posted,) = await client.model("account.invoice", "read", [invoice], ["state", "total_amount"])
    assert posted["state"] == "posted"
    assert posted["total_amount"] == Decimal("420.00")
    (after,) = await client.model(
        "project.work", "read", [project], ["invoiced_amount", "amount_to_invoice"]
    )
    assert after == {
        "id": project,
        "invoiced_amount": Decimal("420.00"),
        "amount_to_invoice": Decimal("0.00"),
    }


@pytest.mark.slow
async def test_business_flow_ends_with_a_posted_customer_invoice(
    client: TrytonClient, tryton_server: TrytonServer, tag: str, real_runs: RealRuns
) -> None:
    run = await business_flow(client, tryton_server.login, tryton_server.password, tag=tag)
    real_runs["business_flow"] = (tag, run)

    year = dt.date.today().year
    assert run.facts == {
        "login_arity": 3,
        "party_name": f"ACME {tag}",
        "party_email": f"billing@{tag}.example",
        "timesheet_count": 2,
        "timesheet_durations": [dt.timedelta(hours=3), dt.timedelta(hours=2, minutes=30)],
        "timesheet_employee": f"Grace {tag}",
        "project_timesheet_duration": dt.timedelta(hours=5, minutes=30),
        "project_amount_to_invoice": Decimal("550.00"),
        "invoice_draft": {
            "state": "draft",
            "total": Decimal("1000.00"),
            "numbered": False,
            "has_move": False,
        },
        "invoice_validated": {
            "state": "validated",
            "total": Decimal("1000.00"),
            "numbered": False,
            "has_move": False,  # a customer invoice gets its move when posted
        },
        "invoice_posted": {
            "state": "posted",
            "total": Decimal("1000.00"),
            "numbered": True,
            "has_move": True,
        },
        "invoice_number_prefix": f"INV{year}",
        "invoice_line_amount": Decimal("1000.00"),
        "ids": run.facts["ids"],
    }
    # A posted invoice is final: the server refuses to delete it.
    with pytest.raises(CallFailed) as refused:
        await client.model("account.invoice", "delete", [run.facts["ids"]["invoice"]])
    assert refused.value.fault is not None
    assert refused.value.fault.name == "UserError"
    assert "posted" in refused.value.fault.message


@pytest.mark.slow
async def test_error_answers_as_the_real_server_sends_them(
    client: TrytonClient, tryton_server: TrytonServer, tag: str, real_runs: RealRuns
) -> None:
    """Every error a connector meets, as trytond 8.2 under gunicorn answers it.

    Enveloped requests (exactly id/method/params) on ``POST /<db>/rpc/``; "html" is werkzeug's
    ``text/html; charset=utf-8`` error page, "json" is ``application/json``:

    ===========================  ====  =====  =============================================
    case                         HTTP  type   body
    ===========================  ====  =====  =============================================
    method not in __rpc__        403   html   "403 Forbidden" page (unknown or _private)
    context argument missing     422   html   page with "Missing context argument"
    unknown model                200   json   {"id":n,"error":["'no.such.model'",""]}
    validation (UserError)       200   json   {"id":n,"error":["UserError",[msg,"",null]]}
    read of a missing id         200   json   ["UserError",["You are trying to read records
                                              \"999999\" of \"Party\" that don't exist.","",null]]
    access error                 200   json   ["UserError",["You are not allowed to access
                                              \"Account Invoice\".","Within groups: ",null]]
    login without password       200   json   ["LoginException",["password",
                                              "Password for <login>","password"]]
    bad login or password        401   html   "401 Unauthorized" page
    no Authorization header      401   text/plain; charset=utf-8, empty body,
                                              WWW-Authenticate: Basic realm="Tryton"
    bad or logged-out session    401   same as no Authorization header
    logout                       200   json   {"id":n,"result":null}
    ===========================  ====  =====  =============================================

    An AccessError travels as "UserError": the envelope carries the exception's args, whose
    first element trytond's UserError sets to the literal "UserError". Every answer carries
    ``Connection: close``; bodies over 1400 bytes come chunked with ``Content-Encoding: gzip``.
    """
    run = await error_cases(client, tryton_server.login, tryton_server.password, tag=tag)
    real_runs["error_cases"] = (tag, run)
    a = run.answers

    for case in ("bad_method", "private_method"):
        assert (a[case].status, a[case].content_type) == (403, "text/html"), case
        assert b"403 Forbidden" in a[case].body
    assert (a["missing_context"].status, a["missing_context"].content_type) == (422, "text/html")
    assert b"Missing context argument" in a["missing_context"].body

    def error(case: str) -> Any:
        answer = a[case]
        assert (answer.status, answer.content_type) == (200, "application/json"), case
        assert set(answer.wire) == {"id", "error"}, case
        return answer.wire["error"]

    assert error("unknown_model") == ["'no.such.model'", ""]
    name, (message, description, domain) = error("validation_error")
    assert (name, description, domain) == ("UserError", "", None)
    assert message.startswith('A value is required for field "')
    assert error("read_missing_record") == [
        "UserError",
        ['You are trying to read records "999999" of "Party" that don\'t exist.', "", None],
    ]
    assert error("access_error") == [
        "UserError",
        ['You are not allowed to access "Account Invoice".', "Within groups: ", None],
    ]
    assert error("login_without_password") == [
        "LoginException",
        ["password", f"Password for ghost-{tag}", "password"],
    ]
    assert (a["bad_login"].status, a["bad_login"].content_type) == (401, "text/html")
    assert b"401 Unauthorized" in a["bad_login"].body
    for case in ("no_authorization", "bad_session", "after_logout"):
        answer = a[case]
        assert (answer.status, answer.body) == (401, b""), case
        assert answer.headers["WWW-Authenticate"] == 'Basic realm="Tryton"', case
    assert a["logout"].status == 200
    assert a["logout"].wire == {"id": a["logout"].wire["id"], "result": None}
    assert all(answer.headers.get("Connection") == "close" for answer in a.values())


async def test_a_body_that_is_not_an_envelope_gets_the_bare_result(
    client: TrytonClient, tryton_server: TrytonServer
) -> None:
    await client.login(tryton_server.login, tryton_server.password)
    body = b'{"jsonrpc":"2.0","id":1,"method":"model.party.party.search_count","params":[[],{}]}'
    bare = await client.post(body)
    assert (bare.status, bare.content_type) == (200, "application/json")
    assert isinstance(bare.wire, int)

    failing = b'{"jsonrpc":"2.0","id":2,"method":"model.timesheet.line.create","params":[[{}],{}]}'
    rejected = await client.post(failing)
    assert (rejected.status, rejected.content_type) == (400, "text/html")  # UserError → 400


async def test_database_endpoint_needs_its_trailing_slash(
    client: TrytonClient, tryton_server: TrytonServer
) -> None:
    answer = await client.request("common.server.version", url=tryton_server.rpc_url.rstrip("/"))
    assert answer.status == 308
    assert answer.headers["Location"].endswith(f"/{tryton_server.database}/rpc/")
    assert await client.call("common.server.version", url=tryton_server.url + "rpc/") == "8.2"
    assert await client.call("common.db.list", url=tryton_server.url + "rpc/") == [
        tryton_server.database
    ]
    unknown = await client.request(
        "common.db.login", "admin", {"password": "x"}, "en", url=tryton_server.url + "nosuchdb/rpc/"
    )
    assert unknown.status == 404
