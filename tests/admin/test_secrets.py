"""A secret given in the configuration is found nowhere the daemon speaks: its logs, every
API answer (successes, problems, headers, the OpenAPI document) and the CLI's output."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mediator.admin import ENDPOINTS
from mediator.cli import main
from tests.admin.conftest import OPERATOR_TOKEN, VIEWER_TOKEN, Admin

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def test_no_secret_of_the_config_is_logged_answered_or_printed(
    admin: Admin, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    heard: list[str] = []
    target = admin.dead[0]
    bodies = {"reason": "checking for leaks", "dry_run": False}
    async with aiohttp.ClientSession(admin.url) as http:
        for token in (VIEWER_TOKEN, OPERATOR_TOKEN, OPERATOR_TOKEN[:-1], ""):
            for endpoint in ENDPOINTS:
                path = endpoint.path.replace("{id}", target.id).replace("{key}", target.key)
                async with http.request(
                    endpoint.method, path, json=bodies,
                    headers={"Authorization": f"Bearer {token}"} if token else {},
                ) as response:  # fmt: skip
                    heard.append(str(response.status) + str(dict(response.headers)))
                    heard.append(await response.text())
        async with http.get("/openapi.json") as response:
            heard.append(await response.text())
    for token in (OPERATOR_TOKEN, "wrong-token"):
        monkeypatch.setenv("MEDIATOR_TOKEN", token)
        for argv in (
            ["status"], ["dlq", "list"], ["dlq", "show", admin.dead[1].id],
            ["entity", admin.dead[1].key], ["approvals", "list"], ["dlq", "list", "--json"],
        ):  # fmt: skip
            args = [*argv[:2], "--url", admin.url, *argv[2:]] if argv[0] == "dlq" else [
                argv[0], *(argv[1:2] if argv[0] == "approvals" else []), "--url", admin.url,
                *argv[(2 if argv[0] == "approvals" else 1):],
            ]  # fmt: skip
            await asyncio.to_thread(main, args)
            out, err = capsys.readouterr()
            heard.extend((out, err))
    heard.extend(admin.log.lines)
    assert len(admin.log.lines) > 10  # the daemon did log: the check below looks at something
    everything = "\n".join(heard)
    for name, value in admin.secrets.items():
        assert len(value) >= 8
        assert value not in everything, f"the secret of {name} leaked"
