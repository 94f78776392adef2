"""The SOQL subset a connector emits: SELECT fields FROM object, WHERE, ORDER BY, LIMIT, OFFSET.

WHERE takes comparisons (`= != <> < <= > >=`, `LIKE`, `IN`, `NOT IN`) joined by AND, OR, NOT
and parentheses, with string, number, boolean, null, date, datetime and `TODAY`/`YESTERDAY`/
`LAST_N_DAYS:n` literals. Text compares case-insensitively, as in SOQL. `SELECT COUNT()` and
one level of parent relationship fields (`Account.Name`) are supported.

Whatever the text, the answer is a `Query` or a 400 MALFORMED_QUERY: statements are capped
at Salesforce's 100,000 characters, nesting (parentheses, NOT) at `MAX_NESTING` levels so the
recursive-descent parser never meets Python's recursion limit, impossible dates are refused,
and LIKE matches without backtracking (a pattern of many `%` cannot stall the server).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from mediator.sandbox.salesforce.store import ApiError

__all__ = [
    "MAX_LENGTH",
    "MAX_NESTING",
    "MAX_OFFSET",
    "Query",
    "RelativeDate",
    "comparable",
    "like",
    "malformed",
    "parse_soql",
]

MAX_LENGTH = 100_000
"""Salesforce's limit on the length of a SOQL statement, in characters."""

MAX_NESTING = 100
"""How deep parentheses and NOT may nest in a WHERE clause."""

MAX_OFFSET = 2_000
"""The largest OFFSET Salesforce allows."""

