"""The Tryton sandbox answers like a real trytond 8.2, step by step, shape by shape.

The business scenario and the error cases of tests/tryton_real run against the real server
(the cached fixture of `mediator.testing.tryton_server`) and against the sandbox; every
difference in status, content type, challenge header, error head, body shape (keys, JSON
types, tagged classes) or decoded fact is reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from mediator.sandbox.serving import open_sandbox
from mediator.sandbox.tryton import TrytonSandbox
from mediator.testing.tryton_server import TrytonServer, open_tryton_server
from tests.tryton_real.client import TrytonClient
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
