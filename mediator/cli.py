"""The `mediator` command line: `mediator demo`, `mediator sandbox` and, later, `mediator run`.

Errors a user can fix (a bad config file, a missing key) are printed as one line naming the
file and the key, with exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mediator.errors import MediatorError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="a month of approved time from the PSA sandbox into the ERP sandbox"
    )
    demo.add_argument("--seed", type=int, default=42, help="seed of the generated firm")
    demo.add_argument("--size", type=int, default=12, help="clients in the generated firm")
    demo.add_argument(
        "--state-dir", type=Path, default=None, help="keep the journal here (default: a temp dir)"
    )
    demo.add_argument("--no-faults", action="store_true", help="no injected ERP failures")
    run = commands.add_parser("run", help="run the daemon of a configuration file")
    run.add_argument("--config", type=Path, required=True, help="the mediator.toml to run")
    run.add_argument(
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
    from mediator.sandbox.serve import configure_parser

    configure_operator_commands(commands)

    configure_parser(
        commands.add_parser(
            "sandbox",
            help="serve the Salesforce, Harvest, Stripe and Tryton "
            "sandboxes on loopback until interrupted",
        )
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            from mediator.demo import ERP_FAULTS, run_demo

            asyncio.run(
                run_demo(
                    seed=args.seed,
                    size=args.size,
                    state_dir=args.state_dir,
                    faults=None if args.no_faults else ERP_FAULTS,
                )
            )
        elif args.command == "run":
            from mediator.daemon import run_daemon

            return run_daemon(args.config, log_format=args.log_format)
        elif args.command == "check-config":
            return _check_config(args.file)
        elif args.command in ("dlq", "approvals", "entity", "status"):
            from mediator.admin.cli import run as run_operator_command

            return run_operator_command(args)
        elif args.command == "sandbox":
            from mediator.sandbox.serve import run

            return run(args)
    except MediatorError as exc:
        print(f"mediator: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


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
