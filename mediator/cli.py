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

from mediator.errors import MediatorError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mediator", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the embedded demo and print a summary")
    demo.add_argument("--entities", type=int, default=1_000, help="entity actors to route to")
    demo.add_argument("--messages", type=int, default=100_000, help="messages to send")
    from mediator.sandbox.serve import configure_parser

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
            from mediator.demo import run_demo

            asyncio.run(run_demo(entities=args.entities, messages=args.messages))
        elif args.command == "sandbox":
            from mediator.sandbox.serve import run

            return run(args)
    except MediatorError as exc:
        print(f"mediator: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
