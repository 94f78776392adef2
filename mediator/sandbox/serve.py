"""`mediator sandbox`: serve the sandboxes on loopback until interrupted.

    mediator sandbox [--products salesforce,harvest,stripe,tryton] [--host 127.0.0.1]
                     [--port-salesforce N …] [--seed N] [--size N] [--no-firm]
                     [--faults FILE.json] [--webhook-url URL] [--webhook-secret S]

`--faults` names a JSON file mapping product names to fault plans (`FaultPlan` fields);
plans can also be changed while running with `POST /__sandbox/faults` on each sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from mediator.clock import Clock
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.generator import generate_firm
from mediator.sandbox.runner import PRODUCTS, Sandboxes, open_sandboxes

__all__ = ["configure_parser", "main", "run", "serve_sandboxes"]


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
    `size=None` starts them empty.
    """
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


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `mediator sandbox` options to `parser` (a subcommand's parser) and return it."""
    parser.add_argument(
        "--products",
        default=",".join(PRODUCTS),
        help="comma-separated products to serve (default: all four)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    for product in PRODUCTS:
        parser.add_argument(
            f"--port-{product}",
            type=int,
            default=0,
            help=f"port of the {product} sandbox (0: any free port)",
        )
    parser.add_argument("--seed", type=int, default=0, help="seed of data, ids and faults")
    parser.add_argument("--size", type=int, default=10, help="clients in the generated firm")
    parser.add_argument("--no-firm", action="store_true", help="start empty")
    parser.add_argument("--faults", type=Path, help="JSON file: product -> fault plan")
    parser.add_argument("--webhook-url", help="where the Stripe sandbox posts its events")
    parser.add_argument(
        "--webhook-secret", default="whsec_sandbox", help="Stripe webhook signing secret"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Run `mediator sandbox` with parsed `args`; return the exit status (2 on bad input)."""
    products = [p.strip() for p in args.products.split(",") if p.strip()]
    unknown = sorted(set(products) - set(PRODUCTS))
    if unknown:
        sys.stderr.write(f"mediator sandbox: unknown products: {', '.join(unknown)}\n")
        return 2
    faults: dict[str, FaultPlan] = {}
    if args.faults is not None:
        try:
            faults = msgspec.json.decode(args.faults.read_bytes(), type=dict[str, FaultPlan])
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            sys.stderr.write(f"mediator sandbox: {args.faults}: {exc}\n")
            return 2
    ports = {p: getattr(args, f"port_{p}") for p in PRODUCTS}

    def announce(boxes: Sandboxes) -> None:
        for name, url in boxes.urls.items():
            sys.stdout.write(f"{name:<11} {url}\n")
        sys.stdout.write("control: GET <url>/__sandbox/state, POST <url>/__sandbox/faults\n")
        sys.stdout.flush()

    try:
        asyncio.run(
            serve_sandboxes(
                products=products,
                host=args.host,
                ports=ports,
                seed=args.seed,
                size=None if args.no_firm else args.size,
                faults=faults,
                webhook_url=args.webhook_url,
                webhook_secret=args.webhook_secret,
                ready=announce,
            )
        )
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # a port in use, an address that cannot be bound
        sys.stderr.write(f"mediator sandbox: {exc}\n")
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` as `mediator sandbox` options and run; return the exit status."""
    parser = configure_parser(
        argparse.ArgumentParser(
            prog="mediator sandbox", description=__doc__.splitlines()[0] if __doc__ else None
        )
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
