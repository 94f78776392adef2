"""Fixtures of the journal tests: a fake clock and an open journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mediator.journal import SqliteJournal, open_journal
from mediator.testing import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "journal.db"


@pytest.fixture
async def journal(path: Path, clock: FakeClock) -> AsyncIterator[SqliteJournal]:
    async with open_journal(path, clock=clock) as j:
        yield j
