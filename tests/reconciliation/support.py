"""A demo month kept running for a module of tests, with its admin API on loopback.

`run_demo` runs its `then` hook with the month done and the `Mediator` still running; the
hook here serves the admin API (the demo runs without its listener) on a free loopback port
with two tokens, hands the running month to the tests, and returns only when they are done,
so that one month (seconds to make) serves every test of a module.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from mediator.admin import TokenTable, open_admin_listener
from mediator.config import parse_config
from mediator.demo import run_demo
from mediator.demo.report import DemoReport
from mediator.reconciliation import Options
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm

VIEWER_TOKEN = "viewer-token-0b7d3e9c1a5f2468"
OPERATOR_TOKEN = "operator-token-6c1e8a4f2d0b9735"
_TOKENS = """\
[[admin.tokens]]
name = "dashboard"
role = "viewer"
token = "file:{folder}/viewer"

[[admin.tokens]]
name = "alice"
role = "operator"
token = "file:{folder}/operator"
"""


@dataclasses.dataclass
class Month:
    """The running demo month: its mediator, sandboxes, firm, period and admin URL."""

    mediator: Mediator
    boxes: Sandboxes
    firm: Firm
    url: str

    @property
    def period(self) -> str:
        return f"{self.firm.month:%Y-%m}"

    def headers(self, role: str) -> dict[str, str]:
        token = {"viewer": VIEWER_TOKEN, "operator": OPERATOR_TOKEN}[role]
        return {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, *, role: str | None = "operator", **kwargs: Any
    ) -> tuple[int, Any]:
        """One request to the admin API: its status and decoded JSON answer."""
        headers = {} if role is None else self.headers(role)
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.url + path, headers=headers, **kwargs) as response,
        ):
            return response.status, await response.json(content_type=None)


def _tokens(folder: Path) -> TokenTable:
    (folder / "viewer").write_text(VIEWER_TOKEN, encoding="utf-8")
    (folder / "operator").write_text(OPERATOR_TOKEN, encoding="utf-8")
    loaded = parse_config(_TOKENS.format(folder=folder), file="<tokens>")
    return TokenTable.from_config(loaded)


@contextlib.asynccontextmanager
async def live_month(
    *, seed: int = 11, size: int = 2, lift_limits: bool = True, lag: float = 0.0
) -> AsyncIterator[Month]:
    """Run a demo month and yield it running (admin API served) until the block ends.

    The reconciliation's lag window is `lag` (the demo's customers paid seconds ago: with the
    default 15 minutes every payment would be in flight). The demo's own report must be ok."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Month] = loop.create_future()
    finished = asyncio.Event()

    async def then(mediator: Mediator, boxes: Sandboxes, firm: Firm) -> None:
        mediator.reconciliation.options = Options(lag=lag)
        with tempfile.TemporaryDirectory(prefix="mediator-tokens-") as folder:
            tokens = _tokens(Path(folder))
        async with open_admin_listener(mediator, tokens, host="127.0.0.1", port=0) as address:
            host, port = address
            ready.set_result(Month(mediator, boxes, firm, f"http://{host}:{port}"))
            await finished.wait()

    demo: asyncio.Task[DemoReport] = asyncio.ensure_future(
        run_demo(
            seed=seed,
            size=size,
            faults=None,
            say=lambda _: None,
            then=then,
            lift_limits=lift_limits,
        )
    )
    try:
        waiting: set[asyncio.Future[Any]] = {demo, ready}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            demo.result()  # the demo failed before its month was done: its error
            raise AssertionError("the demo ended without running its `then`")
        yield ready.result()
    finally:
        finished.set()
        report = await demo
    assert report.ok, [c.problems for c in report.checks]
