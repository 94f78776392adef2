"""Credentials from the environment or from files, never from the config itself, never logged."""

from __future__ import annotations

import os
from pathlib import Path

from mediator.errors import ConfigError

__all__ = ["Secret", "load_secret"]


class Secret:
    """A credential whose value is read with `reveal()`; its repr and str never show it."""

    __slots__ = ("_source", "_value")

    def __init__(self, value: str, *, source: str = "literal") -> None:
        self._value = value
        self._source = source

    def reveal(self) -> str:
        """The secret value, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self._source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def load_secret(spec: str, *, file: str = "<config>", key: str = "") -> Secret:
    """Resolve ``env:NAME`` or ``file:/path`` into a `Secret`.

    Raises `ConfigError` naming `file` and `key` when the variable is unset, the file cannot be
    read, or the value is empty; a plain value is refused so secrets stay out of config files.
    """
    kind, _, where = spec.partition(":")
    if kind == "env" and where:
        value = os.environ.get(where)
        if not value:
            raise ConfigError(file, key, f"environment variable {where} is not set")
        return Secret(value, source=f"env {where}")
    if kind == "file" and where:
        try:
            value = Path(where).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                file, key, f"cannot read secret file {where}: {exc.strerror}"
            ) from exc
        if not value:
            raise ConfigError(file, key, f"secret file {where} is empty")
        return Secret(value, source=f"file {where}")
    raise ConfigError(file, key, "a secret is given as env:NAME or file:/path, not inline")
