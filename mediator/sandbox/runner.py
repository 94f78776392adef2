"""Serving sandboxes on loopback ports: one, or all four together.

`open_sandbox` serves one `Sandbox` and yields its base URL; `open_sandboxes` starts the
products asked for (all four by default), seeds them from a generated firm if one is given, and
yields a `Sandboxes` with each one and its URL. Port 0 picks a free ephemeral port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import date

from mediator.clock import Clock
from mediator.sandbox.base import Sandbox
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.generator import Firm
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.seeding import SeedIndex, seed_sandboxes
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.tryton import TrytonSandbox

__all__ = ["PRODUCTS", "Sandboxes", "open_sandboxes"]

PRODUCTS = ("salesforce", "harvest", "stripe", "tryton")


@dataclass
class Sandboxes:
    """The running sandboxes, their base URLs by product name, and where the firm went."""

    salesforce: SalesforceSandbox | None = None
    harvest: HarvestSandbox | None = None
    stripe: StripeSandbox | None = None
    tryton: TrytonSandbox | None = None
    urls: dict[str, str] = field(default_factory=dict)
    index: SeedIndex = field(default_factory=SeedIndex)

    def credentials(self) -> dict[str, dict[str, str]]:
        """Return, per running product, what a connector needs to authenticate to it."""
        found: dict[str, dict[str, str]] = {}
        if self.salesforce is not None:
            client_id, secret = next(iter(self.salesforce.clients.items()))
            found["salesforce"] = {"client_id": client_id, "client_secret": secret}
        if self.harvest is not None:
            token, account = next(iter(self.harvest.tokens.items()))
            found["harvest"] = {"token": token, "account_id": str(account)}
        if self.stripe is not None:
            found["stripe"] = {"api_key": sorted(self.stripe.api_keys)[0]}
            if self.stripe.webhooks is not None:
                found["stripe"]["webhook_secret"] = self.stripe.webhooks.secret
        if self.tryton is not None:
            login = self.tryton.admin_login
            found["tryton"] = {
                "database": self.tryton.database,
                "login": login,
                "password": self.tryton.admin_password,
            }
        return found

    def all(self) -> dict[str, Sandbox]:
        """Return the running sandboxes by product name."""
        found: dict[str, Sandbox | None] = {
            "salesforce": self.salesforce,
            "harvest": self.harvest,
            "stripe": self.stripe,
            "tryton": self.tryton,
        }
        return {name: box for name, box in found.items() if box is not None}


@asynccontextmanager
async def open_sandboxes(
    *,
    products: Iterable[str] = PRODUCTS,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    clock: Clock | None = None,
    seed: int = 0,
    firm: Firm | None = None,
    faults: Mapping[str, FaultPlan] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str = "whsec_sandbox",
    prepared: Sandboxes | None = None,
    as_of: date | None = None,
    onboarded: bool = True,
) -> AsyncIterator[Sandboxes]:
    """Start the named products (default all four) and yield them with their URLs.

    Each sandbox gets the same `clock` and `seed`, its own entry of `faults` (a plan for a
    product not started here raises `ValueError`), and (if `firm`
    is given) that firm's data, with the approvals due by `as_of` made (all when None); with
    `onboarded=False`, only as far as the CRM and the people (see `seed_sandboxes`).
    Stripe signs and posts its events to `webhook_url` if set.
    Sandboxes already built in `prepared` (to set product options such as a Salesforce
    `query_batch_size` or a Harvest `rate_limit`) are served as they are, in place of new ones.
    """
    wanted = list(products)
    unknown = sorted(set(wanted) - set(PRODUCTS))
    if unknown:
        raise ValueError(f"unknown sandbox products: {', '.join(unknown)}")
    ports = ports or {}
    faults = faults or {}
    boxes = prepared or Sandboxes()
    wanted = [name for name in wanted if name not in boxes.all()]
    # a plan for a product not started here would be ignored silently
    stray = sorted(set(faults) - set(wanted))
    if stray:
        raise ValueError(
            f"fault plans for products not started here: {', '.join(stray)} "
            "(a prepared sandbox takes its plan when built)"
        )
    if "salesforce" in wanted:
        boxes.salesforce = SalesforceSandbox(
            clock=clock, seed=seed, faults=faults.get("salesforce")
        )
    if "harvest" in wanted:
        boxes.harvest = HarvestSandbox(clock=clock, seed=seed, faults=faults.get("harvest"))
    if "stripe" in wanted:
        boxes.stripe = StripeSandbox(
            clock=clock,
            seed=seed,
            faults=faults.get("stripe"),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
        )
    if "tryton" in wanted:
        boxes.tryton = TrytonSandbox(clock=clock, seed=seed, faults=faults.get("tryton"))
    if firm is not None:
        boxes.index = seed_sandboxes(  # prepared sandboxes are seeded too
            firm,
            boxes.salesforce,
            boxes.harvest,
            boxes.stripe,
            boxes.tryton,
            as_of=as_of,
            onboarded=onboarded,
        )
    async with AsyncExitStack() as stack:
        for name, box in boxes.all().items():
            boxes.urls[name] = await stack.enter_async_context(
                open_sandbox(box, host=host, port=ports.get(name, 0))
            )
        if boxes.stripe is not None:
            await stack.enter_async_context(boxes.stripe.delivering())
        yield boxes
