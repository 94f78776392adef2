"""Fixtures of the journal tests: a fake clock and an open journal of each backend.

The `journal` fixture (and `opener`, to open the same journal again: a restart) runs each test
of behaviour against both backends, ids `sqlite` and `postgres` (each postgres run in a scratch
schema of its own). Tests about the SQLite file itself (damage, WAL and checkpoints, the key
table and its filter, the writer thread, crashes of a child writing the file) use `path` and
`open_journal` directly and stay SQLite-only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mediator.journal import Journal, open_journal
from mediator.testing import FakeClock

#: Opens the test's journal (the same store each time); keyword options go to the backend.
Opener = Callable[..., contextlib.AbstractAsyncContextManager[Any]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture(params=["sqlite", "postgres"])
async def opener(
    request: pytest.FixtureRequest, path: Path, clock: FakeClock
) -> AsyncIterator[Opener]:
    if request.param == "sqlite":
        yield lambda **options: open_journal(path, clock=clock, **options)
        return
    from mediator.journal.postgres import open_postgres_journal
    from mediator.testing.postgres import TEST_DSN, scratch_schema

    async with scratch_schema() as schema:
        yield lambda **options: open_postgres_journal(
            TEST_DSN, clock=clock, schema=schema, **options
        )


@pytest.fixture
async def journal(opener: Opener) -> AsyncIterator[Journal]:
    async with opener() as j:
        yield j
