"""Fixtures for the tests against a real trytond 8.2: one server per test session.

The first run on a machine installs trytond from PyPI and builds the template database (about
40 s here; see `mediator.testing.tryton_server`), later runs start from the cache in about a
second and a half. The per-test timeout is raised for these tests because the first of them
pays for that installation inside its setup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from mediator.testing.tryton_server import TrytonServer, open_tryton_server

from .client import TrytonClient
from .scenario import Run

RealRuns = dict[str, tuple[str, Run]]

INSTALL_TIMEOUT = 600  # seconds, for the first test only: install + template, bounded inside too
SHORT_SESSION = 2.0  # idle seconds before a session is stale; wide enough for a loaded CI machine


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A real trytond serving a fresh copy of the set-up database for this test session."""
    with open_tryton_server(work_dir=tmp_path_factory.mktemp("tryton")) as server:
        yield server


@pytest.fixture(scope="session")
def short_session_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A second server whose sessions stop being fresh after `SHORT_SESSION` idle seconds."""
    with open_tryton_server(
        work_dir=tmp_path_factory.mktemp("tryton-fresh"), session_timeout=SHORT_SESSION
    ) as server:
        yield server


@pytest.fixture(scope="session")
def real_runs() -> RealRuns:
    """Scenario runs against the real server by name, with their tag, kept for the fidelity
    check: each scenario then runs once per session against trytond, not twice."""
    return {}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session (trytond closes every connection, so nothing is pooled)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(http: aiohttp.ClientSession, tryton_server: TrytonServer) -> TrytonClient:
    """A client for the fixture's database, not yet logged in."""
    return TrytonClient(http, tryton_server.rpc_url)


@pytest.fixture
def tag(request: pytest.FixtureRequest) -> str:
    """A name suffix unique to the test, since tests of a session share one database."""
    name: str = request.node.name
    return name.replace("[", "-").replace("]", "").replace("_", "-")
