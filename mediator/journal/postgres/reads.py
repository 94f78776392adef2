"""The PostgreSQL journal's read side: `JournalReader` over a pool of read-only connections.

The reads are `JournalReader`'s own (mediator/journal/reads.py), written once for both
backends: the tables and columns are the same (see _schema), so only the placeholders are
translated. The pool's connections are read-only (``default_transaction_read_only``), in the
journal's schema, and apart from the writer's: an operator's questions never wait behind a
batch of appends. `preview_replay` runs the operator ops' own replay as a dry run in a
read-only transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from mediator.errors import JournalError
from mediator.journal.postgres import _operator_ops as ops
from mediator.journal.postgres._sql import checked_schema, redacted
from mediator.journal.reads import JournalReader
from mediator.journal.records import DeadLetterFilter, ReplayReport

__all__ = ["open_postgres_reader"]

_CONNECT_TIMEOUT = 10.0  # seconds to reach the server at start
_QUERY_TIMEOUT = 30.0  # seconds a read may take: the admin API's requests wait on it
_POOL_SIZE = 4  # the admin API, the dashboard and the reconciliation read at once


@contextlib.asynccontextmanager
async def open_postgres_reader(dsn: str, schema: str = "mediator") -> AsyncIterator[JournalReader]:
    """Open a reader of the journal in `schema` of `dsn`'s database for the block; raise
    `JournalError` naming the dsn (without its password) if it cannot be reached.

    The schema must exist (the journal creates and migrates it); nothing here can write.
    """
    import asyncpg  # the `postgres` extra: imported only when a dsn is configured

    name = f"{redacted(dsn)} (schema {schema})"
    try:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=_POOL_SIZE,
            timeout=_CONNECT_TIMEOUT,
            command_timeout=_QUERY_TIMEOUT,
            server_settings={
                "search_path": checked_schema(schema),
                "default_transaction_read_only": "on",
            },
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
        raise JournalError(name, f"cannot open for reading: {exc}") from exc
    try:
        source = _PostgresRows(pool, name)
        await source.rows("SELECT 1 FROM meta LIMIT 1")  # the journal is there
        yield JournalReader(source)
    finally:
        await pool.close()


class _PostgresRows:
    """The PostgreSQL journal's rows, through a pool of read-only connections."""

    unique_idem = True

    def __init__(self, pool: object, name: str) -> None:
        import asyncpg

        assert isinstance(pool, asyncpg.Pool)
        self._pool: asyncpg.Pool[asyncpg.Record] = pool
        self.name = name

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        import asyncpg

        try:
            async with self._pool.acquire() as conn:
                return await ops.rows(conn, sql, params)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise JournalError(self.name, f"read failed: {exc}") from exc

    async def preview_replay(
        self, where: DeadLetterFilter, now: float, max_replays: int
    ) -> ReplayReport:
        import asyncpg

        try:
            async with self._pool.acquire() as conn, conn.transaction(readonly=True):
                return await ops.replay(conn, now, where, True, max_replays)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            raise JournalError(self.name, f"read failed: {exc}") from exc
