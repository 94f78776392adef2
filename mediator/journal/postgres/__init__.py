"""The PostgreSQL backend of the journal (the `postgres` extra: asyncpg), for one daemon or
several sharing the work by partition (see `mediator.cluster`): the journal, its reader and
the operator's audited actions."""

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
