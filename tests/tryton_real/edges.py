"""Protocol edges and the fresh-session rule, as scenarios for the fidelity check.

What a connector meets beyond the happy path: server-level calls, routes (trailing slash,
``/<db>/``, unknown database), the envelope rule with odd ids, Basic authorization, searching
(order, offset, limit, OR and ``in`` domains), write/delete results, ``_timestamp`` concurrency,
the read-only timesheet ``uuid``, a negative duration, a posted invoice refusing changes, the
project's invoicing of its timesheets, and large answers (gzip). Each step keeps its raw answer
or a decoded fact, so `fidelity.differences` can compare the real server and the sandbox.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from urllib.parse import urlsplit

from tests.systems.harness_tryton import record_ids

from .client import TrytonClient
from .scenario import Run, invoice_values, references


def _server_url(client: TrytonClient) -> str:
    """``http://host:port/`` of the client's database endpoint ``…/<db>/rpc/``."""
    parts = urlsplit(client.rpc_url)
    return f"{parts.scheme}://{parts.netloc}/"


def _database(client: TrytonClient) -> str:
    return urlsplit(client.rpc_url).path.strip("/").split("/")[0]


async def protocol_edges(
    client: TrytonClient, login: str, password: str, *, tag: str, run: Run | None = None
) -> Run:
    """Routes, envelope, auth variants, search semantics, concurrency and workflow refusals."""
    run = run if run is not None else Run()
    base, database = _server_url(client), _database(client)
    run.answers["server_version"] = await client.request("common.server.version", url=base + "rpc/")
    run.answers["db_list"] = await client.request("common.db.list", url=base + "rpc/")
    slashless = await client.request("common.server.version", url=client.rpc_url.rstrip("/"))
    run.answers["no_trailing_slash"] = slashless
    run.facts["redirect_to"] = urlsplit(slashless.headers.get("Location", "")).path
    run.answers["database_root"] = await client.request(
        "common.server.version", url=f"{base}{database}/"
    )
    run.answers["unknown_database"] = await client.request(
        "common.db.login", login, {"password": password}, "en", url=f"{base}nosuchdb/rpc/"
    )

    await client.login(login, password)
    run.answers["preferences"] = client.answered
    for name, body in (
        ("string_id", b'{"id":"abc","method":"model.party.party.search_count","params":[[],{}]}'),
        ("null_id", b'{"id":null,"method":"model.party.party.search_count","params":[[],{}]}'),
        ("no_id_bare", b'{"method":"model.party.party.search_count","params":[[],{}]}'),
        ("bare_user_error", b'{"method":"model.timesheet.line.create","params":[[{}],{}]}'),
    ):
        run.answers[name] = await client.post(body)
    basic = TrytonClient(client.http, client.rpc_url)
    basic.authorization = "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()
    run.answers["basic_auth"] = await basic.request("model.party.party.search_count", [], {})

    await _searching(run, client, tag)
    employee = await _timesheet_rules(run, client, tag)
    await _invoice_rules(run, client, tag, employee)
    run.answers["logout"] = await client.request("common.db.logout")
    return run


async def _searching(run: Run, client: TrytonClient, tag: str) -> None:
    names = [f"Edge {letter} {tag}" for letter in "ABC"]
    ids = await run.model(
        "create_parties", client, "party.party", "create", [{"name": n} for n in names]
    )
    mine = ["name", "like", f"Edge % {tag}"]
    await run.model(
        "search_ordered_page", client, "party.party", "search", [mine], 1, 1, [["name", "DESC"]]
    )
    run.facts["page"] = run.answers["search_ordered_page"].wire["result"] == [ids[1]]
    await run.model("search_count", client, "party.party", "search_count", [mine])
    await run.model(
        "search_or",
        client,
        "party.party",
        "search",
        ["OR", ["id", "=", ids[0]], ["name", "=", names[2]]],
        0,
        None,
        [["id", "ASC"]],
    )
    run.facts["or"] = run.answers["search_or"].wire["result"] == [ids[0], ids[2]]
    await run.model("search_in", client, "party.party", "search_count", [["id", "in", ids[:2]]])
    await run.model(
        "search_read_dotted",
        client,
        "party.party",
        "search_read",
        [mine],
        0,
        None,
        [["name", "ASC"]],
        ["name", "code", "rec_name", "create_date", "write_date"],
    )
    (row,) = await run.model(
        "read_timestamp", client, "party.party", "read", [ids[0]], ["_timestamp"]
    )
    await run.model("write", client, "party.party", "write", [ids[0]], {"name": f"Edge Z {tag}"})
    stale = {**client.context, "_timestamp": {f"party.party,{ids[0]}": row["_timestamp"]}}
    run.answers["stale_write"] = await client.request(
        "model.party.party.write", [ids[0]], {"name": "late"}, stale
    )
    await run.model("delete", client, "party.party", "delete", [ids[2]])
    run.answers["read_deleted"] = await client.request(
        "model.party.party.read", [ids[2]], ["name"], client.context
    )
    # A body over 1400 bytes is streamed, gzip-encoded when the client accepts it.
    many = await client.model(
        "party.party", "create", [{"name": f"Bulk {i:02} {tag} " + "x" * 60} for i in range(20)]
    )
    await run.model("large_read", client, "party.party", "read", many, ["name", "code"])
    run.facts["large_content_encoding"] = run.answers["large_read"].headers.get("Content-Encoding")


