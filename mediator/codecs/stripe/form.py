"""Stripe's request bodies: `application/x-www-form-urlencoded` with bracket nesting.

``{"metadata": {"k": "v"}, "lines": [{"amount": 5}], "expand": ["customer"]}`` is sent as
``metadata[k]=v&lines[0][amount]=5&expand[0]=customer``, as the official `stripe` SDK does
(`stripe/_encode.py`: arrays always indexed, booleans ``true``/``false``, ``None`` omitted).
The decoder, used by the sandbox, also reads the ``expand[]=customer`` form of the docs' curl
examples, and turns a map whose keys are exactly ``0..n-1`` back into a list.

Values decode as strings: the form carries no types, so the reader of a field converts it.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import TypeAlias
from urllib.parse import parse_qsl, quote_plus

from mediator.errors import DecodeError

__all__ = ["FormNode", "decode_form", "encode_form"]

FormNode: TypeAlias = "str | list[FormNode] | dict[str, FormNode]"
"""A decoded form value: a string, or a list or map of them (nesting from the brackets)."""

_SYSTEM = "stripe"
_SAFE = ""  # like the SDK's urlencode: only unreserved characters stay literal, brackets too


def encode_form(params: Mapping[str, object]) -> str:
    """Encode `params` as Stripe does: nested maps and lists become ``a[b][0]=…`` pairs.

    Strings, ints, Decimals and finite floats are written as text, booleans as ``true``/``false``,
    aware datetimes as epoch seconds; ``None`` is left out (Stripe's "not given").
    An empty map or list produces nothing, as in the SDK; unset a map with ``{"metadata": ""}``.
    Raises `TypeError` for any other value and `ValueError` for an empty key or one holding a
    bracket: bugs in the caller, not bad data.
    """
    return "&".join(
        f"{quote_plus(key, safe=_SAFE)}={quote_plus(value, safe=_SAFE)}"
        for key, value in _pairs(params, "")
    )


def _pairs(value: object, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"form keys must be strings, not {type(key).__name__}")
            if not key or "[" in key or "]" in key:
                raise ValueError(f"form key {key!r} cannot be nested unambiguously")
            yield from _pairs(item, f"{prefix}[{key}]" if prefix else key)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _pairs(item, f"{prefix}[{index}]")
    elif value is None:
        return
    else:
        yield prefix, _scalar(value)


def _scalar(value: object) -> str:
    if isinstance(value, bool):  # before int: bool is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return str(int(value.timestamp()))
    raise TypeError(f"cannot form-encode {type(value).__name__}: {value!r}")


def decode_form(
    body: str | bytes, *, max_fields: int = 10_000, max_depth: int = 16
) -> dict[str, FormNode]:
    """Decode a form body into nested maps and lists of strings.

    Raises `DecodeError` (system ``stripe``) with the JSON path of the offending field for
    invalid UTF-8, malformed brackets, a key used both as a value and as a container, more than
    `max_fields` pairs or more than `max_depth` levels; never anything else, whatever the input.
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(_SYSTEM, "$", f"body is not UTF-8 at byte {exc.start}") from exc
    else:
        text = body
    if text.count("&") >= max_fields:
        raise DecodeError(_SYSTEM, "$", f"more than {max_fields} fields")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(_SYSTEM, "$", f"undecodable percent-escape: {exc}") from exc
    root: dict[str, FormNode] = {}
    for key, value in pairs:
        _insert(root, _segments(key, max_depth), value, [])
    return {key: _listify(value) for key, value in root.items()}


def _segments(key: str, max_depth: int) -> list[str]:
    head, bracket, rest = key.partition("[")
    if not head:
        raise DecodeError(_SYSTEM, "$", f"field name {key[:80]!r} has no base name")
    segments = [head]
    while bracket:
        inner, closed, after = rest.partition("]")
        if not closed or "[" in inner:
            raise DecodeError(_SYSTEM, _path(segments), f"unbalanced brackets in {key[:80]!r}")
        segments.append(inner)
        if len(segments) > max_depth:
            raise DecodeError(_SYSTEM, _path(segments), f"nested deeper than {max_depth}")
        if after and not after.startswith("["):
            raise DecodeError(_SYSTEM, _path(segments), f"text after brackets in {key[:80]!r}")
        bracket, rest = after[:1], after[1:]
    return segments


def _insert(node: dict[str, FormNode], segments: list[str], value: str, done: list[str]) -> None:
    key, here = segments[0], [*done, segments[0]]
    if len(segments) == 1:
        if isinstance(node.get(key), dict | list):
            raise DecodeError(_SYSTEM, _path(here), "given both as a value and as a container")
        node[key] = value  # a repeated scalar: the last one wins, as in Rack
        return
    child = node.get(key)
    if segments[1] == "":
        if child is None:
            child = node[key] = []
        elif not isinstance(child, list):
            raise DecodeError(_SYSTEM, _path(here), "given both as a list and as a map or value")
        _append(child, segments[2:], value, [*here, ""])
    else:
        if child is None:
            child = node[key] = {}
        elif not isinstance(child, dict):
            raise DecodeError(_SYSTEM, _path(here), "given both as a map and as a list or value")
        _insert(child, segments[1:], value, here)


def _append(node: list[FormNode], rest: list[str], value: str, here: list[str]) -> None:
    if not rest:
        node.append(value)
        return
    if rest[0] == "":
        raise DecodeError(_SYSTEM, _path(here), "a list of lists cannot be given with []")
    # Rack's rule: lines[][a]=1&lines[][b]=2 is one element; a key seen again starts the next.
    tail = node[-1] if node else None
    if isinstance(tail, dict) and rest[0] not in tail:
        target = tail
    else:
        target = {}
        node.append(target)
    _insert(target, rest, value, here)


def _listify(node: FormNode) -> FormNode:
    if isinstance(node, dict):
        items = {key: _listify(value) for key, value in node.items()}
        # ASCII digits only: "²".isdigit() is true, and int("²") raises
        if items and all(key.isascii() and key.isdigit() for key in items):
            ordered = sorted(items, key=int)
            if [int(key) for key in ordered] == list(range(len(ordered))):
                return [items[key] for key in ordered]
        return items
    if isinstance(node, list):
        return [_listify(value) for value in node]
    return node


def _path(segments: list[str]) -> str:
    parts = ["$"]
    for segment in segments[:80]:
        if segment.isdigit():
            parts.append(f"[{segment}]")
        elif segment == "":
            parts.append("[]")
        else:
            parts.append(f".{segment[:80]}")
    return "".join(parts)
