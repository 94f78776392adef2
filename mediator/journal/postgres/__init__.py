"""The PostgreSQL journal: several daemons sharing one journal (DESIGN.md §7)."""

from mediator.journal.postgres.operator import OpRunner, PostgresOperatorStore
from mediator.journal.postgres.reads import open_postgres_reader

__all__ = ["OpRunner", "PostgresOperatorStore", "open_postgres_reader"]
