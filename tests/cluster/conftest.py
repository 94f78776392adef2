"""Fixtures of the cluster tests: a scratch PostgreSQL schema holding the journal's tables."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from mediator.journal.postgres._schema import MIGRATIONS
from mediator.testing.postgres import TEST_DSN, scratch_schema


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema() as name:
        conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": name})
        try:
            for statement in MIGRATIONS[0]:
                await conn.execute(statement)
        finally:
            await conn.close()
        yield name


@pytest.fixture
async def db(schema: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection in the scratch schema, for a test to read and age the lease table."""
    conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": schema})
    try:
        yield conn
    finally:
        await conn.close()
