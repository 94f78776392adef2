"""The PostgreSQL backend of the journal (the `postgres` extra: asyncpg), for one daemon or
several sharing the work by partition (see `mediator.cluster`)."""

from mediator.journal.postgres.journal import PostgresJournal, open_postgres_journal

__all__ = ["PostgresJournal", "open_postgres_journal"]
