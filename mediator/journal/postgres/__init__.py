"""The PostgreSQL backend of the journal (the `postgres` extra: asyncpg), for one daemon or
several sharing the work by partition (see `mediator.cluster`).

Its names are loaded on first use: `mediator.cluster` reads this package's `_schema` (the
partition count), and must neither import asyncpg nor cycle back through the journal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediator.journal.postgres.journal import PostgresJournal, open_postgres_journal

__all__ = ["PostgresJournal", "open_postgres_journal"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from mediator.journal.postgres import journal

        return getattr(journal, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
