"""A real browser (Debian's chromium, driven by Playwright) on the dashboard of a running
`Mediator`: the admin tests' mediator (dead letters and approvals made through public paths),
plus an invoice waiting for approval as the receivables flow files one.

One browser and one mediator serve a whole test module; each test has a browser context of
its own (its own cookies) that records every request the pages make. The browser is found
on the machine (`MEDIATOR_CHROMIUM`, else ``chromium`` on the PATH); `playwright install`'s
downloads are never used. Without a chromium the tests are skipped with the reason, except
in CI (``CI=true``), where they fail: CI installs it (`.ci/run`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, Request, async_playwright

from mediator.journal.operator import Approval
from tests.admin.conftest import OPERATOR_TOKEN, VIEWER_TOKEN, Admin, admin, journal_backend

__all__ = ["Site", "admin", "browser", "context", "journal_backend", "site"]

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The chromium to drive: `MEDIATOR_CHROMIUM`, else the first on the PATH."""
    given = os.environ.get("MEDIATOR_CHROMIUM")
    if given:
        return given if Path(given).exists() else None
    return next((found for name in _CANDIDATES if (found := shutil.which(name))), None)


def artifacts() -> Path:
    """Where the tests' screenshots go (`MEDIATOR_TEST_ARTIFACTS`, else tests/artifacts)."""
    folder = Path(
        os.environ.get("MEDIATOR_TEST_ARTIFACTS") or Path(__file__).parent.parent / "artifacts"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclasses.dataclass
class Site:
    """The running mediator and its admin API (`admin`), and the invoice awaiting approval."""

    admin: Admin
    invoice: Approval

    @property
    def url(self) -> str:
        return self.admin.url


@dataclasses.dataclass
class Tab:
    """A browser context's page and every request its pages made."""

    page: Page
    requests: list[str]
    site: Site
    #: console errors and uncaught exceptions of the pages (a CSP violation is one)
    errors: list[str]

    async def log_in(self, role: str) -> None:
        token = {"viewer": VIEWER_TOKEN, "operator": OPERATOR_TOKEN}[role]
        await self.page.goto(f"{self.site.url}/ui/")
        assert "/ui/login" in self.page.url
        await self.page.get_by_label("Admin token").fill(token)
        await self.page.get_by_role("button", name="Log in").click()
        await self.page.wait_for_url(f"{self.site.url}/ui/")

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=artifacts() / f"{name}.png", full_page=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(admin: Admin) -> Site:
    invoice = await admin.mediator.request_approval(
        flow="receivables",
        entity="invoice:in_dash01",
        what="post invoice in_dash01 to the ledger",
        amount=1_250_000,
        currency="USD",
    )
    return Site(admin=admin, invoice=invoice)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    path = find_chromium()
    if path is None:
        reason = "no chromium found (apt-get install chromium, or set MEDIATOR_CHROMIUM)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {reason}")
        pytest.skip(reason)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def context(browser: Browser, site: Site) -> AsyncIterator[Tab]:
    made: BrowserContext = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await made.new_page()
    requests: list[str] = []

    def record(request: Request) -> None:
        requests.append(request.url)

    made.on("request", record)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield Tab(page=page, requests=requests, site=site, errors=errors)
    finally:
        await made.close()
