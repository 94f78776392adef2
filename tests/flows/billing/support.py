"""What the billing tests share: sandboxes of a generated firm, a Mediator over them with the
approved-time and billing flows, the xref map onboarding would write, and Stripe's view."""

from __future__ import annotations

import datetime
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from mediator.clock import SystemClock
from mediator.config import parse_config
from mediator.journal import Journal, open_journal
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from mediator.testing.onboarded import record_onboarding

#: the admin API's token in these tests (a viewer, as finance's dashboard would be)
ADMIN_TOKEN = "finance-viewer-token-7c1e9a3b5d"
#: the cron-free schedules: the tests poll each by name at the moments they choose
POLLERS = ("harvest_time", "harvest_expenses", "billing_flush", "billing_close")


class ShiftedClock(SystemClock):
    """The system's clock with its wall time moved by `offset` seconds: real sleeps and
    timers (the runtime's batching and timeouts keep working) at a wall time the test sets,
    to stand before or after a cut-off."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def time(self) -> float:
        """The shifted wall time."""
        return time.time() + self.offset

    def at(self, moment: datetime.datetime) -> None:
        """Set the wall time to `moment` from now on."""
        self.offset = moment.timestamp() - time.time()


def config_text(
    boxes: Sandboxes,
    *,
    markup: str = "0.1",
    corrections: str = "next_invoice",
    tax_rates: dict[str, str] | None = None,
) -> str:
    creds = boxes.credentials()
    assert boxes.tryton is not None
    erp = msgspec.to_builtins(boxes.tryton.erp_setup())
    erp.pop("employee_by_consultant")
    erp_lines = "\n".join(f"{key} = {value}" for key, value in erp.items())
    taxes = "".join(f'{t} = "{p}"\n' for t, p in (tax_rates or {}).items())
    taxes = f"\n[flows.billing.options.tax_rates]\n{taxes}" if taxes else ""
    pollers = "\n".join(f"[ingress.pollers.{name}]\ninterval = 3600.0\nenabled = false\n"
                        for name in POLLERS)  # fmt: skip
    return f"""\
time_zone = "Europe/Berlin"

[journal]
path = "journal.sqlite"
synchronous = "NORMAL"

[systems.harvest]
base_url = "{boxes.urls["harvest"]}"
account_id = "{creds["harvest"]["account_id"]}"
token = "env:TEST_HARVEST_TOKEN"
user_agent = "mediator tests"

[systems.tryton]
base_url = "{boxes.urls["tryton"]}"
database = "{creds["tryton"]["database"]}"
login = "{creds["tryton"]["login"]}"
password = "env:TEST_TRYTON_PASSWORD"

[systems.tryton.erp]
{erp_lines}

[systems.stripe]
base_url = "{boxes.urls["stripe"]}"
api_key = "env:TEST_STRIPE_KEY"

[flows.approved_time.options]
account_currency = "USD"

[flows.billing.options]
account_currency = "USD"
expense_markup = {markup}
payment_terms_days = 45
cutoff = "18:00"
corrections = "{corrections}"

{taxes}
{pollers}
[admin]
listen = "127.0.0.1:0"

[[admin.tokens]]
name = "finance"
role = "viewer"
token = "env:TEST_ADMIN_TOKEN"
"""


async def record_clients(journal: Journal, firm: Firm, boxes: Sandboxes) -> None:
    """Write what onboarding would: projects and consultants (PSA, ERP) and clients (PSA,
    Stripe) under their canonical keys."""
    await record_onboarding(journal, firm, boxes)
    for client in firm.clients:
        for system, ids in (("harvest", boxes.index.harvest), ("stripe", boxes.index.stripe)):
            if client.key in ids:
                await journal.record_xref("client", client.key, system, str(ids[client.key]))


@dataclass
class Billing:
    """A running Mediator with the billing flow, and reads of what it did."""

    firm: Firm
    boxes: Sandboxes
    mediator: Mediator
    clock: ShiftedClock

    async def poll(self) -> None:
        """Read Harvest (time and expenses) and deliver everything read."""
        await self.mediator.poll("harvest_time")
        await self.mediator.poll("harvest_expenses")
        await self.mediator.wait_idle()

    async def flush(self) -> None:
        """Run the flush schedule once and carry out its requests."""
        await self.mediator.poll("billing_flush")
        await self.mediator.wait_idle()

    async def close(self) -> None:
        """Run the close schedule once and carry out its requests."""
        await self.mediator.poll("billing_close")
        await self.mediator.wait_idle()

    def harvest(self, resource: str) -> list[dict[str, Any]]:
        """The live records of a Harvest resource (tests edit them in place)."""
        assert self.boxes.harvest is not None
        table = self.boxes.harvest.store.tables[resource]
        return [table[k] for k in sorted(table)]

    def invoices(self, customer: str | None = None) -> list[dict[str, Any]]:
        """Stripe's invoices (with lines), oldest first."""
        assert self.boxes.stripe is not None
        rendered = [self.boxes.stripe.render_invoice(i)
                    for i in self.boxes.stripe.store.invoices.values()]  # fmt: skip
        return [i for i in rendered if customer is None or i["customer"] == customer]

    def stripe_writes(self) -> int:
        """POSTs Stripe answered (every write the mediator made there)."""
        assert self.boxes.stripe is not None
        return len(self.boxes.stripe.requests.matching("POST", "/v1/"))

    def expected(self) -> dict[str, int]:
        """Σ hours × Harvest rate of approved billable time, plus approved billable expenses at
        cost plus 10 %, per Stripe customer, in minor units: what the invoices must total."""
        assert self.boxes.harvest is not None
        clients = {self.boxes.index.harvest[c.key]: c.key for c in self.firm.clients
                   if c.key in self.boxes.index.harvest}  # fmt: skip
        projects = {p["id"]: p for p in self.harvest("projects")}
        totals: dict[str, Decimal] = {}
        for entry in self.harvest("time_entries"):
            if entry["is_closed"] and entry["billable"] and entry["billable_rate"] is not None:
                client = clients[projects[entry["project_id"]]["client_id"]]
                amount = Decimal(str(entry["hours"])) * Decimal(str(entry["billable_rate"])) * 100
                totals[client] = totals.get(client, Decimal(0)) + amount
        for expense in self.harvest("expenses"):
            if expense["is_closed"] and expense["billable"]:
                client = clients[projects[expense["project_id"]]["client_id"]]
                cost = Decimal(str(expense["total_cost"])) * 100
                marked = cost + (cost * Decimal("0.1")).quantize(Decimal(1), "ROUND_HALF_EVEN")
                totals[client] = totals.get(client, Decimal(0)) + marked
        return {self.boxes.index.stripe[k]: int(v) for k, v in totals.items()}


@asynccontextmanager
async def running(
    firm: Firm,
    boxes: Sandboxes,
    tmp_path: Path,
    clock: ShiftedClock,
    *,
    admin: bool = False,
    corrections: str = "next_invoice",
    tax_rates: dict[str, str] | None = None,
) -> AsyncIterator[Billing]:
    """A Mediator over `boxes` with the xref map written (again: it is idempotent), and its
    admin API when `admin` (token `ADMIN_TOKEN`, a viewer's); `corrections` and `tax_rates`
    are the options of `[flows.billing.options]`."""
    text = config_text(boxes, corrections=corrections, tax_rates=tax_rates)
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    async with open_journal(loaded.journal_path, clock=clock) as journal:
        await record_clients(journal, firm, boxes)
    async with Mediator(loaded, clock=clock, serve_admin=admin) as mediator:
        yield Billing(firm, boxes, mediator, clock)
