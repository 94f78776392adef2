"""Find the line of a key path in TOML text, so a config error can point at it.

`tomllib` keeps no positions, so this rescans the text: table headers, arrays of tables and
``key = value`` lines, tracking the path each defines. It returns the line that defines the
key, or the nearest enclosing one it can find; it is best effort and never raises.
"""

from __future__ import annotations

import re

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_ARRAY_HEADER = re.compile(r"^\s*\[\[(?P<path>[^\]]+)\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[(?P<path>[^\[\]]+)\]")
_KEY_LINE = re.compile(r"^\s*(?P<key>[A-Za-z0-9_\-\"'. ]+?)\s*=")

Path = list[str | int]


def find_line(text: str, key: str) -> int | None:
    """The 1-based line defining `key` (``a.b[2].c``), else the first inside it, else the
    closest enclosing one."""
    wanted = _key_path(key)
    if not wanted:
        return None
    current: Path = []
    arrays: dict[tuple[str | int, ...], int] = {}
    best_line, best_len = None, 0
    first_inside: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("#"):
            continue
        if match := _ARRAY_HEADER.match(line):
            base = _dotted(match["path"])
            index = arrays.get(tuple(base), -1) + 1
            arrays[tuple(base)] = index
            current = [*base, index]
            candidate = current
        elif match := _TABLE_HEADER.match(line):
            current = list(_dotted(match["path"]))
            candidate = current
        elif match := _KEY_LINE.match(line):
            candidate = [*current, *_dotted(match["key"])]
        else:
            continue
        if candidate == wanted:
            return number
        if first_inside is None and candidate[: len(wanted)] == wanted:
            first_inside = number  # `[a.b.c]` defines `a.b` implicitly
        if len(candidate) > best_len and wanted[: len(candidate)] == candidate:
            best_line, best_len = number, len(candidate)
    return first_inside if first_inside is not None else best_line


def _key_path(key: str) -> Path:
    return [name if name else int(index) for name, index in _SEGMENT.findall(key)]


def _dotted(text: str) -> list[str | int]:
    parts: list[str | int] = []
    for raw in re.findall(r'"[^"]*"|\'[^\']*\'|[^.]+', text):
        part = raw.strip()
        if len(part) >= 2 and part[0] == part[-1] and part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return parts
