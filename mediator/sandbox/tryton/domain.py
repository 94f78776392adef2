"""Tryton domains: `[field, operator, value]` leaves under optional 'AND'/'OR' heads.

Operators: = != < <= > >= in, not in, like, ilike, not like, not ilike (with % and _), and
dotted paths through many2one fields (`party.name`). An unknown field raises the KeyError
trytond raises, which reaches the client as `["'field'", ""]`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mediator.codecs.tryton import TrytonFault
from mediator.sandbox.tryton.arguments import sql_integer
from mediator.sandbox.tryton.errors import RpcFault

__all__ = ["matches", "only_active"]

Getter = Callable[[str], object]


def matches(domain: object, get: Getter) -> bool:
    """Return whether a record (read through `get(path)`) satisfies `domain`."""
    if not isinstance(domain, list):
        raise RpcFault(TrytonFault.server_error(f"Invalid domain: {domain!r:.80}"))
    if not domain:
        return True
    if _is_leaf(domain):
        return _leaf(domain, get)
    head, items = "AND", domain
    if isinstance(domain[0], str) and domain[0] in ("AND", "OR"):
        head, items = domain[0], domain[1:]
    if not items:  # a bare head, even 'OR', restricts nothing in trytond
        return True
    results = (matches(item, get) for item in items)
    return any(results) if head == "OR" else all(results)


def _is_leaf(domain: list[object]) -> bool:
    return (
        len(domain) in (3, 4)
        and isinstance(domain[0], str)
        and domain[0] not in ("AND", "OR")
        and isinstance(domain[1], str)
    )


def _leaf(leaf: list[object], get: Getter) -> bool:
    path, op, value = str(leaf[0]), str(leaf[1]).lower(), leaf[2]
    for item in value if isinstance(value, list) else [value]:
        sql_integer(item)  # the driver refuses it binding the parameter, match or not
    actual = get(path)
    if op in ("in", "not in"):
        if isinstance(value, str):  # trytond iterates it: its characters
            value = list(value)
        if not isinstance(value, list):
            raise RpcFault(TrytonFault.server_error(f"Invalid value for {op}: {value!r:.80}"))
        found = actual in value or (isinstance(actual, list) and any(a in value for a in actual))
        return found if op == "in" else not found
    if op in ("like", "ilike", "not like", "not ilike"):
        flags = re.IGNORECASE if "ilike" in op else 0
        pattern = "^" + re.escape(str(value)).replace("%", ".*").replace("_", ".") + "$"
        hit = actual is not None and re.match(pattern, str(actual), flags | re.DOTALL) is not None
        return hit if not op.startswith("not") else not hit
    if op == "=":
        return actual == value or (isinstance(actual, list) and value in actual)
    if op == "!=":
        return actual != value
    if actual is None or value is None:
        return False
    try:
        if op == "<":
            return bool(actual < value)  # type: ignore[operator]  # like SQL: same-typed
        if op == "<=":
            return bool(actual <= value)  # type: ignore[operator]  # like SQL: same-typed
        if op == ">":
            return bool(actual > value)  # type: ignore[operator]  # like SQL: same-typed
        if op == ">=":
            return bool(actual >= value)  # type: ignore[operator]  # like SQL: same-typed
    except TypeError:
        return False
    raise RpcFault(TrytonFault.server_error(f"Invalid operator: {op!r}"))


def _is_clause(item: object) -> bool:
    # trytond's is_leaf: a list of three or more whose second element is an operator string
    return isinstance(item, list) and len(item) > 2 and isinstance(item[1], str)


def _reduce(domain: list[object]) -> list[object]:
    """trytond's `reduce_domain`: an explicit head, nested lists of the same head flattened."""
    if not domain:
        return []
    head: object = "AND"
    if isinstance(domain[0], str):
        head, domain = domain[0], domain[1:]
    result: list[object] = [head]
    for item in domain:
        if _is_clause(item):
            result.append(item)
        elif isinstance(item, list) and item:
            sub = _reduce(item)
            if sub[0] == head:
                result.extend(sub[1:])
            else:
                result.append(sub)
        else:
            result.append(item)
    return result


def only_active(domain: object) -> object:
    """Add trytond's implicit `('active', '=', True)` to `domain`, level by level.

    As `ModelStorage._search_domain_active` does: every (sub-)domain that names `active` in a
    clause of its own is left as it is; any other gets the clause ANDed to it. The caller
    applies this only to models with an `active` field and when the context's `active_test`
    is not falsy.
    """
    if not isinstance(domain, list):
        return domain  # the search itself refuses it

    def process(level: list[object]) -> list[object]:
        found = False
        for index, item in enumerate(level):
            if _is_clause(item):
                found = found or item[0] == "active"  # type: ignore[index]  # a clause
            elif isinstance(item, list):
                level[index] = process(item)
        if found:
            return level
        if level and (level[0] == "AND" or not isinstance(level[0], str)):
            return [*level, ["active", "=", True]]
        return ["AND", level, ["active", "=", True]]

    return process(_reduce(domain))
