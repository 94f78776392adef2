"""The `mediator` command line: the daemon (`run`, `check-config`), the operator's commands
(`status`, `dlq`, `approvals`, `entity`), and `demo` and `sandbox`.

Every error a user can fix (an option out of range, a bad config file, a state dir that is a
file, a journal that cannot be used) is printed as one line, `mediator: <option or file>:
<what is wrong>`, with exit status 2; never a traceback. Ctrl-C exits with 130. `mediator
demo` exits with 1 when its final check finds the ERP's lines differ from the journal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from mediator import __version__
from mediator.errors import MediatorError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    # imported here, under main's Ctrl-C handling: importing the sandboxes takes a moment
    from mediator.sandbox.options import OneLineParser, directory, int_in

    parser = OneLineParser(prog="mediator", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"mediator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="a month of approved time from the PSA sandbox into the ERP sandbox"
    )
    demo.add_argument(
        "--seed",
        metavar="N",
        type=int_in(0, 2**63 - 1),
        default=42,
        help="seed of the generated firm (the same seed, the same figures)",
    )
    demo.add_argument(
        "--size",
        metavar="N",
        type=int_in(1, 1_000),
        default=12,
        help="clients in the generated firm (1..1000)",
    )
    demo.add_argument(
        "--state-dir",
        metavar="DIR",
        type=directory,
        default=None,
        help="keep the journal in this directory, new or empty (default: a temporary one, "
        "discarded at exit)",
    )
    demo.add_argument("--no-faults", action="store_true", help="no injected ERP failures")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="serve the admin API and the dashboard during the month and after it, until "
        "Ctrl-C (the URL and tokens to log in with are printed)",
    )
    demo.add_argument(
        "--port",
        metavar="N",
        type=int_in(0, 65_535),
        default=8780,
        help="with --serve: the dashboard's port on 127.0.0.1 (0: any free one; default 8780)",
    )
    daemon = commands.add_parser("run", help="run the daemon of a configuration file")
    daemon.add_argument("--config", type=Path, required=True, help="the mediator.toml to run")
    daemon.add_argument(
        "--log-format",
        choices=("auto", "human", "json"),
        default=None,
        help="human lines, JSON lines, or auto (human on a terminal); default: [logging] format",
    )
    check = commands.add_parser(
        "check-config",
        help="check a configuration file offline and print it with defaults filled in",
    )
    check.add_argument("file", type=Path, help="the mediator.toml to check")
    from mediator.admin.cli import configure_parser as configure_operator_commands
    from mediator.sandbox.cli import configure_parser

    # the operator commands build plain parsers as subcommands of this one-line parser
    configure_operator_commands(
        cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands)
    )

    configure_parser(
        commands.add_parser(
            "sandbox",
            help="serve the Salesforce, Harvest, Stripe and Tryton "
            "sandboxes on loopback until interrupted",
            description="Serve the sandboxes on loopback until interrupted (Ctrl-C);\n"
            "print each one's URL and credentials on start.",
        )
    )
    commands.metavar = "{" + ",".join(commands.choices) + "}"  # every command, in usage
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status.

    Bad options raise `SystemExit(2)` after one line on stderr, as argparse does.
    """
    try:
        args = _parser().parse_args(argv)
    except KeyboardInterrupt:  # while the modules load
        return 130
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "run":
            from mediator.daemon import run_daemon

            return run_daemon(args.config, log_format=args.log_format)
        if args.command == "check-config":
            return _check_config(args.file)
        if args.command in ("dlq", "approvals", "entity", "status", "reconcile"):
            from mediator.admin.cli import run as run_operator_command

            return run_operator_command(args)
        from mediator.sandbox.cli import run

        return run(args)
    except KeyboardInterrupt:
        return 130
    except BaseExceptionGroup as group:
        if group.subgroup(KeyboardInterrupt) is not None:  # Ctrl-C inside a task group
            return 130
        line = _one_line(group)
        if line is None:
            raise
        return _say(line)
    except Exception as exc:  # re-raised unless the user can fix it
        line = _one_line(exc)
        if line is None:
            raise
        return _say(line)


def _say(line: str) -> int:
    sys.stderr.write(f"mediator: {' '.join(line.split())}\n")
    return 2


def _demo(args: argparse.Namespace) -> int:
    from mediator.demo import ERP_FAULTS, run_demo

    report = asyncio.run(
        run_demo(
            seed=args.seed,
            size=args.size,
            state_dir=args.state_dir,
            faults=None if args.no_faults else ERP_FAULTS,
            serve=args.port if args.serve else None,
        )
    )
    return 0 if report.ok else 1


def _one_line(exc: BaseException) -> str | None:
    """The line for an error the user can act on (None: a bug, left to its traceback)."""
    if isinstance(exc, BaseExceptionGroup):  # from a task group: the first such error in it
        lines = (_one_line(inner) for inner in exc.exceptions)
        return next((line for line in lines if line is not None), None)
    if isinstance(exc, (MediatorError, OSError)):  # OSError: a state dir, a port, a full disk
        return str(exc)
    if isinstance(exc, sqlite3.Error):  # should be a JournalError: the journal's own file
        return f"journal: {exc} (a full disk, or a file that is no journal?)"
    return None


def _check_config(path: Path) -> int:
    from mediator.config import render_effective
    from mediator.daemon import check_daemon_config

    loaded, problems = check_daemon_config(path)
    for problem in problems:
        print(f"mediator: {problem}", file=sys.stderr)
    if problems or loaded is None:
        return 2
    print(render_effective(loaded), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
