"""Shared helpers of the journal tests: envelopes and an open journal on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from mediator.codecs.envelope import Envelope, new_id
from mediator.journal import SqliteJournal, open_journal
from mediator.testing import FakeClock


def envelope(
    idem: str, *, key: str = "project:P-1", kind: str = "psa.time_entry.approved", n: int = 0
) -> Envelope:
    """An envelope with a fresh id and a small JSON payload."""
    return Envelope(
        id=new_id(),
        key=key,
        kind=kind,
        source="harvest",
        idempotency_key=idem,
        occurred_at=datetime(2026, 11, 2, 9, 30, n % 60, tzinfo=UTC),
        payload=msgspec.Raw(msgspec.json.encode({"n": n, "hours": 1.5})),
    )


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
