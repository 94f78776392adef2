"""The business scenario run against the real trytond and, for fidelity, against the sandbox.

Everything the scenario needs it finds over RPC (product by name, revenue journal, default
receivable account...), so the same code runs against any server that holds the fixture's
set-up. Each step's raw answer is kept under its name in `Run.answers`, and `shapes()` reduces
them to what must agree between the real server and the sandbox: status, content type, keys,
JSON types and tagged value classes (``<Decimal>``, ``<date>``...), error envelope heads.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

from mediator.codecs.tryton.rpc import RpcValue

from .client import Answer, CallFailed, TrytonClient


@dataclasses.dataclass
class Run:
    """What one scenario run saw: raw answers by step and the decoded facts worth comparing."""

    answers: dict[str, Answer] = dataclasses.field(default_factory=dict)
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)  # decoded, asserted by tests

    async def model(
        self, step: str, client: TrytonClient, name: str, method: str, *args: object
    ) -> Any:
        """Call a model method, keep its raw answer under `step`, return the decoded result."""
        try:
            result = await client.model(name, method, *args)
        except CallFailed as exc:
            self.answers[step] = exc.answer
            raise
        self.answers[step] = client.answered
        return result

    async def raw(self, step: str, client: TrytonClient, method: str, *params: object) -> Answer:
        """Send a call without judging its answer and keep the raw answer under `step`."""
        answer = await client.request(method, *params)
        self.answers[step] = answer
        return answer


def shape(wire: object) -> object:
    """Reduce parsed JSON to its structure: keys, JSON types and tagged classes."""
    if isinstance(wire, dict):
        if isinstance(wire.get("__class__"), str):
            return f"<{wire['__class__']}>"
        return {key: shape(value) for key, value in sorted(wire.items())}
    if isinstance(wire, list):
        return [shape(item) for item in wire]
    return "null" if wire is None else type(wire).__name__


def answer_shape(answer: Answer) -> dict[str, object]:
    """What of one answer a faithful sandbox must reproduce."""
    return {
        "status": answer.status,
        "content_type": answer.content_type,
        "www_authenticate": answer.headers.get("WWW-Authenticate"),
        "body": shape(answer.wire) if answer.wire is not None else "<not JSON>",
        "error_head": _error_head(answer.wire),
    }


_NAMED_ERRORS = {"UserError", "UserWarning", "LoginException", "ConcurrencyException"}


def _error_head(wire: object) -> str | None:
    """The exception name of an error envelope; unexpected errors carry their text there."""
    if not isinstance(wire, dict) or not isinstance(wire.get("error"), list) or not wire["error"]:
        return None
    head = wire["error"][0]
    return head if head in _NAMED_ERRORS else "<unexpected exception text>"


async def references(run: Run, client: TrytonClient) -> dict[str, Any]:
    """Find the set-up records an invoice needs, by name and type, as a connector would."""
    company = client.context["company"]
    (product,) = await run.model(
        "find_product",
        client,
        "product.product",
        "search_read",
        [["template.name", "=", "Consulting hour"]],
        0,
        None,
        None,
        ["id", "default_uom", "rec_name"],
    )
    (journal,) = await run.model(
        "find_journal",
        client,
        "account.journal",
        "search_read",
        [["type", "=", "revenue"]],
        0,
        1,
        None,
        ["id", "name"],
    )
    (configuration,) = await run.model(
        "read_configuration",
        client,
        "account.configuration",
        "read",
        [1],
        ["default_account_receivable"],
    )
    (revenue,) = await run.model(
        "find_revenue_account",
        client,
        "account.account",
        "search_read",
        [["type.revenue", "=", True], ["company", "=", company], ["closed", "!=", True]],
        0,
        1,
        None,
        ["id", "code", "name"],
    )
    (term,) = await run.model(
        "find_payment_term",
        client,
        "account.invoice.payment_term",
        "search_read",
        [["name", "=", "Upon Receipt"]],
        0,
        1,
        None,
        ["id", "name"],
    )
    (company_row,) = await run.model(
        "read_company", client, "company.company", "read", [company], ["currency", "rec_name"]
    )
    return {
        "company": company,
        "product": product,
        "journal": journal,
        "receivable": configuration["default_account_receivable"],
        "revenue": revenue,
        "term": term,
        "currency": company_row["currency"],
    }


def invoice_values(
    refs: dict[str, Any], *, party: int, address: int, hours: float, description: str
) -> dict[str, object]:
    """A customer invoice of `hours` consulting hours at 100, with all on_change values given."""
    product = refs["product"]
    return {
        "type": "out",
        "company": refs["company"],
        "party": party,
        "invoice_address": address,
        "account": refs["receivable"],
        "journal": refs["journal"]["id"],
        "payment_term": refs["term"]["id"],
        "currency": refs["currency"],
        "invoice_date": dt.date.today(),
        "description": description,
        "lines": [
            [
                "create",
                [
                    {
                        "type": "line",
                        "product": product["id"],
                        "description": "Consulting",
                        "quantity": hours,
                        "unit": product["default_uom"],
                        "unit_price": Decimal("100.0000"),
                        "account": refs["revenue"]["id"],
                    }
                ],
            ]
        ],
    }


async def business_flow(
    client: TrytonClient, login: str, password: str, *, tag: str, run: Run | None = None
) -> Run:
    """Log in, create a party, an employee, a project, timesheets and a posted invoice.

    `run` collects the answers (pass one to keep them if a step raises).
    """
    run = run if run is not None else Run()
    login_result = await client.login(login, password)
    run.answers["login"] = client.answered_login
    run.facts["login_arity"] = len(login_result)
    company = client.context["company"]
    today = dt.date.today()
    refs = await references(run, client)
    product = refs["product"]

    (party,) = await run.model(
        "create_party",
        client,
        "party.party",
        "create",
        [
            {
                "name": f"ACME {tag}",
                "addresses": [["create", [{"street": "1 Main St", "city": "Springfield"}]]],
                "contact_mechanisms": [
                    ["create", [{"type": "email", "value": f"billing@{tag}.example"}]]
                ],
            }
        ],
    )
    (party_row,) = await run.model(
        "read_party",
        client,
        "party.party",
        "read",
        [party],
        ["name", "code", "rec_name", "addresses", "email", "create_date"],
    )
    run.facts["party_name"] = party_row["name"]
    run.facts["party_email"] = party_row["email"]
    (employee_party,) = await run.model(
        "create_employee_party", client, "party.party", "create", [{"name": f"Grace {tag}"}]
    )
    (employee,) = await run.model(
        "create_employee",
        client,
        "company.employee",
        "create",
        [{"party": employee_party, "company": company, "start_date": dt.date(2020, 1, 1)}],
    )

    (project,) = await run.model(
        "create_project",
        client,
        "project.work",
        "create",
        [
            {
                "name": f"Website {tag}",
                "type": "project",
                "company": company,
                "party": party,
                "timesheet_available": True,
                "project_invoice_method": "timesheet",
                "product": product["id"],
                "list_price": Decimal("100"),
                "effort_duration": dt.timedelta(hours=40),
            }
        ],
    )
    (project_row,) = await run.model(
        "read_project",
        client,
        "project.work",
        "read",
        [project],
        ["name", "type", "party", "timesheet_works", "effort_duration", "list_price"],
    )
    (timesheet_work,) = project_row["timesheet_works"]
    lines = await run.model(
        "create_timesheets",
        client,
        "timesheet.line",
        "create",
        [
            {
                "company": company,
                "employee": employee,
                "work": timesheet_work,
                "date": today - dt.timedelta(days=1),
                "duration": dt.timedelta(hours=3),
                "description": "Design",
            },
            {
                "company": company,
                "employee": employee,
                "work": timesheet_work,
                "date": today,
                "duration": dt.timedelta(hours=2, minutes=30),
                "description": "Build",
            },
        ],
    )
    run.facts["timesheet_count"] = len(lines)
    rows = await run.model(
        "read_timesheets",
        client,
        "timesheet.line",
        "search_read",
        [["work", "=", timesheet_work]],
        0,
        None,
        [["date", "ASC"]],
        ["id", "date", "duration", "employee", "employee.rec_name", "work", "description"],
    )
    run.facts["timesheet_durations"] = [row["duration"] for row in rows]
    run.facts["timesheet_employee"] = rows[0]["employee."]["rec_name"]
    (amounts,) = await run.model(
        "read_project_amounts",
        client,
        "project.work",
        "search_read",
        [["id", "=", project]],
        0,
        None,
        None,
        ["timesheet_duration", "amount_to_invoice"],
    )
    run.facts["project_timesheet_duration"] = amounts["timesheet_duration"]
    run.facts["project_amount_to_invoice"] = amounts["amount_to_invoice"]

    # The server runs no on_change: give everything the desktop client would fill in.
    (invoice,) = await run.model(
        "create_invoice",
        client,
        "account.invoice",
        "create",
        [
            invoice_values(
                refs,
                party=party,
                address=party_row["addresses"][0],
                hours=10.0,
                description=f"Retainer {tag}",
            )
        ],
    )
    fields = [
        "state",
        "number",
        "total_amount",
        "untaxed_amount",
        "tax_amount",
        "amount_to_pay",
        "invoice_date",
        "lines",
        "move",
    ]
    for state_step, button in (
        ("draft", None),
        ("validated", "validate_invoice"),
        ("posted", "post"),
    ):
        if button is not None:
            await run.model(f"button_{button}", client, "account.invoice", button, [invoice])
        (row,) = await run.model(
            f"read_invoice_{state_step}", client, "account.invoice", "read", [invoice], fields
        )
        run.facts[f"invoice_{state_step}"] = {
            "state": row["state"],
            "total": row["total_amount"],
            "numbered": row["number"] is not None,
            "has_move": row["move"] is not None,
        }
    run.facts["invoice_number_prefix"] = str(row["number"]).split("-")[0]
    (line,) = await run.model(
        "read_invoice_line",
        client,
        "account.invoice.line",
        "read",
        row["lines"],
        ["quantity", "unit_price", "amount", "product", "account", "invoice"],
    )
    run.facts["invoice_line_amount"] = line["amount"]
    run.facts["ids"] = {"party": party, "invoice": invoice, "employee": employee}
    return run


async def error_cases(
    client: TrytonClient, login: str, password: str, *, tag: str, run: Run | None = None
) -> Run:
    """Provoke each error a connector must handle and keep the raw answers.

    `run` collects the answers (pass one to keep them if a step raises).
    """
    run = run if run is not None else Run()
    await client.login(login, password)
    company = client.context["company"]
    ctx = client.context
    await run.raw("bad_method", client, "model.party.party.no_such_method", [], ctx)
    await run.raw("private_method", client, "model.party.party._private", [], ctx)
    await run.raw("unknown_model", client, "model.no.such.model.search", [], 0, None, None, ctx)
    await run.raw("missing_context", client, "model.party.party.search", [])
    await run.raw(
        "validation_error", client, "model.timesheet.line.create", [{"company": company}], ctx
    )
    await run.raw("read_missing_record", client, "model.party.party.read", [999999], ["name"], ctx)
    await run.raw("login_without_password", client, "common.db.login", f"ghost-{tag}", {}, "en")

    # Access error: a user in no group may not touch invoices.
    clerk_login, clerk_password = f"clerk-{tag}", "clerk-pass-12345"
    await client.model(
        "res.user", "create", [{"name": "Clerk", "login": clerk_login, "password": clerk_password}]
    )
    clerk = TrytonClient(client.http, client.rpc_url)
    await clerk.login(clerk_login, clerk_password)
    await run.raw(
        "access_error", clerk, "model.account.invoice.search", [], 0, None, None, clerk.context
    )

    # Authentication: a throw-away login name, because failures throttle that name (pitfall 4).
    stranger = TrytonClient(client.http, client.rpc_url)
    await run.raw(
        "bad_login", stranger, "common.db.login", f"intruder-{tag}", {"password": "nope"}, "en"
    )
    await run.raw("no_authorization", stranger, "model.party.party.search", [], 0, None, None, {})
    bogus = base64.b64encode(f"{login}:1:deadbeef".encode()).decode()
    stranger.authorization = f"Session {bogus}"
    await run.raw("bad_session", stranger, "model.party.party.search", [], 0, None, None, {})
    await run.raw("logout", client, "common.db.logout")
    await run.raw("after_logout", client, "model.party.party.search", [], 0, None, None, {})
    return run


def facts_of(run: Run) -> dict[str, RpcValue | object]:
    """The decoded facts, for equality between systems (ids left out: they may differ)."""
    return {key: value for key, value in run.facts.items() if key != "ids"}
