"""The Tryton sandbox answers like a real trytond 8.2, step by step, shape by shape.

The business scenario and the error cases of tests/tryton_real run against the real server
(the cached fixture of `mediator.testing.tryton_server`) and against the sandbox; every
difference in status, content type, challenge header, error head, body shape (keys, JSON
types, tagged classes) or decoded fact is reported. The field rules (read-only fields, domain
validation) are compared word for word: status and the whole envelope but its id, with record
numbers masked, since the two databases number their records differently.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from mediator.sandbox.serving import open_sandbox
from mediator.sandbox.tryton import TrytonSandbox
from mediator.testing.tryton_server import TrytonServer, open_tryton_server
from tests.tryton_real.client import Answer, TrytonClient
from tests.tryton_real.fidelity import differences
from tests.tryton_real.scenario import business_flow, error_cases

pytestmark = [pytest.mark.tryton, pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    with open_tryton_server(work_dir=Path(tmp_path_factory.mktemp("tryton-fidelity"))) as server:
        yield server


async def test_sandbox_matches_the_real_server(real_server: TrytonServer) -> None:
    sandbox = TrytonSandbox(
        database=real_server.database, users={real_server.login: real_server.password}
    )
    async with aiohttp.ClientSession() as http, open_sandbox(sandbox) as url:
        real = TrytonClient(http, real_server.rpc_url)
        ours = TrytonClient(http, f"{url}/{real_server.database}/rpc/")
        found = []
        for scenario in (business_flow, error_cases):
            expected = await scenario(real, real_server.login, real_server.password, tag="fid")
            got = await scenario(ours, real_server.login, real_server.password, tag="fid")
            found += differences(expected, got)
    assert found == []


async def test_sandbox_field_rules_match_the_real_server_word_for_word(
    real_server: TrytonServer,
) -> None:
    sandbox = TrytonSandbox(
        database=real_server.database, users={real_server.login: real_server.password}
    )
    async with aiohttp.ClientSession() as http, open_sandbox(sandbox) as url:
        real = TrytonClient(http, real_server.rpc_url)
        ours = TrytonClient(http, f"{url}/{real_server.database}/rpc/")
        login, password = real_server.login, real_server.password
        expected = await _field_rules(real, login, password)
        got = await _field_rules(ours, login, password)
    assert got == expected


async def _field_rules(client: TrytonClient, login: str, password: str) -> dict[str, object]:
    """Each step's answer, as `_wire` reduces it, by step name."""
    await client.login(login, password)
    ctx = client.context
    company = ctx["company"]
    (party,) = await client.model("party.party", "create", [{"name": "Rules"}])
    (employee,) = await client.model(
        "company.employee", "create", [{"party": party, "company": company}]
    )
    (work,) = await client.model(
        "timesheet.work", "create", [{"name": "Rules", "company": company}]
    )
    line = {"company": company, "employee": employee, "work": work, "date": dt.date.today()}
    (line_id,) = await client.model(
        "timesheet.line", "create", [{**line, "duration": dt.timedelta(hours=1)}]
    )
    (project,) = await client.model(
        "project.work", "create", [{"name": "Rules", "type": "project", "company": company}]
    )
    steps = {
        "read_line": ("model.timesheet.line.read", [line_id], ["uuid"]),
        "create_with_uuid": (
            "model.timesheet.line.create",
            [{**line, "duration": dt.timedelta(hours=1), "uuid": "u-1"}],
        ),
        "write_uuid": ("model.timesheet.line.write", [line_id], {"uuid": "u-2"}),
        "write_null_uuid": (
            "model.timesheet.line.write",
            [line_id],
            {"description": "d", "uuid": None},
        ),
        "create_with_number": (
            "model.project.work.create",
            [{"name": "Numbered", "company": company, "number": "N-1"}],
        ),
        "write_number": ("model.project.work.write", [project], {"number": "N-2"}),
        "nested_number": (
            "model.project.work.write",
            [project],
            {"children": [["create", [{"name": "Child", "company": company, "number": "N"}]]]},
        ),
        "write_function_field": (
            "model.project.work.write",
            [project],
            {"amount_to_invoice": 3},
        ),
        "unknown_field_first": (
            "model.project.work.write",
            [project],
            {"nosuch": 1, "number": "x"},
        ),
        "read_number": ("model.project.work.read", [project], ["number", "comment"]),
        "write_comment": ("model.project.work.write", [project], {"comment": "Two\nlines"}),
        "read_comment": ("model.project.work.read", [project], ["comment"]),
        "create_negative_duration": (
            "model.timesheet.line.create",
            [{**line, "duration": dt.timedelta(hours=-2)}],
        ),
        "write_negative_duration": (
            "model.timesheet.line.write",
            [line_id],
            {"duration": dt.timedelta(minutes=-1)},
        ),
    }
    return {
        name: _wire(await client.request(method, *args, ctx))
        for name, (method, *args) in steps.items()
    }


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
