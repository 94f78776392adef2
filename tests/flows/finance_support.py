"""A running `Mediator` with the finance flows against the Stripe, Tryton and Salesforce
sandboxes, on one `FakeClock`, with Stripe's webhooks delivered to its listener.

Stripe is changed through its sandbox's store (what a person does in the dashboard), which
emits events that the sandbox signs and POSTs to the listener. Waiting is through
`Finance.settle`: time moves only by what the work in hand waits on, so a posting window's
retry or Stripe's redelivery falls due when the test moves time on (`Finance.advance`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest

from mediator.config import parse_config
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.testing import FakeClock
from mediator.testing.clock import drive

T = TypeVar("T")
#: Monday 2 November 2026, 10:00 UTC: inside the default (always open) window
MONDAY_10 = 1_793_613_600.0
SECRET = "whsec_finance_tests_5d1e7a"
ENV = "TEST_FINANCE"


@dataclasses.dataclass
class Client:
    """A client as onboarding leaves it: an Account, a Stripe customer, a Tryton party."""

    account: str
    customer: str
    party: int


@dataclasses.dataclass
class Finance:
    """The sandboxes, the running Mediator and the clock they share."""

    clock: FakeClock
    boxes: Sandboxes
    mediator: Mediator
    client: Client

    @property
    def stripe(self) -> Any:
        assert self.boxes.stripe is not None
        return self.boxes.stripe.store

    async def settle(self, *, horizon: float = 1.0) -> None:
        """Let every webhook be delivered and every entry be handled, up to the retries that
        wait for later (a held posting): time moves only as far as the work in hand waits
        on it (a batch's linger, a rate limit: `horizon` seconds at once, more for a
        connector's backoff between attempts), never to a retry's or a timeout's due time."""
        assert self.boxes.stripe is not None
        assert self.boxes.stripe.webhooks is not None
        await self.run(self.boxes.stripe.webhooks.wait_idle(), horizon=horizon)
        await self.run(self.mediator._running_dispatcher().wait_settled(), horizon=horizon)

    async def advance(self, seconds: float) -> None:
        """Move time on by `seconds` (retries and redeliveries fall due), then settle."""
        await self.clock.advance(seconds)
        await self.settle()

    async def run(self, call: Awaitable[T], *, horizon: float = 1.0) -> T:
        """Await `call` on this clock (see `run_on`)."""
        return await run_on(self.clock, call, horizon=horizon)

    def invoice(
        self, cents: list[int], *, engagement: str | None = None, service_line: str | None = None
    ) -> str:
        """A draft Stripe invoice for the client with one item per amount; its id."""
        fields: dict[str, object] = {
            "customer": self.client.customer,
            "currency": "usd",
            "collection_method": "send_invoice",
            "days_until_due": 30,
        }
        metadata = {"mediator_engagement": engagement, "mediator_service_line": service_line}
        fields["metadata"] = {key: value for key, value in metadata.items() if value is not None}
        draft = self.stripe.create_invoice(fields, include_pending=False)
        for number, amount in enumerate(cents):
            self.stripe.create_invoiceitem(
                {
                    "customer": self.client.customer,
                    "amount": amount,
                    "currency": "usd",
                    "quantity": 1,
                    "unit_amount": amount,
                    "description": f"Consulting, part {number + 1}",
                },
                str(draft["id"]),
            )
        return str(draft["id"])

    def tryton_invoices(self) -> list[dict[str, Any]]:
        """The Tryton sandbox's customer invoices (live rows)."""
        assert self.boxes.tryton is not None
        return list(self.boxes.tryton.db.tables["account.invoice"].values())

    def tryton_total(self, invoice: dict[str, Any]) -> Decimal:
        """What Tryton computes as the invoice's total."""
        assert self.boxes.tryton is not None
        lines = self.boxes.tryton.db.tables["account.invoice.line"].values()
        return sum(
            (
                Decimal(str(line["quantity"])) * Decimal(str(line["unit_price"]))
                for line in lines
                if line["invoice"] == invoice["id"]
            ),
            Decimal(0),
        )

    def account(self) -> dict[str, Any]:
        """The client's Account as the CRM has it."""
        assert self.boxes.salesforce is not None
        return dict(self.boxes.salesforce.store.get("Account", self.client.account))


async def run_on(clock: FakeClock, call: Awaitable[T], *, horizon: float = 1.0) -> T:
    """Await `call`, firing the clock's timers due within `horizon` seconds whenever it waits:
    unlike `drive` alone, a call waiting on real I/O never sees a 60 s timeout fire meanwhile."""
    return await drive(clock, call, horizon=horizon)


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_CASH = """
[flows.cash_application.options]
payment_method = {method}

[ingress.pollers.cash_application_waiting]
interval = 3600.0
enabled = false
"""


def config_text(boxes: Sandboxes, port: int, *, extra: str = "", cash: bool = True) -> str:
    creds = boxes.credentials()
    assert boxes.tryton is not None
    erp = msgspec.to_builtins(boxes.tryton.erp_setup())
    erp.pop("employee_by_consultant")
    erp_lines = "\n".join(f"{key} = {value}" for key, value in erp.items())
    method = boxes.tryton.setup.payment_method
    return f"""\
[journal]
path = "journal.sqlite"

[systems.salesforce]
base_url = "{boxes.urls["salesforce"]}"
client_id = "{creds["salesforce"]["client_id"]}"
client_secret = "env:{ENV}_SF_SECRET"

[systems.stripe]
base_url = "{boxes.urls["stripe"]}"
api_key = "env:{ENV}_STRIPE_KEY"

[systems.tryton]
base_url = "{boxes.urls["tryton"]}"
database = "{creds["tryton"]["database"]}"
login = "{creds["tryton"]["login"]}"
password = "env:{ENV}_TRYTON_PASSWORD"

[systems.tryton.erp]
{erp_lines}

[flows.receivables]

{_CASH.format(method=method) if cash else ""}
[ingress.pollers.stripe_events]
interval = 3600.0
enabled = false

[ingress.webhooks]
listen = "127.0.0.1:{port}"
stripe_secrets = ["env:{ENV}_WEBHOOK_SECRET"]
{extra}"""


def client_in_systems(boxes: Sandboxes) -> Client:
    """What onboarding leaves in the systems: the client's Account, customer and party."""
    assert boxes.salesforce is not None
    assert boxes.stripe is not None
    assert boxes.tryton is not None
    account = boxes.salesforce.store.create("Account", {"Name": "Acme Consulting Client"})
    customer = boxes.stripe.store.create_customer(
        {"name": "Acme Consulting Client", "email": "ap@acme.test"}, announce=False
    )
    [party] = boxes.tryton.db.create(
        "party.party",
        [{"name": "Acme Consulting Client", "addresses": [["create", [{"street": "1 Main"}]]]}],
    )
    return Client(account=account, customer=str(customer["id"]), party=party)


async def record_client(mediator: Mediator, client: Client) -> None:
    """What onboarding leaves in the xref map: the client's id in each system."""
    journal = mediator.journal
    await journal.record_xref("client", client.account, "salesforce", client.account)
    await journal.record_xref("client", client.account, "stripe", client.customer)
    await journal.record_xref("client", client.account, "tryton", str(client.party))


@contextlib.asynccontextmanager
async def open_finance(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    extra: str = "",
    start: float = MONDAY_10,
    before_start: Callable[[Finance], Awaitable[None]] | None = None,
    cash: bool = True,
) -> AsyncIterator[Finance]:
    """Sandboxes and a running Mediator with the finance flows, the client onboarded;
    `before_start` acts on the sandboxes while the Mediator is still down; `cash` enables
    cash application too."""
    clock = FakeClock(wall=start)
    port = free_port()
    async with open_sandboxes(
        products=("salesforce", "stripe", "tryton"),
        clock=clock,
        seed=7,
        webhook_url=f"http://127.0.0.1:{port}/webhooks/stripe",
        webhook_secret=SECRET,
    ) as boxes:
        creds = boxes.credentials()
        monkeypatch.setenv(f"{ENV}_SF_SECRET", creds["salesforce"]["client_secret"])
        monkeypatch.setenv(f"{ENV}_STRIPE_KEY", creds["stripe"]["api_key"])
        monkeypatch.setenv(f"{ENV}_TRYTON_PASSWORD", creds["tryton"]["password"])
        monkeypatch.setenv(f"{ENV}_WEBHOOK_SECRET", SECRET)
        text = config_text(boxes, port, extra=extra, cash=cash)
        loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
        mediator = Mediator(loaded, clock=clock, serve_admin=False)
        finance = Finance(
            clock=clock, boxes=boxes, mediator=mediator, client=client_in_systems(boxes)
        )
        if before_start is not None:
            await before_start(finance)
        await run_on(clock, mediator.__aenter__())
        try:
            await record_client(mediator, finance.client)
            yield finance
        finally:
            await run_on(clock, mediator.__aexit__(None, None, None))
