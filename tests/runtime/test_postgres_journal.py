"""A `Mediator` on a PostgreSQL journal (`[journal] dsn`), end to end: the approved-time flow
from the Harvest sandbox to the ERP sandbox, the admin API's dead letters and audit log read
from PostgreSQL, and the configuration errors of a dsn."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mediator.clock import SystemClock
from mediator.config import parse_config
from mediator.errors import ConfigError
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import Firm, generate_firm
from mediator.testing.onboarded import record_onboarding
from mediator.testing.postgres import TEST_DSN, scratch_schema
from tests.runtime.support import config_text, erp_lines

pytestmark = pytest.mark.slow  # two sandboxes, PostgreSQL and the whole runtime

SEED = 5
VIEWER = "viewer-token-0c1d2e3f4a5b6c7d"
OPERATOR = "operator-token-7e6d5c4b3a2f1e0d"
TOKENS = """
[[admin.tokens]]
name = "dashboard"
role = "viewer"
token = "env:TEST_ADMIN_VIEWER_TOKEN"

[[admin.tokens]]
name = "alice"
role = "operator"
token = "env:TEST_ADMIN_OPERATOR_TOKEN"
"""


@pytest.fixture
async def firm_and_boxes(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Firm, Sandboxes]]:
    firm = generate_firm(seed=SEED, size=2)
    async with open_sandboxes(
        products=("harvest", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
    ) as boxes:
        creds = boxes.credentials()
        monkeypatch.setenv("TEST_HARVEST_TOKEN", creds["harvest"]["token"])
        monkeypatch.setenv("TEST_TRYTON_PASSWORD", creds["tryton"]["password"])
        monkeypatch.setenv("TEST_ADMIN_VIEWER_TOKEN", VIEWER)
        monkeypatch.setenv("TEST_ADMIN_OPERATOR_TOKEN", OPERATOR)
        yield firm, boxes


def _on_postgres(text: str, schema: str) -> str:
    sqlite = '[journal]\npath = "journal.sqlite"\n'
    assert sqlite in text
    return text.replace(sqlite, f'[journal]\ndsn = "{TEST_DSN}"\nschema = "{schema}"\n')


async def _call(
    http: aiohttp.ClientSession, method: str, path: str, token: str, **kwargs: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, path, headers=headers, **kwargs) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_approved_time_runs_on_postgres_and_the_admin_api_reads_from_it(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    async with scratch_schema() as schema:
        text = _on_postgres(config_text(boxes, extra=TOKENS), schema)
        loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
        async with Mediator(loaded) as mediator:
            # no onboarding yet: each project's first entry is a dead letter (no ERP project
            # or employee for it), and its later entries are parked behind it
            [poller] = mediator.pollers
            await poller.wait_polls(1)
            await mediator.wait_idle()
            journaled = mediator.statistics().pollers[0].journaled
            assert journaled > 10
            assert mediator.admin_address is not None
            host, port = mediator.admin_address
            async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
                page = await _call(http, "GET", "/dead-letters", VIEWER)
                dead = [item["id"] for item in page["items"]]
                assert len(dead) == 2  # the firm's two projects
                assert erp_lines(boxes) == []

                await record_onboarding(mediator.journal, firm, boxes)
                released = await _call(
                    http, "POST", f"/dead-letters/{dead[0]}/release", OPERATOR,
                    json={"reason": "posted by hand"},
                )  # fmt: skip
                assert released["entry"]["state"] == "released"
                assert released["unparked"] > 0
                sent = await _call(
                    http, "POST", "/dead-letters/replay", OPERATOR,
                    json={"dry_run": False, "reason": "xrefs loaded"},
                )  # fmt: skip
                assert [e["replay_of"] for e in sent["sent"]] == [dead[1]]
                await mediator.wait_idle()

                left = await _call(http, "GET", "/dead-letters", VIEWER)
                assert left["items"] == []
                audit = await _call(http, "GET", "/audit", VIEWER)
                assert [(r["action"], r["who"], r["target"]) for r in audit["items"]] == [
                    ("release", "alice", dead[0]),
                    ("replay", "alice", dead[1]),
                ]
            # every entry but the one released by hand reached the ERP, once
            assert len(erp_lines(boxes)) == journaled - 1
        assert not (tmp_path / "journal.sqlite").exists(), "nothing went to a SQLite file"


@pytest.mark.parametrize(
    ("dsn", "says"),
    [
        ("mysql://root@127.0.0.1/test", "postgresql://"),
        ("postgresql://postgres:hunter2@127.0.0.1/test", "must not carry a password"),
        ("postgresql://127.0.0.1/test?password=hunter2", "must not carry a password"),
        ("postgresql://127.0.0.1:port/test", "not a dsn"),
    ],
)
def test_a_journal_dsn_that_is_no_postgresql_url_without_password_is_a_config_error(
    tmp_path: Path, dsn: str, says: str
) -> None:
    text = f'time_zone = "UTC"\n\n[journal]\ndsn = "{dsn}"\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file="mediator.toml", base_dir=tmp_path)
    assert caught.value.key == "journal.dsn"
    assert caught.value.line == 4
    assert says in caught.value.reason
    assert "hunter2" not in str(caught.value)


async def test_a_journal_that_cannot_be_reached_names_journal_dsn(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, boxes = firm_and_boxes
    monkeypatch.setenv("TEST_JOURNAL_PASSWORD", "s3cret-journal-pw")
    with socket.socket() as unused:  # bound, never listening: a connection is refused
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        text = config_text(boxes).replace(
            '[journal]\npath = "journal.sqlite"\n',
            f'[journal]\ndsn = "postgresql://postgres@127.0.0.1:{port}/test"\n'
            'password = "env:TEST_JOURNAL_PASSWORD"\n',
        )
        loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
        with pytest.raises(ConfigError) as caught:
            async with Mediator(loaded):
                pass
    assert caught.value.key == "journal.dsn"
    assert f"127.0.0.1:{port}" in caught.value.reason
    assert "s3cret-journal-pw" not in str(caught.value)


async def test_a_dsn_without_asyncpg_installed_says_to_install_the_extra(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, boxes = firm_and_boxes
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if not installed
    text = config_text(boxes).replace(
        '[journal]\npath = "journal.sqlite"\n', f'[journal]\ndsn = "{TEST_DSN}"\n'
    )
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        async with Mediator(loaded):
            pass
    assert caught.value.key == "journal.dsn"
    assert "mediator[postgres]" in caught.value.reason