async def _timesheet_rules(run: Run, client: TrytonClient, tag: str) -> int:
    company = client.context["company"]
    (party,) = await client.model("party.party", "create", [{"name": f"Worker {tag}"}])
    (employee,) = record_ids(
        await client.model("company.employee", "create", [{"party": party, "company": company}])
    )
    (work,) = await run.model(
        "create_timesheet_work",
        client,
        "timesheet.work",
        "create",
        [{"name": f"Internal {tag}", "company": company}],
    )
    line = {"company": company, "employee": employee, "work": work, "date": dt.date.today()}
    (created,) = await run.model(
        "create_timesheet_line",
        client,
        "timesheet.line",
        "create",
        [{**line, "duration": dt.timedelta(hours=1)}],
    )
    await run.model("read_uuid", client, "timesheet.line", "read", [created], ["uuid", "duration"])
    ctx = client.context
    run.answers["create_with_uuid"] = await client.request(
        "model.timesheet.line.create",
        [{**line, "duration": dt.timedelta(hours=1), "uuid": tag}],
        ctx,
    )
    run.answers["write_uuid"] = await client.request(
        "model.timesheet.line.write", [created], {"uuid": tag}, ctx
    )
    negative = await client.request(
        "model.timesheet.line.create", [{**line, "duration": dt.timedelta(hours=-1)}], ctx
    )
    # The domain part of this error embeds the field's whole definition: compare its head only.
    error = negative.wire["error"] if isinstance(negative.wire, dict) else None
    run.facts["negative_duration"] = (
        negative.status,
        error and error[0],
        error and type(error[1][2]).__name__,
    )
    return employee


async def _invoice_rules(run: Run, client: TrytonClient, tag: str, employee: int) -> None:
    refs = await references(run, client)
    company = refs["company"]
    (party,) = await client.model(
        "party.party",
        "create",
        [{"name": f"Billed {tag}", "addresses": [["create", [{"city": "Lyon"}]]]}],
    )
    (address,) = (await client.model("party.party", "read", [party], ["addresses"]))[0]["addresses"]
    (invoice,) = await client.model(
        "account.invoice",
        "create",
        [invoice_values(refs, party=party, address=address, hours=3.0, description=tag)],
    )
    await run.model("post_from_draft", client, "account.invoice", "post", [invoice])
    ctx = client.context
    run.answers["write_posted"] = await client.request(
        "model.account.invoice.write", [invoice], {"description": "changed"}, ctx
    )
    run.answers["delete_posted"] = await client.request(
        "model.account.invoice.delete", [invoice], ctx
    )
    await run.model(
        "read_posted",
        client,
        "account.invoice",
        "read",
        [invoice],
        ["state", "number", "total_amount", "amount_to_pay", "reference", "currency.code"],
    )

    (project,) = await run.model(
        "create_billed_project",
        client,
        "project.work",
        "create",
        [
            {
                "name": f"Billed {tag}",
                "type": "project",
                "company": company,
                "party": party,
                "timesheet_available": True,
                "project_invoice_method": "timesheet",
                "product": refs["product"]["id"],
                "list_price": Decimal("80"),
            }
        ],
    )
    (work,) = (await client.model("project.work", "read", [project], ["timesheet_works"]))[0][
        "timesheet_works"
    ]
    await client.model(
        "timesheet.line",
        "create",
        [
            {
                "company": company,
                "employee": employee,
                "work": work,
                "date": dt.date.today(),
                "duration": dt.timedelta(hours=4),
            }
        ],
    )
    await run.model("invoice_project", client, "project.work", "invoice", [project])
    drafts = await run.model(
        "find_project_invoice",
        client,
        "account.invoice",
        "search_read",
        [["party", "=", party], ["state", "=", "draft"]],
        0,
        None,
        None,
        ["state", "total_amount", "invoice_date", "lines"],
    )
    run.facts["project_invoice"] = [
        (d["state"], d["total_amount"], d["invoice_date"]) for d in drafts
    ]
    await run.model(
        "read_project_after_invoicing",
        client,
        "project.work",
        "read",
        [project],
        ["invoiced_amount", "amount_to_invoice", "timesheet_duration"],
    )


async def fresh_session(
    client: TrytonClient,
    login: str,
    password: str,
    *,
    idle: Callable[[], Awaitable[None]],
    run: Run | None = None,
) -> Run:
    """Post after the session went stale (`idle` outlasts the window), then after a new login."""
    run = run if run is not None else Run()
    await client.login(login, password)
    refs = await references(run, client)
    (party,) = await client.model(
        "party.party", "create", [{"name": "Stale", "addresses": [["create", [{"city": "Nice"}]]]}]
    )
    (address,) = (await client.model("party.party", "read", [party], ["addresses"]))[0]["addresses"]
    (invoice,) = await client.model(
        "account.invoice",
        "create",
        [invoice_values(refs, party=party, address=address, hours=1.0, description="stale")],
    )
    await idle()
    run.answers["post_stale"] = await client.request(
        "model.account.invoice.post", [invoice], client.context
    )
    run.answers["after_stale"] = await client.request(
        "model.account.invoice.read", [invoice], ["state"], client.context
    )
    await client.login(login, password)
    await run.model("post_fresh", client, "account.invoice", "post", [invoice])
    await run.model(
        "read_fresh", client, "account.invoice", "read", [invoice], ["state", "total_amount"]
    )
    return run
