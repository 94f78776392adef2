"""Command-line option types and a parser whose errors are one line, for the `mediator` CLI.

Every user error of the command line reads `mediator: <option or file>: <what is wrong>` and
exits with status 2, never a traceback or argparse's usage block: the types here turn a bad
value into that line (`int_in`, `port`, `directory`, `product_list`), and `OneLineParser`
prints argparse's own errors (an unknown option, a missing value) the same way. They live in
the sandbox package because `mediator sandbox` uses them as well as `mediator demo`, and the
sandbox imports nothing above it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import NoReturn

__all__ = ["OneLineParser", "directory", "int_in", "port", "product_list", "say_error"]


def say_error(where: str, what: object) -> int:
    """Print `mediator: <where>: <what>` to stderr as one line; return exit status 2."""
    text = " ".join(str(what).split())  # one line, whatever the message held
    sys.stderr.write(f"mediator: {where}: {text}\n" if where else f"mediator: {text}\n")
    return 2


class OneLineParser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line and exit status 2 (no usage block)."""

    def error(self, message: str) -> NoReturn:
        """Print `message` as `mediator: ...` and exit 2 (raises `SystemExit(2)`)."""
        sys.stderr.flush()
        say_error("", message.removeprefix("argument "))
        raise SystemExit(2)


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An option type: an integer from `low` to `high` inclusive."""

    def parse(text: str) -> int:
        """Parse a whole number within the bounds; `ArgumentTypeError` says what is wrong."""
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not within {low}..{high}")
        return value

    parse.__name__ = "int"  # what argparse names in its own messages
    return parse


port = int_in(0, 65_535)
port.__doc__ = "An option type: a TCP port, 0..65535 (0: any free one)."


def directory(text: str) -> Path:
    """An option type: a directory, existing or to be created (not a file)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory")
    return path


def product_list(known: Collection[str]) -> Callable[[str], list[str]]:
    """An option type: a comma-separated, non-empty list of names from `known`."""

    def parse(text: str) -> list[str]:
        """Parse the names, dropping blanks and repeats; `ArgumentTypeError` names the bad."""
        names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
        if not names:
            raise argparse.ArgumentTypeError(f"no products named (choose from {', '.join(known)})")
        unknown = [n for n in names if n not in known]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown products: {', '.join(unknown)} (choose from {', '.join(known)})"
            )
        return names

    parse.__name__ = "product list"
    return parse
