"""The Tryton sandbox answers like the real trytond 8.2, scenario by scenario, shape by shape.

Each scenario runs against the fixture's real server and against `TrytonSandbox`; every
difference in status, content type, challenge header, error head, body shape (keys, JSON types,
tagged classes) or decoded fact is listed by `fidelity.differences`. Differences already
reported to the sandbox's owner are listed in `KNOWN_GAPS`: the test fails on any other one,
so the sandbox cannot drift further from the real server unnoticed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import aiohttp
import pytest

from mediator.sandbox.serving import open_sandbox
from mediator.sandbox.tryton import TrytonSandbox
from mediator.testing import FakeClock
from mediator.testing.tryton_server import TrytonServer

from .client import CallFailed, TrytonClient
from .conftest import INSTALL_TIMEOUT, SHORT_SESSION, RealRuns
from .edges import fresh_session, protocol_edges
from .fidelity import differences
from .scenario import Run, business_flow, error_cases

pytestmark = [pytest.mark.tryton, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]

SCENARIOS = {
    "business_flow": business_flow,
    "error_cases": error_cases,
    "protocol_edges": protocol_edges,
}

# Found by this test on 2026-11-26 and reported to the sandbox's owner; drop a line once fixed.
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
        # timesheet.line.uuid is read-only over RPC and stays null on RPC creates
        "read_uuid.result[0].uuid: 'str', real server 'null'",
        "create_with_uuid: error_head is None, real server 'UserError'",
        "create_with_uuid: keys missing ['error']",
        "create_with_uuid: extra keys ['result']",
        "write_uuid: error_head is None, real server 'UserError'",
        "write_uuid: keys missing ['error']",
        "write_uuid: extra keys ['result']",
        # a posted invoice's description may still be written
        "write_posted: error_head is 'UserError', real server None",
        "write_posted: keys missing ['result']",
        "write_posted: extra keys ['error']",
        # answers over 1400 bytes are gzip-encoded by trytond when the client accepts gzip
        "fact large_content_encoding: None, real 'gzip'",
        # the domain-validation UserError carries [domain, fields] as its third element
        "fact negative_duration: (200, 'UserError', 'NoneType'), real (200, 'UserError', 'list')",
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
    _assert_no_new_gaps(name, stopped + differences(real, ours))


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


def _assert_no_new_gaps(name: str, found: list[str]) -> None:
    new = [finding for finding in found if finding not in KNOWN_GAPS.get(name, set())]
    assert new == [], "\n".join([f"sandbox differs from trytond 8.2 in {name}:", *new])
