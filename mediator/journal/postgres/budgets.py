"""Vendor rate limits and quotas shared by the cluster, in the journal's `buckets` table.

A rate bucket is one row (`tokens` as of `updated_at`, epoch seconds of the DATABASE's clock,
so daemons on machines whose clocks disagree still share one timeline). A take is one
statement: lock the row, refill it by the time elapsed, take what is there up to what was
asked, or take nothing and say how long to wait; one loopback round trip (figures in
docs/cluster-limits.md). A pause (Retry-After) sets `updated_at` in the future with no
tokens: nothing refills before it, so every daemon waits it out.

A quota is a header row named after it (locked to serialise spenders; READ COMMITTED then
lets the next statement see every spend committed before) and one row per minute slot,
``<name>#<slot>``, whose `tokens` are the calls spent in that minute by the whole cluster:
a rolling 24-hour window sums the slots still in it, a daily period the slots since its reset.
"""

from __future__ import annotations

import re

import asyncpg

from mediator.errors import JournalError
from mediator.policies.shared_budget import Grant, QuotaSpend

__all__ = ["PostgresBuckets"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SLOT = 60.0  # the quota's slot, as QuotaBudget counts locally

# $1 name, $2 least, $3 most, $4 rate, $5 burst. The clock is read after the row lock is
# held (the `lvl` CTE pulls from the locked row), so a take queued behind another sees the
# time it runs at; the UPDATE lands on the row version the lock returned.
_TAKE = """
WITH cur AS (
    SELECT tokens, updated_at FROM {s}.buckets WHERE name = $1 FOR UPDATE
), lvl AS (
    SELECT extract(epoch FROM clock_timestamp())::float8 AS t, tokens, updated_at FROM cur
), calc AS (
    SELECT t, updated_at,
        CASE WHEN t >= updated_at
            THEN LEAST($5::float8, tokens + (t - updated_at) * $4::float8)
            ELSE tokens END AS level
    FROM lvl
), g AS (
    SELECT t, updated_at, level,
        CASE WHEN t >= updated_at AND level >= $2::float8
            THEN GREATEST($2::float8, LEAST($3::float8, floor(level))) ELSE 0 END AS granted
    FROM calc
), upd AS (
    UPDATE {s}.buckets AS b
    SET tokens = g.level - g.granted, updated_at = GREATEST(g.t, g.updated_at)
    FROM g WHERE b.name = $1
    RETURNING 1
)
SELECT g.granted,
    GREATEST(g.updated_at - g.t, 0) + GREATEST($2::float8 - g.level, 0) / $4::float8 AS wait
FROM g, upd
"""

_CREATE = """
INSERT INTO {s}.buckets (name, tokens, updated_at) VALUES ($1, $2, 0)
ON CONFLICT (name) DO NOTHING
"""

# $1 name, $2 delay: tokens 0 until now + delay, never shortening a longer pause
_PAUSE = """
INSERT INTO {s}.buckets AS b (name, tokens, updated_at)
VALUES ($1, 0, extract(epoch FROM clock_timestamp()) + $2::float8)
ON CONFLICT (name) DO UPDATE
SET tokens = 0, updated_at = GREATEST(b.updated_at, EXCLUDED.updated_at)
"""

# $1 name, $2 level, $3 rate, $4 burst: refill to now, then lower to the server's remaining
# (a bucket not seen before is full until now, so it becomes `level`)
_DRAIN = """
INSERT INTO {s}.buckets AS b (name, tokens, updated_at)
VALUES ($1, LEAST($2::float8, $4::float8), extract(epoch FROM clock_timestamp()))
ON CONFLICT (name) DO UPDATE SET
    tokens = LEAST($2::float8, CASE WHEN EXCLUDED.updated_at >= b.updated_at
        THEN LEAST($4::float8, b.tokens + (EXCLUDED.updated_at - b.updated_at) * $3::float8)
        ELSE b.tokens END),
    updated_at = GREATEST(EXCLUDED.updated_at, b.updated_at)
"""

_LOCK_QUOTA = """
INSERT INTO {s}.buckets AS b (name, tokens, updated_at) VALUES ($1, 0, 0)
ON CONFLICT (name) DO UPDATE SET tokens = b.tokens
"""

# $1 name, $2 cost, $3 ceiling, $4 since, $5 slot start. Prefix match on `name || '#'`:
# `starts_with` rather than LIKE, so a name with % or _ in it cannot match others.
_SPEND = """
WITH used AS (
    SELECT coalesce(sum(tokens), 0)::bigint AS n FROM {s}.buckets
    WHERE starts_with(name, $1 || '#') AND updated_at + 60 > $4::float8
), ins AS (
    INSERT INTO {s}.buckets AS b (name, tokens, updated_at)
    SELECT $1 || '#' || $5::bigint::text, $2::float8, $5::float8 FROM used
    WHERE used.n + $2::bigint <= $3::bigint
    ON CONFLICT (name) DO UPDATE SET tokens = b.tokens + EXCLUDED.tokens
    RETURNING 1
)
SELECT used.n, EXISTS (SELECT 1 FROM ins) AS spent FROM used
"""

_PRUNE = """
DELETE FROM {s}.buckets
WHERE starts_with(name, $1 || '#') AND updated_at + 60 <= $2::float8
"""


class PostgresBuckets:
    """The `BucketStore` of a PostgreSQL journal: `pool`'s database, tables in `schema`.

    Every statement has a deadline of `timeout` seconds; a failure (the server gone, a
    timeout) raises `JournalError` naming the schema.
    """

    def __init__(self, pool: asyncpg.Pool, *, schema: str = "mediator", timeout: float = 5.0):
        if not _IDENT.match(schema):
            raise ValueError(f"schema must be a plain lower-case identifier, not {schema!r}")
        self._pool = pool
        self._schema = schema
        self._timeout = timeout
        self._sql = {
            key: text.format(s=schema)
            for key, text in {
                "take": _TAKE,
                "create": _CREATE,
                "pause": _PAUSE,
                "drain": _DRAIN,
                "lock": _LOCK_QUOTA,
                "spend": _SPEND,
                "prune": _PRUNE,
            }.items()
        }

    async def take(
        self, name: str, *, least: float, most: float, rate: float, burst: float
    ) -> Grant:
        """Take between `least` and `most` tokens from `name`, or none and the wait."""
        if not (0 < least <= most and rate > 0 and burst >= least):
            raise ValueError(f"bad take from {name!r}: {least=} {most=} {rate=} {burst=}")
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                row = await conn.fetchrow(
                    self._sql["take"], name, least, most, rate, burst, timeout=self._timeout
                )
                if row is None:  # a bucket not seen before starts full
                    await conn.execute(self._sql["create"], name, burst, timeout=self._timeout)
                    row = await conn.fetchrow(
                        self._sql["take"], name, least, most, rate, burst, timeout=self._timeout
                    )
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise self._error("take from", name, exc) from exc
        assert row is not None  # the row exists now, and a take always returns one
        return Grant(granted=float(row["granted"]), wait=float(row["wait"]))

    async def pause(self, name: str, *, delay: float) -> None:
        """Empty `name` and admit nothing for `delay` seconds of the database's clock."""
        try:
            await self._pool.execute(self._sql["pause"], name, delay, timeout=self._timeout)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise self._error("pause", name, exc) from exc

    async def drain(self, name: str, *, level: float, rate: float, burst: float) -> None:
        """Lower `name` to at most `level` tokens."""
        try:
            await self._pool.execute(
                self._sql["drain"], name, level, rate, burst, timeout=self._timeout
            )
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise self._error("drain", name, exc) from exc

    async def spend(
        self, name: str, *, cost: int, ceiling: int, since: float, now: float
    ) -> QuotaSpend:
        """Count `cost` against quota `name` in `now`'s minute if usage since `since` allows."""
        if cost < 1:
            raise ValueError(f"cost must be at least 1, not {cost!r}")
        slot = now - now % _SLOT
        try:
            async with (
                self._pool.acquire(timeout=self._timeout) as conn,
                conn.transaction(),
            ):
                await conn.execute(self._sql["lock"], name, timeout=self._timeout)
                row = await conn.fetchrow(
                    self._sql["spend"], name, cost, ceiling, since, slot, timeout=self._timeout
                )
                if slot % 3600 == 0:  # spends in the first minute of an hour sweep old slots
                    await conn.execute(self._sql["prune"], name, since, timeout=self._timeout)
        except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
            raise self._error("spend from", name, exc) from exc
        assert row is not None
        return QuotaSpend(spent=bool(row["spent"]), used=int(row["n"]))

    def _error(self, verb: str, name: str, exc: BaseException) -> JournalError:
        return JournalError(f"postgresql schema {self._schema}", f"cannot {verb} {name}: {exc!r}")
