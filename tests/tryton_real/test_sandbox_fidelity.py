"""The Tryton sandbox answers like the real trytond 8.2, scenario by scenario, shape by shape.

Each scenario runs against the session's real server (once: the runs of test_real_tryton and
test_fresh_session are reused) and against `TrytonSandbox`; every difference in status, content
type, challenge header, error head, body shape (keys, JSON types, tagged classes) or decoded
fact is listed by `fidelity.differences`. The field rules (read-only fields, domain validation,
function and unknown fields) are compared word for word as well: status and the whole envelope
but its id, with record ids and numbers masked, since the two databases number them apart.
Differences already reported to the sandbox's owner are listed in `KNOWN_GAPS`: the test fails
on any other one, so the sandbox cannot drift further from the real server unnoticed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Awaitable

import aiohttp
import pytest

from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.tryton import TrytonSandbox
from mediator.testing import FakeClock
from mediator.testing.tryton_server import TrytonServer

from .client import Answer, CallFailed, TrytonClient
from .conftest import INSTALL_TIMEOUT, SHORT_SESSION, RealRuns
from .edges import fresh_session, protocol_edges
from .fidelity import differences
from .scenario import Run, business_flow, error_cases

pytestmark = [pytest.mark.tryton, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]


async def field_rules(
    client: TrytonClient, login: str, password: str, *, tag: str, run: Run | None = None
) -> Run:
    """Write read-only, function and unknown fields; break a field's domain; read text back.

    protocol_edges covers the timesheet ``uuid`` on read, create and write, and the negative
    duration's error shape; these are the rules it leaves out, each answer kept raw.
    """
    run = run if run is not None else Run()
    await client.login(login, password)
    ctx = client.context
    company = ctx["company"]
    (party,) = await client.model("party.party", "create", [{"name": f"Rules {tag}"}])
    (employee,) = await client.model(
        "company.employee", "create", [{"party": party, "company": company}]
    )
    (work,) = await client.model(
        "timesheet.work", "create", [{"name": f"Rules {tag}", "company": company}]
    )
    line = {"company": company, "employee": employee, "work": work, "date": dt.date.today()}
    (line_id,) = await client.model(
        "timesheet.line", "create", [{**line, "duration": dt.timedelta(hours=1)}]
    )
    (project,) = await client.model(
        "project.work", "create", [{"name": f"Rules {tag}", "type": "project", "company": company}]
    )
    new_child = {"name": f"Child {tag}", "company": company, "number": "N"}
    steps: dict[str, tuple[object, ...]] = {
        "write_null_uuid": (
            "timesheet.line.write",
            [line_id],
            {"description": "d", "uuid": None},
        ),
        "create_with_number": (
            "project.work.create",
            [{"name": f"Numbered {tag}", "company": company, "number": "N-1"}],
        ),
        "write_number": ("project.work.write", [project], {"number": "N-2"}),
        "nested_number": ("project.work.write", [project], {"children": [["create", [new_child]]]}),
        "write_function_field": ("project.work.write", [project], {"amount_to_invoice": 3}),
        "unknown_field_first": ("project.work.write", [project], {"nosuch": 1, "number": "x"}),
        "read_number": ("project.work.read", [project], ["number", "comment"]),
        "write_comment": ("project.work.write", [project], {"comment": "Two\nlines"}),
        "read_comment": ("project.work.read", [project], ["comment"]),
        # the UserError's third element is [domain, fields]: compared here in full
        "create_negative_duration": (
            "timesheet.line.create",
            [{**line, "duration": dt.timedelta(hours=-2)}],
        ),
        "write_negative_duration": (
            "timesheet.line.write",
            [line_id],
            {"duration": dt.timedelta(minutes=-1)},
        ),
    }
    for step, (method, *args) in steps.items():
        run.answers[step] = await client.request(f"model.{method}", *args, ctx)
    return run


SCENARIOS = {
    "business_flow": business_flow,
    "error_cases": error_cases,
    "field_rules": field_rules,
    "protocol_edges": protocol_edges,
}

# Steps whose answers must match word for word, not just in shape.
WORD_FOR_WORD = {
    "field_rules": None,  # every step
    "protocol_edges": {"read_uuid", "create_with_uuid", "write_uuid"},
}

# Found by this test on 2026-11-26 and reported to the sandbox's owner; drop a line once fixed.
# Rechecked 2026-11-26: the timesheet uuid (read, create, write) and the negative duration's
# domain argument now match, so their lines are gone.
KNOWN_GAPS: dict[str, set[str]] = {
    "protocol_edges": {
        # project.work has no invoiced_amount: the scenario stops at its last read
        "scenario stopped: the sandbox refused a call: 200 TrytonFault(name='ServerError', "
        "message=\"'invoiced_amount'\", description='', detail='')",
        "read_project_after_invoicing: error_head is '<unexpected exception text>', "
        "real server None",
        "read_project_after_invoicing: keys missing ['result']",
        "read_project_after_invoicing: extra keys ['error']",
        "logout: no answer (the scenario stopped before this step)",
        # werkzeug's 308 carries an HTML page; the sandbox's has no body
        "no_trailing_slash: content_type is '', real server 'text/html'",
        # get_preferences: a smaller context than trytond's
        "preferences.result: keys missing ['administrator', 'company.rec_name', "
        "'company_filter', 'company_work_time']",
        "preferences.result: extra keys ['employee']",
        "preferences.result.locale: keys missing ['mon_decimal_point', 'mon_grouping', "
        "'mon_thousands_sep', 'n_cs_precedes', 'n_sep_by_space', 'n_sign_posn', "
        "'negative_sign', 'p_cs_precedes', 'p_sep_by_space', 'p_sign_posn', 'positive_sign']",
        # trytond 8.2 sets write_date on create too
        *(
            f"search_read_dotted.result[{i}].write_date: 'null', real server '<datetime>'"
            for i in range(3)
        ),
        # a posted invoice's description may still be written
        "write_posted: error_head is 'UserError', real server None",
        "write_posted: keys missing ['result']",
        "write_posted: extra keys ['error']",
        # answers over 1400 bytes are gzip-encoded by trytond when the client accepts gzip
        "fact large_content_encoding: None, real 'gzip'",
    },
    "fresh_session": {
        # a stale session is refused by abort(401): HTML page, no WWW-Authenticate challenge
        "post_stale: content_type is 'text/plain', real server 'text/html'",
        "post_stale: www_authenticate is 'Basic realm=\"Tryton\"', real server None",
    },
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_sandbox_answers_like_the_real_server(
    name: str,
    http: aiohttp.ClientSession,
    tryton_server: TrytonServer,
    tag: str,
    real_runs: RealRuns,
) -> None:
    scenario = SCENARIOS[name]
    login, password = tryton_server.login, tryton_server.password
    if name in real_runs:  # test_real_tryton ran it already: same answers, same tag
        tag, real = real_runs[name]
    else:
        real = await scenario(TrytonClient(http, tryton_server.rpc_url), login, password, tag=tag)

    sandbox = TrytonSandbox(
        database=tryton_server.database, users={login: password}, legacy_root=False
    )
    ours = Run()
    async with open_sandbox(sandbox) as url:
        client = TrytonClient(http, f"{url}/{tryton_server.database}/rpc/")
        stopped = await _until_refused(scenario(client, login, password, tag=tag, run=ours))
    wording = _wording_differences(real, ours, WORD_FOR_WORD.get(name, set()))
    _assert_no_new_gaps(name, stopped + differences(real, ours) + wording)


async def test_sandbox_refuses_a_stale_session_like_the_real_server(
    http: aiohttp.ClientSession, short_session_server: TrytonServer, real_runs: RealRuns
) -> None:
    server = short_session_server
    login, password = server.login, server.password

    async def wait_out_the_window() -> None:
        await asyncio.sleep(SHORT_SESSION + 0.5)  # trytond reads its own wall clock

    if "fresh_session" in real_runs:  # test_fresh_session ran it already
        real = real_runs["fresh_session"][1]
    else:
        client = TrytonClient(http, server.rpc_url)
        real = await fresh_session(client, login, password, idle=wait_out_the_window)

    clock = FakeClock()
    sandbox = TrytonSandbox(
        clock=clock,
        database=server.database,
        users={login: password},
        session_timeout=SHORT_SESSION,
    )

    async def advance_past_the_window() -> None:
        await clock.advance(SHORT_SESSION + 0.5)

    ours = Run()
    async with open_sandbox(sandbox) as url:
        client = TrytonClient(http, f"{url}/{server.database}/rpc/")
        stopped = await _until_refused(
            fresh_session(client, login, password, idle=advance_past_the_window, run=ours)
        )
    _assert_no_new_gaps("fresh_session", stopped + differences(real, ours))


async def _until_refused(scenario: Awaitable[Run]) -> list[str]:
    """Run the sandbox's side; a call the real server took but the sandbox refused ends it."""
    try:
        await scenario
    except CallFailed as exc:
        return [f"scenario stopped: the sandbox refused a call: {exc.answer.status} {exc.fault}"]
    return []


