"""A running `Mediator` with its admin API, dead letters, approvals and two tokens.

The Harvest sandbox's approved time is polled without the onboarding xrefs, so every entry
becomes a dead letter (no ERP project or employee for it): the API has something to list,
show, replay, release and discard. One mediator serves a whole test module (starting the
sandboxes and the runtime is most of a test's time); tests that act on dead letters each
take their own. Every log record of the daemon's loggers is kept, for the secrets test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from mediator.clock import SystemClock
from mediator.config import parse_config
from mediator.journal import DeadLetterFilter, Entry
from mediator.journal.operator import Approval
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, TrytonSandbox, open_sandboxes
from mediator.sandbox.generator import generate_firm
from mediator.testing.postgres import TEST_DSN, scratch_schema
from tests.runtime.support import config_text

SEED = 11
VIEWER_TOKEN = "viewer-token-3f9a1c7e5b2d4680"
OPERATOR_TOKEN = "operator-token-8e2b6d4f0a1c3957"
TRYTON_PASSWORD = "tryton-password-5d2c8b1e7f"
REQUEST_TIMEOUT = 1.0
ADMIN_EXTRA = f"""max_body = 1024
request_timeout = {REQUEST_TIMEOUT}

[[admin.tokens]]
name = "dashboard"
role = "viewer"
token = "env:TEST_ADMIN_VIEWER_TOKEN"

[[admin.tokens]]
name = "alice"
role = "operator"
token = "env:TEST_ADMIN_OPERATOR_TOKEN"
"""


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("mediator") and not record.name.startswith("mediator.sandbox"):
            self.lines.append(self.format(record))  # a record's traceback included


@dataclasses.dataclass
class Admin:
    """The running mediator, its admin URL, and what the tests need to know about it."""

    mediator: Mediator
    url: str
    boxes: Sandboxes
    dead: list[Entry]
    approvals: list[Approval]
    secrets: dict[str, str]
    log: _Kept

    def headers(self, role: str) -> dict[str, str]:
        token = {"viewer": VIEWER_TOKEN, "operator": OPERATOR_TOKEN}[role]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def journal_backend() -> str:
    """The journal the module's mediator runs on: SQLite here; a module that tests behaviour
    on both overrides it with params ``sqlite`` and ``postgres`` (test_api does)."""
    return "sqlite"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(
    tmp_path_factory: pytest.TempPathFactory, journal_backend: str
) -> AsyncIterator[Admin]:
    async with contextlib.AsyncExitStack() as stack:
        schema = None
        if journal_backend == "postgres":
            schema = await stack.enter_async_context(scratch_schema())
        async for running in _admin(tmp_path_factory, schema):
            yield running


async def _admin(
    tmp_path_factory: pytest.TempPathFactory, schema: str | None
) -> AsyncIterator[Admin]:
    tmp_path: Path = tmp_path_factory.mktemp("admin")
    firm = generate_firm(seed=SEED, size=8)
    kept = _Kept()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(kept)
    root.setLevel(logging.DEBUG)
    saved = {k: os.environ.get(k) for k in _ENV}
    try:
        # the ERP sandbox's default password is its login, "admin": a value found in any
        # text; a long one makes the secrets test's search mean something
        prepared = Sandboxes(
            tryton=TrytonSandbox(clock=SystemClock(), seed=SEED, users={"admin": TRYTON_PASSWORD})
        )
        async with open_sandboxes(
            products=("harvest", "tryton"),
            clock=SystemClock(),
            seed=SEED,
            firm=firm,
            prepared=prepared,
        ) as boxes:
            creds = boxes.credentials()
            secrets = {
                "TEST_HARVEST_TOKEN": creds["harvest"]["token"],
                "TEST_TRYTON_PASSWORD": creds["tryton"]["password"],
                "TEST_ADMIN_VIEWER_TOKEN": VIEWER_TOKEN,
                "TEST_ADMIN_OPERATOR_TOKEN": OPERATOR_TOKEN,
            }
            os.environ.update(secrets)
            text = config_text(boxes, extra=ADMIN_EXTRA)
            if schema is not None:  # the same mediator on a PostgreSQL journal
                text = text.replace(
                    '[journal]\npath = "journal.sqlite"\n',
                    f'[journal]\ndsn = "{TEST_DSN}"\nschema = "{schema}"\n',
                )
            loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
            async with Mediator(loaded) as mediator:
                await mediator.pollers[0].wait_polls(1)
                await mediator.wait_idle()
                dead = await mediator.dead_letters(DeadLetterFilter(), limit=1000)
                assert len(dead) >= 8, "the fixture needs dead letters to work with"
                approvals = [
                    await mediator.request_approval(
                        flow="approved_time",
                        entity=dead[0].key,
                        what=f"post {dead[0].key} to the ledger",
                        amount=125_000,
                        currency="USD",
                    ),
                    await mediator.request_approval(
                        flow="approved_time", entity=dead[1].key, what="post a large entry"
                    ),
                    await mediator.request_approval(
                        flow="approved_time", entity=dead[2].key, what="post another"
                    ),
                ]
                assert mediator.admin_address is not None
                host, port = mediator.admin_address
                yield Admin(
                    mediator=mediator,
                    url=f"http://{host}:{port}",
                    boxes=boxes,
                    dead=dead,
                    approvals=approvals,
                    secrets=secrets,
                    log=kept,
                )
    finally:
        root.removeHandler(kept)
        root.setLevel(old_level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


_ENV = (
    "TEST_HARVEST_TOKEN",
    "TEST_TRYTON_PASSWORD",
    "TEST_ADMIN_VIEWER_TOKEN",
    "TEST_ADMIN_OPERATOR_TOKEN",
)
