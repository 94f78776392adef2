"""A scratch PostgreSQL schema per test: the journal's tables in a namespace of their own.

Tests (and benches) share one database (`MEDIATOR_TEST_DSN`, by default the loopback server's
``test`` database with trust auth, which every machine of this project and CI run); each opens
its journal in a fresh schema named ``t_<random>``, dropped afterwards, so tests never see
each other's rows and may run in parallel.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator

__all__ = ["TEST_DSN", "scratch_schema"]

#: The database tests use: `MEDIATOR_TEST_DSN`, or the local server's ``test`` database.
TEST_DSN = os.environ.get("MEDIATOR_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")


@contextlib.asynccontextmanager
async def scratch_schema(dsn: str = TEST_DSN, *, keep: bool = False) -> AsyncIterator[str]:
    """Yield the name of a new, empty schema in `dsn`'s database; drop it on leaving (unless
    `keep`, to look at it after a failure)."""
    import asyncpg  # the `postgres` extra: only tests of that backend import this module

    name = f"t_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
    finally:
        await conn.close()
    try:
        yield name
    finally:
        if not keep:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            finally:
                await conn.close()
