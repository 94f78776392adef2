"""A stand-in for `PostgresJournal` (branch pg-journal) with the few writes these tests need.

It runs ops as the real journal does (`run_op(op)`: `op(conn, now)` in one transaction) on the
schema the real one creates (mediator/journal/postgres/_schema.py), so the reader and the
operator store are tested against real PostgreSQL tables. Replace it with
`open_postgres_journal` once that is merged.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from mediator.cluster.partitions import partition_of
from mediator.codecs.canonical.envelope import Envelope
from mediator.journal._rows import stored_time
from mediator.journal.postgres import _operator_ops as ops
from mediator.journal.postgres._operator_ops import Connection
from mediator.journal.postgres._schema import MIGRATIONS, SCHEMA_VERSION
from mediator.journal.records import Appended, Entry, EntryState
from mediator.testing import FakeClock

T = TypeVar("T")


class StandInJournal:
    """Appends and state changes by plain SQL, and `run_op` as `PostgresJournal` has it."""

    def __init__(self, conn: asyncpg.Connection[asyncpg.Record], clock: FakeClock) -> None:
        self._conn = conn
        self._clock = clock

    async def run_op(self, op: Callable[[Connection, float], Awaitable[T]]) -> T:
        async with self._conn.transaction():
            return await op(self._conn, self._clock.time())

    async def append_many(self, envelopes: Sequence[Envelope]) -> list[Appended]:
        now = self._clock.time()
        for env in envelopes:
            await ops.execute(
                self._conn,
                "INSERT INTO entries (id, idem, key, partition, kind, source, occurred_at, "
                "schema_version, traceparent, attempt, payload, accepted_at, state, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (bytes.fromhex(env.id), env.idempotency_key, env.key, partition_of(env.key),
                 env.kind, env.source, str(stored_time(env.occurred_at)), env.schema_version,
                 env.traceparent, env.attempt, bytes(env.payload), now, now),
            )  # fmt: skip
        return [Appended(envelope=env, duplicate=False) for env in envelopes]

    async def mark_dead(
        self,
        entry_id: str,
        *,
        reason: str,
        error_class: str,
        system: str | None = None,
        error: str | None = None,
    ) -> None:
        await ops.execute(
            self._conn,
            "UPDATE entries SET state = ?, updated_at = ?, reason = ?, error = ?, "
            "error_class = ?, system = ? WHERE id = ?",
            (int(EntryState.DEAD), self._clock.time(), reason, error or reason, error_class,
             system, bytes.fromhex(entry_id)),
        )  # fmt: skip

    async def mark_done(self, ids: Sequence[str]) -> list[Entry]:
        for entry_id in ids:
            await self._set(entry_id, EntryState.DONE)
        return []

    async def park(self, ids: Sequence[str]) -> None:
        for entry_id in ids:
            await self._set(entry_id, EntryState.PARKED)

    async def _set(self, entry_id: str, state: EntryState) -> None:
        await ops.execute(
            self._conn,
            "UPDATE entries SET state = ?, updated_at = ? WHERE id = ?",
            (int(state), self._clock.time(), bytes.fromhex(entry_id)),
        )

    async def txids(self) -> dict[str, int]:
        """Each entry's `txid` (the transaction that last made it accepted), by id."""
        found = await ops.rows(self._conn, "SELECT id, txid FROM entries")
        return {bytes(i).hex(): int(t) for i, t in found}  # type: ignore[call-overload]  # bigint, read as object


@contextlib.asynccontextmanager
async def open_standin(dsn: str, schema: str, clock: FakeClock) -> AsyncIterator[StandInJournal]:
    """Create the journal's tables in `schema` and yield a stand-in journal writing them."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        async with conn.transaction():
            for statement in (s for version in MIGRATIONS for s in version):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', $1)", SCHEMA_VERSION
            )
        yield StandInJournal(conn, clock)
    finally:
        await conn.close()
