"""Reading TOML configuration files with errors that name the file, the key path and the line.

Both configuration files (the daemon's `mediator.toml` and a policies file) go through here:
`parse_toml` reads the text, `convert` turns a table into a msgspec Struct, and every problem
becomes one `ConfigError(file, "a.b[2].c", reason, line=)`. `tomllib` keeps no positions, so
`find_line` rescans the text: table headers, arrays of tables and ``key = value`` lines,
tracking the path each defines. It returns the line that defines the key, or the nearest
enclosing one it can find; it is best effort and never raises.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, Protocol

import msgspec

from mediator.errors import ConfigError

__all__ = ["Fail", "convert", "failing", "find_line", "parse_toml"]

_MSGSPEC_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<field>[^`]+)`")
_TOML_LINE = re.compile(r"at line (?P<line>\d+)")


class Fail(Protocol):
    """Make the `ConfigError` for a key path and a reason (with the key's line in the file)."""

    def __call__(self, key: str, reason: str, /) -> ConfigError: ...


def parse_toml(text: str, *, file: str) -> dict[str, Any]:
    """Parse TOML `text` read from `file`; malformed TOML is a `ConfigError` with its line."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE.search(str(exc))
        raise ConfigError(
            file, "", f"not valid TOML: {exc}", line=int(match["line"]) if match else None
        ) from exc
    except RecursionError:  # tomllib recurses into arrays and inline tables
        raise ConfigError(file, "", "not valid TOML: nested too deeply") from None


def failing(text: str, *, file: str) -> Fail:
    """The `Fail` of one file: its errors carry the line where `text` defines the key."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(file, key, reason, line=find_line(text, key))

    return fail


def convert(value: object, kind: Any, key: str, fail: Fail) -> Any:
    """Convert the table `value` found at `key` to `kind` (a Struct type or a generic alias).

    A validation failure raises `fail(key + the path msgspec reports, reason)`; the result's
    type is the caller's to know, since `kind` may be a generic alias.
    """
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        match = _MSGSPEC_PATH.match(str(exc))
        assert match is not None  # the pattern matches any text
        reason, path = match["reason"], match["path"] or ""
        named = _FIELD_NAMED.search(reason)
        if named is not None:
            path = f"{path}.{named['field']}"
        raise fail(f"{key}{path}".replace("[...]", "").lstrip("."), reason) from exc


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
