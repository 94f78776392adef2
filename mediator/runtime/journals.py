"""Opening the configured journal with its reader and operator store: SQLite or PostgreSQL.

`[journal] path` (a SQLite file) is the embedded default; `[journal] dsn` switches to a
PostgreSQL database (schema `[journal] schema`), where `path` and `synchronous` are not used.
Both give the `Mediator` the same three things: a `Journal`, a `JournalReader` on connections
of its own, and an `OperatorStore` writing through the journal's transactions. A failure to
open names the key the operator fixes (``journal.path`` or ``journal.dsn``); asyncpg, the
`postgres` extra, is imported only when a dsn is configured.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, urlsplit, urlunsplit

from mediator.clock import Clock
from mediator.config import LoadedConfig
from mediator.errors import JournalError
from mediator.journal import Journal, open_journal
from mediator.journal.operator import OperatorStore, SqliteOperatorStore
from mediator.journal.reads import JournalReader, open_journal_reader
from mediator.systems.secrets import Secret
from mediator.tomlfile import Fail

if TYPE_CHECKING:
    from mediator.runtime.cluster import ClusterMember

__all__ = ["Journals", "open_journals"]


class Journals(NamedTuple):
    """The journal, its read side and the operator's audited writes."""

    journal: Journal
    reader: JournalReader
    operator: OperatorStore
    #: with `[cluster]`: this daemon's leases (the journal's fence) and its cluster parts
    cluster: ClusterMember | None = None


@contextlib.asynccontextmanager
async def open_journals(
    loaded: LoadedConfig, *, clock: Clock, secrets: dict[str, Secret], fail: Fail
) -> AsyncIterator[Journals]:
    """Open the configured journal (created or migrated), its reader and operator store for
    the block; raise `ConfigError` at ``journal.path`` / ``journal.dsn`` if it cannot be
    opened, or if a dsn is configured and asyncpg is not installed."""
    config = loaded.config.journal
    async with contextlib.AsyncExitStack() as stack:
        # only the opening is translated: a journal error while running is the caller's
        if config.dsn is None:
            try:
                journal = await stack.enter_async_context(
                    open_journal(loaded.journal_path, clock=clock, synchronous=config.synchronous)
                )
                reader = await stack.enter_async_context(open_journal_reader(loaded.journal_path))
            except JournalError as exc:  # fixed where the file names the journal
                raise fail("journal.path", str(exc)) from exc
            yield Journals(journal, reader, SqliteOperatorStore(journal))
            return
        try:
            import asyncpg  # noqa: F401  (the `postgres` extra; the backend's names load lazily)
        except ImportError as exc:
            raise fail(
                "journal.dsn",
                f"a PostgreSQL journal needs asyncpg: install mediator[postgres] ({exc})",
            ) from exc
        from mediator.journal import postgres

        password = secrets.get("journal.password")
        dsn = config.dsn if password is None else _with_password(config.dsn, password.reveal())
        from mediator.runtime.cluster import open_cluster_member

        try:
            # in a cluster the leases come first: they are the journal's fence
            cluster = await stack.enter_async_context(
                open_cluster_member(loaded, dsn=dsn, clock=clock)
            )
            pg = await stack.enter_async_context(
                postgres.open_postgres_journal(
                    dsn,
                    clock=clock,
                    schema=config.schema,
                    fence=cluster.keeper if cluster is not None else None,
                )
            )
            reader = await stack.enter_async_context(
                postgres.open_postgres_reader(dsn, config.schema)
            )
        except JournalError as exc:
            raise fail("journal.dsn", str(exc)) from exc
        yield Journals(pg, reader, postgres.PostgresOperatorStore(pg), cluster)


def _with_password(dsn: str, password: str) -> str:
    """Return `dsn` with `password` in it (for the driver only: never shown)."""
    parts = urlsplit(dsn)
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