Record = dict[str, object]
Predicate = Callable[[Callable[[str], object]], bool]

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    | (?P<word>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    )""",
    re.VERBOSE,
)


class RelativeDate(date):
    """A date literal by name (`TODAY`, `LAST_N_DAYS:n`): SOQL takes these for datetime
    fields too, where an explicit `2026-01-01` is refused."""


@dataclass
class Query:
    """A parsed SOQL statement."""

    obj: str
    fields: list[str]
    count_only: bool = False
    where: Predicate | None = None
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # field, desc, nulls_last
    limit: int | None = None
    offset: int = 0
    filters: list[tuple[str, object]] = field(default_factory=list)  # (field path, literal)


def malformed(message: str) -> ApiError:
    """Return the 400 MALFORMED_QUERY error."""
    return ApiError(400, "MALFORMED_QUERY", message)


def parse_soql(text: str, *, today: date) -> Query:
    """Parse `text` into a `Query`, or raise `ApiError` 400 MALFORMED_QUERY."""
    if len(text) > MAX_LENGTH:
        raise malformed(
            f"SOQL statements cannot be longer than {MAX_LENGTH:,} characters "
            f"(this one has {len(text):,})."
        )
    return _Parser(_tokens(text), today).query()


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            rest = text[pos:].split() or [text[pos:]]
            raise malformed(f"unexpected token: '{rest[0][:80]}'")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], today: date) -> None:
        self._tokens = tokens
        self._pos = 0
        self._today = today
        self._depth = 0
        self._filters: list[tuple[str, object]] = []

    def query(self) -> Query:
        self._keyword("SELECT")
        fields: list[str] = []
        count_only = False
        if self._peek_word("COUNT"):
            self._pos += 1
            self._expect("(")
            self._expect(")")
            count_only = True
        else:
            fields.append(self._word())
            while self._accept(","):
                fields.append(self._word())
        self._keyword("FROM")
        query = Query(obj=self._word(), fields=fields, count_only=count_only)
        if self._accept_word("WHERE"):
            query.where = self._or()
        if self._accept_word("ORDER"):
            self._keyword("BY")
            while True:
                name = self._word()
                desc = self._accept_word("DESC")
                if not desc:
                    self._accept_word("ASC")
                nulls_last = desc
                if self._accept_word("NULLS"):
                    nulls_last = self._accept_word("LAST")
                    if not nulls_last:
                        self._keyword("FIRST")
                query.order.append((name, desc, nulls_last))
                if not self._accept(","):
                    break
        if self._accept_word("LIMIT"):
            query.limit = self._count("LIMIT")
        if self._accept_word("OFFSET"):
            query.offset = self._count("OFFSET")
            if query.offset > MAX_OFFSET:
                raise ApiError(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        if self._pos != len(self._tokens):
            raise malformed(f"unexpected token: '{self._tokens[self._pos][1][:80]}'")
        query.filters = self._filters
        return query

    def _count(self, clause: str) -> int:
        text = self._next("num")
        if not text.isdigit() or len(text) > 9:
            raise malformed(f"{clause} must be a non-negative integer, found '{text[:20]}'")
        return int(text)

    # -- conditions -------------------------------------------------------------------------

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._accept_word("OR"):
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda get: any(p(get) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._accept_word("AND"):
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda get: all(p(get) for p in parts))

    def _not(self) -> Predicate:
        if self._accept_word("NOT"):
            with self._nested():
                inner = self._not()
            return lambda get: not inner(get)
        if self._accept("("):
            with self._nested():
                inner = self._or()
            self._expect(")")
            return inner
        return self._comparison()

    @contextmanager
    def _nested(self) -> Iterator[None]:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise malformed(f"conditions nest deeper than {MAX_NESTING} levels")
        try:
            yield
        finally:
            self._depth -= 1

    def _comparison(self) -> Predicate:
        name = self._word()
        negate = self._accept_word("NOT")
        if self._accept_word("IN"):
            self._expect("(")
            values = [self._literal()]
            while self._accept(","):
                values.append(self._literal())
            self._expect(")")
            self._filters.extend((name, v) for v in values)
            if all(isinstance(v, str) for v in values):
                # one set lookup per row: an IN of thousands of ids costs no more than one
                wanted = {str(v).lower() for v in values}

                def member(get: Callable[[str], object]) -> bool:
                    value = get(name)
                    return (value is not None and str(value).lower() in wanted) != negate

                return member
            return lambda get: any(_equal(get(name), v) for v in values) != negate
        if negate:
            raise malformed("expecting IN after NOT")
        if self._accept_word("LIKE"):
            pattern = self._literal()
            if not isinstance(pattern, str):
                raise malformed("LIKE takes a string literal")
            self._filters.append((name, pattern))
            folded = pattern.lower()
            return lambda get: like(folded, str(get(name) or "").lower())
        op = self._next("op")
        value = self._literal()
        self._filters.append((name, value))
        return _compare(name, op, value)

    def _literal(self) -> object:
        kind, text = self._take()
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind == "num":
            return float(text)
        try:
            if kind == "date":
                return date.fromisoformat(text)
            if kind == "dt":
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise malformed(f"invalid {'date' if kind == 'date' else 'datetime'}: {text}") from None
        if kind == "word":
            upper = text.upper()
            if upper in ("TRUE", "FALSE"):
                return upper == "TRUE"
            if upper == "NULL":
                return None
            if upper == "TODAY":
                return _relative(self._today)
            if upper == "YESTERDAY":
                return _relative(self._today - timedelta(days=1))
            if upper.startswith("LAST_N_DAYS:"):
                days = upper.split(":")[1]
                if not days.isdigit() or int(days) > 36_500:  # a century back, then year 1
                    raise malformed(f"invalid number of days: {text[:40]}")
                return _relative(self._today - timedelta(days=int(days)))
        raise malformed(f"unexpected token: '{text[:80]}'")

    # -- tokens -----------------------------------------------------------------------------

    def _take(self) -> tuple[str, str]:
        if self._pos >= len(self._tokens):
            raise malformed("unexpected end of query")
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _next(self, kind: str) -> str:
        got, text = self._take()
        if got != kind:
            raise malformed(f"unexpected token: '{text[:80]}'")
        return text

    def _word(self) -> str:
        return self._next("word")

    def _keyword(self, word: str) -> None:
        if not self._accept_word(word):
            found = self._tokens[self._pos][1][:80] if self._pos < len(self._tokens) else "end"
            raise malformed(f"unexpected token: '{found}', expecting {word}")

    def _peek_word(self, word: str) -> bool:
        return (
            self._pos < len(self._tokens)
            and self._tokens[self._pos][0] == "word"
            and self._tokens[self._pos][1].upper() == word
        )

    def _accept_word(self, word: str) -> bool:
        if self._peek_word(word):
            self._pos += 1
            return True
        return False

    def _accept(self, punct: str) -> bool:
        if self._pos < len(self._tokens) and self._tokens[self._pos] == ("punct", punct):
            self._pos += 1
            return True
        return False

    def _expect(self, punct: str) -> None:
        if not self._accept(punct):
            raise malformed(f"expecting '{punct}'")


def _relative(day: date) -> RelativeDate:
    return RelativeDate(day.year, day.month, day.day)


def like(pattern: str, text: str) -> bool:
    """Match SOQL's LIKE (`%` any run, `_` one character) in O(len(pattern) × len(text))."""
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("_", text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "%":
            star, mark = p, t
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    return all(c == "%" for c in pattern[p:])


def comparable(value: object, like: object) -> object:
    """Coerce a stored value to the type of a literal, so dates and datetimes compare.

    A stored value that cannot be read as the literal's type compares as null (no match).
    """
    if value is None or like is None:
        return value
    try:
        if isinstance(like, datetime) and isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("+0000", "+00:00").replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if isinstance(like, date) and isinstance(value, str):
            return date.fromisoformat(value[:10])
    except ValueError:
        return None
    if isinstance(like, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(like, str):
        return str(value).lower()
    return value


def _equal(value: object, literal: object) -> bool:
    if isinstance(literal, str):
        return value is not None and str(value).lower() == literal.lower()
    if isinstance(literal, datetime) and literal.tzinfo is None:
        literal = literal.replace(tzinfo=UTC)
    return comparable(value, literal) == literal


def _compare(name: str, op: str, literal: object) -> Predicate:
    if op == "=":
        return lambda get: _equal(get(name), literal)
    if op in ("!=", "<>"):
        return lambda get: not _equal(get(name), literal)
    key = literal.lower() if isinstance(literal, str) else literal
    if isinstance(key, datetime) and key.tzinfo is None:
        key = key.replace(tzinfo=UTC)

    def check(get: Callable[[str], object]) -> bool:
        value = comparable(get(name), key)
        if value is None or key is None:
            return False
        try:
            if op == "<":
                return bool(value < key)  # type: ignore[operator]  # same type after coercion
            if op == "<=":
                return bool(value <= key)  # type: ignore[operator]  # same type after coercion
            if op == ">":
                return bool(value > key)  # type: ignore[operator]  # same type after coercion
            return bool(value >= key)  # type: ignore[operator]  # same type after coercion
        except TypeError:
            return False

    return check
