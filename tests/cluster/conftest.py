"""Fixtures of the cluster tests: a scratch PostgreSQL schema (the keeper creates the tables)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from mediator.testing.postgres import TEST_DSN, scratch_schema


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema() as name:
        yield name


@pytest.fixture
async def db(schema: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection in the scratch schema, for a test to read and age the lease table."""
    conn = await asyncpg.connect(TEST_DSN, server_settings={"search_path": schema})
    try:
        yield conn
    finally:
        await conn.close()
