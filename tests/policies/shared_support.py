"""What the shared-budget tests reuse: the journal's tables in a scratch schema, and daemons."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg

from mediator.clock import Clock, SystemClock
from mediator.journal.postgres._schema import MIGRATIONS
from mediator.journal.postgres.budgets import PostgresBuckets
from mediator.policies.shared_budget import SharedBudgets, open_shared_budgets
from mediator.testing.postgres import TEST_DSN, scratch_schema


@contextlib.asynccontextmanager
async def open_tables() -> AsyncIterator[str]:
    """Yield a scratch schema holding the PostgreSQL journal's tables."""
    async with scratch_schema() as schema:
        conn = await asyncpg.connect(TEST_DSN)
        try:
            await conn.execute(f"SET search_path TO {schema}")
            for statement in MIGRATIONS[0]:
                await conn.execute(statement)
        finally:
            await conn.close()
        yield schema


@contextlib.asynccontextmanager
async def open_daemon(schema: str, *, clock: Clock | None = None) -> AsyncIterator[SharedBudgets]:
    """One daemon's shared budgets: a connection pool of its own on `schema`."""
    pool = await asyncpg.create_pool(TEST_DSN, min_size=1, max_size=2)
    try:
        store = PostgresBuckets(pool, schema=schema)
        async with open_shared_budgets(store, clock=clock or SystemClock()) as budgets:
            yield budgets
    finally:
        await pool.close()
