"""`mediator sandbox`: serve the sandboxes on loopback until interrupted.

    mediator sandbox [--products salesforce,harvest,stripe,tryton] [--host 127.0.0.1]
                     [--base-port N | --port-salesforce N …] [--seed N] [--size N]
                     [--no-firm] [--faults FILE.json] [--webhook-url URL] [--webhook-secret S]

On start it prints each sandbox's URL and credentials. `--base-port N` serves salesforce,
harvest, stripe and tryton on N..N+3, so other tools need not be re-pointed every run.
`--faults` names a JSON file mapping product names to fault plans (`FaultPlan` fields, format
in `--help`); plans can also be changed while running with `POST /__sandbox/faults`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from mediator.clock import Clock
from mediator.errors import ConfigError
from mediator.sandbox.faults import FAULT_FILE_HELP, FaultPlan, load_fault_plans
from mediator.sandbox.generator import generate_firm
from mediator.sandbox.options import OneLineParser, int_in, port, product_list, say_error
from mediator.sandbox.runner import PRODUCTS, Sandboxes, open_sandboxes

__all__ = ["announce", "configure_parser", "main", "run", "serve_sandboxes"]


async def serve_sandboxes(
    *,
    products: Sequence[str] = PRODUCTS,
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    seed: int = 0,
    size: int | None = 10,
    faults: dict[str, FaultPlan] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str = "whsec_sandbox",
    clock: Clock | None = None,
    ready: Callable[[Sandboxes], object] | None = None,
) -> None:
    """Serve the sandboxes until cancelled; call `ready(sandboxes)` once they listen.

    With `size` (clients), the sandboxes are seeded with `generate_firm(seed=seed, size=size)`;
    `size=None` starts them empty. Raises `ValueError` if `products` is empty: nothing would
    ever be served.
    """
    if not products:
        raise ValueError("no products to serve")
    firm = generate_firm(seed=seed, size=size) if size else None
    async with open_sandboxes(
        products=products,
        host=host,
        ports=ports,
        clock=clock,
        seed=seed,
        firm=firm,
        faults=faults,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
    ) as boxes:
        if ready is not None:
            ready(boxes)
        await asyncio.Event().wait()  # until cancelled (Ctrl-C or the owner's task group)


#: `--base-port N` serves the products on N, N+1, N+2, N+3 in this order.
_BASE_ORDER = PRODUCTS  # salesforce, harvest, stripe, tryton
_MAX_SEED = 2**63 - 1


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `mediator sandbox` options to `parser` (a subcommand's parser) and return it."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = FAULT_FILE_HELP
    parser.add_argument(
        "--products",
        metavar="LIST",
        default=",".join(PRODUCTS),
        help="comma-separated products to serve (default: all four)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument(
        "--base-port",
        metavar="N",
        type=int_in(1, 65_535 - len(_BASE_ORDER) + 1),
        help="serve " + ", ".join(f"{p} on N+{i}" for i, p in enumerate(_BASE_ORDER)),
    )
    for product in PRODUCTS:
        parser.add_argument(
            f"--port-{product}",
            metavar="PORT",
            type=port,
            default=None,
            help=f"port of the {product} sandbox (default 0: any free port)",
        )
    parser.add_argument(
        "--seed",
        metavar="N",
        type=int_in(0, _MAX_SEED),
        default=0,
        help="seed of data, ids and faults",
    )
    parser.add_argument(
        "--size",
        metavar="N",
        type=int_in(1, 1_000),
        default=10,
        help="clients in the generated firm (1..1000, default 10)",
    )
    parser.add_argument("--no-firm", action="store_true", help="start empty")
    parser.add_argument(
        "--faults", metavar="FILE.json", type=Path, help="product -> fault plan (below)"
    )
    parser.add_argument(
        "--webhook-url", metavar="URL", help="where the Stripe sandbox posts its events"
    )
    parser.add_argument(
        "--webhook-secret",
        metavar="SECRET",
        default="whsec_sandbox",
        help="Stripe webhook signing secret",
    )
    return parser


def _ports(args: argparse.Namespace) -> dict[str, int]:
    given = {p: getattr(args, f"port_{p}") for p in PRODUCTS if getattr(args, f"port_{p}")}
    if args.base_port is not None:
        if given:
            option = f"--port-{next(iter(given))}"
            raise _OptionError("--base-port", f"cannot be combined with {option}")
        return {p: args.base_port + i for i, p in enumerate(_BASE_ORDER)}
    idle = next((p for p in given if p not in args.products), None)
    if idle is not None:  # a port for a product not served would be ignored silently
        raise _OptionError(f"--port-{idle}", f"{idle} is not served (--products)")
    for product, number in given.items():
        twin = next((p for p, n in given.items() if n == number and p != product), None)
        if twin is not None:
            raise _OptionError(f"--port-{twin}", f"port {number} is also --port-{product}'s")
    return given


class _OptionError(Exception):
    def __init__(self, option: str, reason: str) -> None:
        super().__init__(option, reason)
        self.option = option
        self.reason = reason


def _check_addresses(args: argparse.Namespace) -> None:
    if not args.host.strip():  # "" would bind every interface and print unusable URLs
        raise _OptionError("--host", "an empty address")
    if args.webhook_url is not None:
        url = urlsplit(args.webhook_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise _OptionError("--webhook-url", f"{args.webhook_url!r} is not an http(s) URL")
        if "stripe" not in args.products:
            raise _OptionError("--webhook-url", "only the Stripe sandbox sends webhooks")
    if not args.webhook_secret:
        raise _OptionError("--webhook-secret", "an empty secret")


def announce(boxes: Sandboxes, out: TextIO) -> None:
    """Write each sandbox's URL and the credentials a client needs, then the control routes."""
    credentials = boxes.credentials()
    for name, url in boxes.urls.items():
        creds = "  ".join(f"{k}={v}" for k, v in credentials.get(name, {}).items())
        out.write(f"{name:<11} {url}  {creds}\n")
    out.write("control: GET <url>/__sandbox/state, POST <url>/__sandbox/faults; Ctrl-C stops\n")
    out.flush()


def run(args: argparse.Namespace) -> int:
    """Run `mediator sandbox` with parsed `args`; return the exit status (2 on bad input)."""
    try:  # checked here, not by argparse, so that `main` returns 2 rather than exiting
        args.products = product_list(PRODUCTS)(args.products)
    except argparse.ArgumentTypeError as exc:
        return say_error("--products", exc)
    try:
        ports = _ports(args)
        _check_addresses(args)
    except _OptionError as exc:
        return say_error(exc.option, exc.reason)
    faults: dict[str, FaultPlan] = {}
    if args.faults is not None:
        try:
            faults = load_fault_plans(args.faults, products=args.products)
        except ConfigError as exc:
            return say_error("", exc)
    try:
        asyncio.run(
            serve_sandboxes(
                products=args.products,
                host=args.host,
                ports=ports,
                seed=args.seed,
                size=None if args.no_firm else args.size,
                faults=faults,
                webhook_url=args.webhook_url,
                webhook_secret=args.webhook_secret,
                ready=lambda boxes: announce(boxes, sys.stdout),
            )
        )
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a port in use, an address that cannot be bound or resolved
        return say_error(f"cannot serve on {args.host}", exc)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` as `mediator sandbox` options and run; return the exit status."""
    parser = configure_parser(
        OneLineParser(
            prog="mediator sandbox", description=__doc__.splitlines()[0] if __doc__ else None
        )
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # a bad option (one line printed already), --help
        return exc.code if isinstance(exc.code, int) else 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
