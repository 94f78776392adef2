"""The PostgreSQL journal's read side: `JournalReader` over a pool of read-only connections.

The reads are `JournalReader`'s own (mediator/journal/reads.py), written once for both
backends: the tables and columns are the same (see _schema), so only the placeholders are
translated. The pool's connections are read-only (``default_transaction_read_only``), in the
journal's schema, and apart from the writer's: an operator's questions never wait behind a
batch of appends. `preview_replay` runs the journal's own replay op as a dry run in a
read-only transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from mediator.journal.postgres import _connect, _ops
from mediator.journal.postgres._rows import numbered
from mediator.journal.reads import JournalReader
from mediator.journal.records import DeadLetterFilter, ReplayReport

__all__ = ["open_postgres_reader"]

_POOL_SIZE = 4  # the admin API, the dashboard and the reconciliation read at once
_OPEN_ERRORS: tuple[type[BaseException], ...] = (*_connect.DRIVER_ERRORS, ValueError)  # (a bad dsn)


@contextlib.asynccontextmanager
async def open_postgres_reader(dsn: str, schema: str = "mediator") -> AsyncIterator[JournalReader]:
    """Open a reader of the journal in `schema` of `dsn`'s database for the block; raise
    `JournalError` naming the server (without its password) and the schema if it cannot be
    reached or holds no journal, `ValueError` if `schema` is no plain identifier.

    The journal must exist (`open_postgres_journal` creates and migrates it); nothing here
    can write to it.
    """
    _connect.check_schema_name(schema)
    place = _connect.where(dsn, schema)
    try:
        pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=_POOL_SIZE,
            timeout=_connect.CONNECT_TIMEOUT,
            command_timeout=_connect.COMMAND_TIMEOUT,
            server_settings={
                "search_path": schema,
                "application_name": "mediator-operator-reads",
                "default_transaction_read_only": "on",
            },
        )
    except _OPEN_ERRORS as exc:
        raise _connect.translate(place, "cannot open for reading", exc) from exc
    try:
        source = _PostgresRows(pool, place)
        await source.rows("SELECT value FROM meta WHERE name = 'schema_version'")  # a journal?
        yield JournalReader(source)
    finally:
        await _connect.close_quietly(pool.close)


class _PostgresRows:
    """The PostgreSQL journal's rows, through a pool of read-only connections."""

    unique_idem = True

    def __init__(self, pool: asyncpg.Pool[Any], place: str) -> None:
        self._pool = pool
        self.name = place

    async def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        try:
            async with self._pool.acquire(timeout=_connect.COMMAND_TIMEOUT) as conn:
                return [tuple(r) for r in await conn.fetch(numbered(sql), *params)]
        except _connect.DRIVER_ERRORS as exc:
            raise _connect.translate(self.name, "read failed", exc) from exc

    async def preview_replay(
        self, where: DeadLetterFilter, now: float, max_replays: int
    ) -> ReplayReport:
        try:
            async with (
                self._pool.acquire(timeout=_connect.COMMAND_TIMEOUT) as conn,
                conn.transaction(readonly=True),
            ):
                # (a pool's proxy of a connection: the op reads through it as through one)
                return await _ops.replay(conn, now, where, True, max_replays)  # type: ignore[arg-type]
        except _connect.STATEMENT_ERRORS as exc:
            raise _connect.translate(self.name, "read failed", exc) from exc
