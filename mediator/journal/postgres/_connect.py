"""Connecting to the PostgreSQL journal and creating or migrating its schema.

Every failure on the way in leaves as one `JournalError` naming the server (its dsn without
the password) and the schema, with the driver's reason in words an operator can act on: a
refused connection, an unknown database or a bad dsn is not a traceback.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from mediator.errors import JournalError
from mediator.journal._faults import DamagedRecord
from mediator.journal.postgres import _schema

# Every statement has a deadline (house rule 4): a server that stops answering fails the batch
# rather than hanging every appender behind it.
COMMAND_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def where(dsn: str, schema: str) -> str:
    """Name the journal in messages: the dsn without its password, and the schema."""
    return f"{_without_password(dsn)} schema {schema}"


def _without_password(dsn: str) -> str:
    if "://" not in dsn:  # key=value form
        return re.sub(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "password=***", dsn)
    try:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            user, _, host = netloc.rpartition("@")
            if ":" in user:
                user = user.split(":", 1)[0] + ":***"
            netloc = f"{user}@{host}"
        query = re.sub(r"password=[^&]*", "password=***", parts.query)
        return urlunsplit(parts._replace(netloc=netloc, query=query))
    except ValueError:
        return "(a dsn that cannot be read)"


def _scrubbed(error: JournalError, dsn: str) -> JournalError:
    # A driver's message may quote the dsn it could not read, password and all.
    secrets: list[str] = []
    with contextlib.suppress(ValueError):
        if (password := urlsplit(dsn).password) is not None:
            secrets.append(password)
    secrets += re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]+)", dsn)
    reason = error.reason
    for secret in secrets:
        if secret:
            reason = reason.replace(secret, "***")
    return JournalError(error.path, reason)


def check_schema_name(schema: str) -> None:
    """Raise `ValueError` unless `schema` is a plain lower-case SQL identifier (it is spliced
    into statements as one: a schema is no parameter)."""
    if not isinstance(schema, str) or _IDENTIFIER.fullmatch(schema) is None:
        raise ValueError(f"schema must be a lower-case SQL identifier, not {schema!r}")


def translate(place: str, doing: str, exc: BaseException) -> JournalError:
    """Turn a driver's or the network's failure into a `JournalError` with a readable reason."""
    if isinstance(exc, asyncpg.PostgresError):
        detail = f"{exc.sqlstate}: {exc}" if getattr(exc, "sqlstate", None) else str(exc)
    elif isinstance(exc, TimeoutError):
        detail = "the server did not answer in time"
    elif isinstance(exc, OSError):
        detail = exc.strerror or str(exc) or type(exc).__name__
    else:
        detail = str(exc) or type(exc).__name__
    return JournalError(place, f"{doing}: {detail}")


#: What a connection or a statement may fail with, besides a bug: translated at this edge.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a statement sent while the server was dropping us
    OSError,
    TimeoutError,
)
# (ValueError: a dsn asyncpg cannot parse)
_OPEN_ERRORS: tuple[type[BaseException], ...] = (*DRIVER_ERRORS, ValueError)
#: A statement's failures, or a row that cannot be read back.
STATEMENT_ERRORS: tuple[type[BaseException], ...] = (*DRIVER_ERRORS, DamagedRecord)


async def connect(dsn: str, schema: str) -> asyncpg.Connection[Any]:
    """Open one connection whose search path is `schema`; raise `JournalError` if it cannot."""
    try:
        return await asyncpg.connect(
            dsn,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings={"search_path": schema, "application_name": "mediator"},
        )
    except _OPEN_ERRORS as exc:
        raise _scrubbed(translate(where(dsn, schema), "cannot connect", exc), dsn) from exc


async def create_pool(dsn: str, schema: str, *, size: int) -> asyncpg.Pool[Any]:
    """Open a pool of `size` connections for reads (see `connect`)."""
    try:
        pool: asyncpg.Pool[Any] = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=size,
            timeout=CONNECT_TIMEOUT,
            command_timeout=COMMAND_TIMEOUT,
            server_settings={"search_path": schema, "application_name": "mediator-reads"},
        )
    except _OPEN_ERRORS as exc:
        raise _scrubbed(translate(where(dsn, schema), "cannot connect", exc), dsn) from exc
    return pool


async def migrate(conn: asyncpg.Connection[Any], place: str, schema: str) -> int:
    """Create or migrate the schema in one transaction under an advisory lock (two daemons
    starting at once migrate once); return its version. Refuse a newer one with
    `JournalError`."""
    try:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"mediator/{schema}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            await conn.execute(f"SET LOCAL search_path TO {schema}")  # (it exists only now)
            found = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.meta")
            version = 0
            if found is not None:
                stored = await conn.fetchval("SELECT value FROM meta WHERE name = 'schema_version'")
                version = int(stored or 0)
            if version > _schema.SCHEMA_VERSION:
                raise JournalError(
                    place,
                    f"written by a newer mediator (schema version {version}, this one knows "
                    f"up to {_schema.SCHEMA_VERSION}): upgrade mediator to open it",
                )
            for statements in _schema.MIGRATIONS[version:]:
                for statement in statements:
                    await conn.execute(statement)
            if version < _schema.SCHEMA_VERSION:
                await conn.execute(
                    "INSERT INTO meta (name, value) VALUES ('schema_version', $1) "
                    "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    _schema.SCHEMA_VERSION,
                )
    except DRIVER_ERRORS as exc:
        raise translate(place, "cannot create or migrate the schema", exc) from exc
    return _schema.SCHEMA_VERSION


async def close_quietly(close: Callable[[], Any]) -> None:
    """Close a connection or pool; a failure to close loses nothing (every write was committed)
    and must not hide the error that brought us here."""
    with contextlib.suppress(*DRIVER_ERRORS):
        await close()
