"""What the PostgreSQL side shares with SQLite's SQL: numbered placeholders, a dsn fit to show.

The reads and the operator's writes are written once, in the SQL both backends speak, with
SQLite's ``?`` placeholders; asyncpg wants ``$1, $2, ...``. The dsn may carry a password, which
never goes into an error or a log line.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_PLACEHOLDER = re.compile(r"'[^']*'|\?")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def numbered(sql: str) -> str:
    """Return `sql` with each ``?`` outside a quoted literal as ``$1``, ``$2``, ... in order."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()  # a literal: kept as it is
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


def redacted(dsn: str) -> str:
    """Return `dsn` without its password (``postgresql://user@host/db``)."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "a postgresql:// dsn (unreadable)"
    user = f"{parts.username}@" if parts.username else ""
    netloc = f"{user}{'[' + host + ']' if ':' in host else host}{port}"
    query = "&".join(
        p for p in parts.query.split("&") if p and not p.lower().startswith("password=")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def checked_schema(schema: str) -> str:
    """Return `schema` if it is a plain lower-case identifier; raise `ValueError` naming it.

    It is written into SQL (``SET search_path``), so nothing that needs quoting is taken."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(
            f"journal schema must be a lower-case identifier (letters, digits, _), not {schema!r}"
        )
    return schema
