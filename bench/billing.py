"""The billing leg at volume: Stripe write calls per billable time entry, and bookings/s.

A month of approved billable time for `--clients` clients (two projects each, five roles at
their rates: ten invoice lines a client) is delivered to the billing flow's entity actors
through the journal and the dispatcher, in `--waves` waves (a flush interval of about a week),
each followed by a flush; then the month is closed. Stripe is the sandbox, reached over
loopback by the real connector; every POST it answers is a write.

Writes are about lines × flushes + 2 per invoice, whatever the entries: what matters is how
many entries a line gathers between flushes. The defaults give a line 200 entries a month, as
a 1,500-consultant firm's 130,000 entries over some 600 lines (project × role × rate) do;
`--clients` larger at the same `--entries` shows the ratio for smaller teams, `--waves` for a
shorter flush interval.

Baseline: one Stripe call per entry (1.0 writes per entry), what billing each entry as its
own item costs. Target (issue #17): at most 0.05 writes per billable entry. At 25 requests/s,
a 130,000-entry month is 87 minutes one call each.

    .venv/bin/python bench/billing.py [--quick] [--entries 20000] [--clients 10] [--waves 4]

`--quick` books 2,000 entries for 2 clients (100 entries a line: half the default's). Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import random
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _machine import machine  # a bench/ sibling

from mediator.actors import open_entity_registry, open_supervisor
from mediator.clock import SystemClock
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.time_and_expenses import TimeEntry
from mediator.flows.billing import (
    BILLABLE_TIME,
    CLOSE_PERIOD,
    FLUSH_INVOICE,
    PAYLOADS,
    BillingDesk,
    InvoiceRequest,
    invoice_key,
)
from mediator.flows.billing.state import INVOICE, OPEN, InvoiceState, OpenInvoices, load
from mediator.journal import Dispatcher, Journal, open_dispatcher, open_journal
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.systems import Secret, SystemActor
from mediator.systems.stripe import StripeConnector

_ROLES = ((15_000, "Consultant"), (21_000, "Senior"), (30_000, "Principal"), (9_500, "Analyst"),
          (42_000, "Partner"))  # fmt: skip
_TARGET = 0.05


def month(entries: int, clients: int, seed: int) -> list[TimeEntry]:
    """Approved billable entries of November 2026, spread over clients, projects and people."""
    rng = random.Random(seed)
    out = []
    for index in range(entries):
        client = rng.randrange(clients)
        project = client * 2 + rng.randrange(2)
        person = rng.randrange(5)
        rate, _ = _ROLES[person]
        out.append(
            TimeEntry(
                source_system="harvest",
                source_id=str(1_000_000 + index),
                project_id=str(project),
                consultant_id=str(project * 5 + person),
                client_id=str(client),
                task="Consulting",
                spent_on=datetime.date(2026, 11, 1 + rng.randrange(30)),
                hours=Decimal(rng.choice(("0.5", "1", "2", "4", "8"))),
                billable=True,
                approved=True,
                bill_rate=Money(amount=rate, currency="EUR"),
                updated_at=datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC),
            )
        )
    return out


async def run(entries: int, clients: int, waves: int, folder: Path) -> dict[str, object]:
    clock = SystemClock()
    box = StripeSandbox(clock=clock, rate_limit=25)
    work = month(entries, clients, seed=17)
    async with (
        open_sandbox(box) as url,
        open_journal(folder / "journal.sqlite", clock=clock, synchronous="NORMAL") as journal,
        open_supervisor(clock=clock) as supervisor,
    ):
        for client in range(clients):
            customer = box.store.create_customer({"name": f"Client {client}"}, announce=False)
            await journal.record_xref("client", f"C-{client}", "stripe", str(customer["id"]))
            await journal.record_xref("client", f"C-{client}", "harvest", str(client))
        for project in range(clients * 2):
            await journal.record_xref("project", f"P-{project}", "harvest", str(project))
            for person in range(5):
                who = str(project * 5 + person)
                await journal.record_xref("consultant", f"U-{who}", "harvest", who)
        policies = PolicyRegistry(default_policy_config(), clock=clock)
        key = Secret("sk_test_sandbox", source="bench")
        connector = StripeConnector(
            base_url=url, policies=policies, clock=clock, secret=lambda: key
        )
        stripe = supervisor.spawn(lambda: SystemActor(connector), name="stripe")
        async with (
            open_entity_registry(
                supervisor,
                lambda k: BillingDesk(k, journal=journal, stripe=stripe, clock=clock),
                idle_timeout=None,
            ) as desks,
            open_dispatcher(journal, desks.ref_for, clock=clock) as dispatcher,
        ):
            started = time.perf_counter()
            booking = 0.0
            for wave in range(waves):
                chunk = work[wave::waves]
                envelopes = [
                    PAYLOADS.envelope(
                        BILLABLE_TIME,
                        e,
                        key=f"billing:project:{e.project_id}",
                        source="harvest",
                        idempotency_key=f"harvest:time_entry:{e.source_id}:billing",
                        occurred_at=datetime.datetime.now(datetime.UTC),
                    )
                    for e in chunk
                ]
                began = time.perf_counter()
                for start in range(0, len(envelopes), 2_000):
                    await dispatcher.accept_many(envelopes[start : start + 2_000])
                await dispatcher.wait_idle()
                booking += time.perf_counter() - began
                await _request_all(journal, dispatcher, FLUSH_INVOICE, f"flush-{wave}")
            await _request_all(journal, dispatcher, CLOSE_PERIOD, "close")
            elapsed = time.perf_counter() - started
        await connector.aclose()
    writes = len(box.requests.matching("POST", "/v1/"))
    billed = sum(int(str(i["total"])) for i in box.store.invoices.values() if i["status"] == "open")
    expected = sum(int(e.hours * e.bill_rate.amount) for e in work if e.bill_rate is not None)
    per_entry = writes / entries
    return {
        "entries": entries,
        "clients": clients,
        "waves": waves,
        "lines": clients * 10,
        "entries_per_line": entries // (clients * 10),
        "stripe_writes": writes,
        "writes_per_entry": round(per_entry, 5),
        "baseline_writes_per_entry": 1.0,
        "ratio": round(1.0 / per_entry, 1) if writes else None,
        "target": _TARGET,
        "meets_target": per_entry <= _TARGET,
        "invoices_finalized": sum(1 for i in box.store.invoices.values() if i["status"] == "open"),
        "totals_match": billed == expected,
        "bookings_per_second": round(entries / booking, 1),
        "seconds": round(elapsed, 2),
    }


async def _request_all(journal: Journal, dispatcher: Dispatcher, kind: str, tag: str) -> None:
    # what the flush and close schedules journal, for every open invoice, at once
    listed, _ = await load(journal, OPEN, "all", OpenInvoices)
    requests = []
    for entity in listed.keys if listed else ():
        state, _ = await load(journal, INVOICE, entity, InvoiceState)
        assert state is not None
        requests.append(
            PAYLOADS.envelope(
                kind,
                InvoiceRequest(client_id=state.client_id, period=state.period),
                key=invoice_key(state.client_id, state.period),
                source="bench",
                idempotency_key=f"bench:{tag}:{entity}",
                occurred_at=datetime.datetime.now(datetime.UTC),
            )
        )
    await dispatcher.accept_many(requests)
    await dispatcher.wait_idle()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--waves", type=int, default=4)
    args = parser.parse_args()
    entries, clients = (2_000, 2) if args.quick else (args.entries, args.clients)
    with tempfile.TemporaryDirectory() as folder:
        report = asyncio.run(run(entries, clients, args.waves, Path(folder)))
    json.dump({"machine": machine(), "quick": args.quick, **report}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
