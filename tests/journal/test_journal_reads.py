"""The read-only side's look-up of originals by idempotency key, merged into the key index or
not yet, a few keys or many (the reconciliation asks for a month's: 100,000 and more); on
PostgreSQL, through the unique index of originals. (The reader's other reads are tested on
both backends in test_operator_backends.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from mediator.journal import open_journal
from mediator.journal.postgres import open_postgres_journal, open_postgres_reader
from mediator.journal.reads import open_journal_reader
from mediator.testing import FakeClock
from mediator.testing.postgres import TEST_DSN, scratch_schema
from tests.journal.support import append_all


@pytest.mark.parametrize("asked", [3, 1_200])
async def test_originals_are_found_merged_or_not_however_many_keys_are_asked(
    tmp_path: Path, asked: int
) -> None:
    path = tmp_path / "journal.db"
    keys = [f"harvest:time_entry:{n}:v1" for n in range(1_500)]
    # 600 keys in memory at most: the older keys are merged into the index, the newer not
    async with open_journal(path, clock=FakeClock(), memory_keys=600) as journal:
        ids = await append_all(journal, keys)
    wanted = keys[:: len(keys) // asked][:asked]
    async with open_journal_reader(path) as reader:
        found = await reader.originals([*wanted, "harvest:time_entry:never:v1"])
    assert {k: e.id for k, e in found.items()} == {k: ids[k] for k in wanted}


@pytest.mark.parametrize("asked", [3, 1_200])
async def test_originals_are_found_by_their_unique_index_on_postgres(asked: int) -> None:
    keys = [f"harvest:time_entry:{n}:v1" for n in range(1_500)]
    async with (
        scratch_schema() as schema,
        open_postgres_journal(TEST_DSN, clock=FakeClock(), schema=schema) as journal,
        open_postgres_reader(TEST_DSN, schema) as reader,
    ):
        ids = await append_all(journal, keys)
        wanted = keys[:: len(keys) // asked][:asked]
        found = await reader.originals([*wanted, "harvest:time_entry:never:v1"])
    assert {k: e.id for k, e in found.items()} == {k: ids[k] for k in wanted}