def _wording_differences(real: Run, ours: Run, steps: set[str] | None) -> list[str]:
    """Steps (all when `steps` is None) whose status or envelope text differ, ids masked."""
    found = []
    for step in real.answers if steps is None else sorted(steps):
        if step in real.answers and step in ours.answers:
            expected, got = _wire(real.answers[step]), _wire(ours.answers[step])
            if got != expected:
                found.append(f"{step} word for word: {got}, real server {expected}")
    return found


def _wire(answer: Answer) -> tuple[int, str]:
    """Status and envelope (keys sorted, id dropped); record ids and numbers masked."""
    wire = answer.wire
    if isinstance(wire, dict):
        wire = {key: value for key, value in wire.items() if key != "id"}
    text = json.dumps(wire, sort_keys=True)
    for pattern, mask in _MASKS:
        text = re.sub(pattern, mask, text)
    return answer.status, text


_MASKS = (  # what the two databases number differently
    (r'record \\"\(\d+\)\\"', r'record \\"(N)\\"'),
    (r'"id": \d+', '"id": N'),
    (r'"number": "\d+"', '"number": "<sequence>"'),
)


def _assert_no_new_gaps(name: str, found: list[str]) -> None:
    new = [finding for finding in found if finding not in KNOWN_GAPS.get(name, set())]
    assert new == [], "\n".join([f"sandbox differs from trytond 8.2 in {name}:", *new])
