"""The PostgreSQL backend of the journal (the `postgres` extra: asyncpg), for one daemon or
several sharing the work by partition (see `mediator.cluster`): the journal, its reader and
the operator's audited actions.

Its names are loaded on first use: `mediator.cluster` reads this package's `_schema` (the
partition count), and must neither import asyncpg nor cycle back through the journal.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediator.journal.postgres.journal import PostgresJournal, open_postgres_journal
    from mediator.journal.postgres.operator import OpRunner, PostgresOperatorStore
    from mediator.journal.postgres.reads import open_postgres_reader

__all__ = [
    "OpRunner",
    "PostgresJournal",
    "PostgresOperatorStore",
    "open_postgres_journal",
    "open_postgres_reader",
]

_HOMES = {
    "OpRunner": "operator",
    "PostgresJournal": "journal",
    "PostgresOperatorStore": "operator",
    "open_postgres_journal": "journal",
    "open_postgres_reader": "reads",
}


def __getattr__(name: str) -> object:
    if name in _HOMES:
        module = importlib.import_module(f"mediator.journal.postgres.{_HOMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
