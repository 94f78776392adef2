"""A run's reads: each list read once whichever checks ask for it, the lists of the run's
checks started at once (and only those), nothing left running when the run ends.

Harvest and Stripe sandboxes over loopback, with their limits (and mediator's) off: what is
counted here is calls, not waiting.
"""

from __future__ import annotations

import msgspec

from mediator.clock import SystemClock
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.reconciliation.reads import SystemReads
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.systems import Connector, Secret
from mediator.systems.harvest import HarvestConnector
from mediator.systems.stripe import StripeConnector
from tests.systems.harness_harvest import seed_account

PERIOD = "2026-11"
_TOKEN, _KEY, _ACCOUNT = "reads-token", "sk_test_reads", 7654321


def _harvest() -> HarvestSandbox:
    box = HarvestSandbox(tokens={_TOKEN: _ACCOUNT}, rate_limit=10_000)
    ids = seed_account(box)
    for day in (2, 3, 4):
        entry = box.store.create(
            "time_entries",
            {"project_id": ids["project"], "task_id": ids["task"], "user_id": ids["user"],
             "spent_date": f"{PERIOD}-{day:02d}", "hours": 2.0},
        )  # fmt: skip
        box.store.approve("time_entries", int(str(entry["id"])))
    return box


def _stripe() -> StripeSandbox:
    box = StripeSandbox(api_keys=(_KEY,), rate_limit=10_000)
    customer = box.store.create_customer({"name": "Acme", "currency": "usd"}, announce=False)
    box.store.create_invoiceitem(
        {"customer": customer["id"], "amount": 12_500, "currency": "usd"}, None
    )
    return box


def _connectors(harvest: str, stripe: str) -> dict[str, Connector]:
    clock = SystemClock()
    config = default_policy_config()
    unlimited = msgspec.structs.replace(
        config, targets=tuple(t for t in config.targets if t.system not in ("harvest", "stripe"))
    )
    policies = PolicyRegistry(unlimited, clock=clock)
    return {
        "harvest": HarvestConnector(
            base_url=harvest, policies=policies, clock=clock, account_id=str(_ACCOUNT),
            secret=lambda: Secret(_TOKEN), user_agent="mediator tests (ops@example.com)",
        ),
        "stripe": StripeConnector(
            base_url=stripe, policies=policies, clock=clock, secret=lambda: Secret(_KEY)
        ),
    }  # fmt: skip


async def test_each_list_is_read_once_whichever_check_asks_and_only_the_runs_lists() -> None:
    async with open_sandbox(_harvest()) as harvest, open_sandbox(_stripe()) as stripe:
        connectors = _connectors(harvest, stripe)
        try:
            reads = SystemReads(connectors)
            reads.prefetch(PERIOD, ("presence", "money"))
            try:
                # the checks ask, some of them twice (time and money share the entries)
                entries = await reads.time_entries(PERIOD)
                assert len(await reads.time_entries(PERIOD)) == len(entries) == 3
                assert len(await reads.harvest_clients()) == 1
                assert len(await reads.harvest_projects()) == 1
                assert len(await reads.customers()) == 1
                assert len(await reads.invoice_items()) == 1
                assert len(await reads.invoice_items()) == 1
            finally:
                await reads.aclose()
            # one page of each list: nothing read twice
            assert reads.calls() == {"harvest": 3, "stripe": 2}

            # a run of the invoice check alone reads no Harvest list, and ends clean
            # although it never asked for what it started
            reads = SystemReads(connectors)
            reads.prefetch(PERIOD, ("invoices",))
            await reads.aclose()
            assert reads.calls()["harvest"] == 0
            assert reads.calls()["stripe"] <= 1
        finally:
            for connector in connectors.values():
                await connector.aclose()
