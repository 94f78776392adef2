"""Stripe writes per billable entry stay far below one: aggregates, not one call per entry.

A month of one client with a few hundred entries (the generated month, padded with seeded
extra entries on the same assignments), approved in three waves, each polled and flushed: the
requests the Stripe sandbox recorded are counted against the billable entries billed.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from mediator.clock import SystemClock
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import Firm, generate_firm
from tests.flows.billing.support import ShiftedClock, running
from tests.flows.billing.test_month import AFTER_CLOSE

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the runtime, 400 entries

SEED = 0
EXTRA_PER_ASSIGNMENT = 100
TARGET = 0.05  # Stripe write calls per billable entry (issue #17)


@pytest.fixture
async def firm_and_boxes() -> AsyncIterator[tuple[Firm, Sandboxes]]:
    firm = generate_firm(seed=SEED, size=1)
    async with open_sandboxes(
        products=("harvest", "stripe", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
    ) as boxes:
        yield firm, boxes


def pad(firm: Firm, boxes: Sandboxes) -> list[int]:
    """Log seeded extra billable time on every onboarded assignment; return the new ids."""
    assert boxes.harvest is not None
    rng = random.Random(SEED)
    store, index = boxes.harvest.store, boxes.index.harvest
    days = [firm.month + timedelta(days=d) for d in range(30)]
    created = []
    for assignment in firm.assignments:
        if assignment.project not in index:
            continue
        for _ in range(EXTRA_PER_ASSIGNMENT):
            record = store.create(
                "time_entries",
                {
                    "project_id": index[assignment.project],
                    "task_id": index["task:Consulting"],
                    "user_id": index[assignment.consultant],
                    "spent_date": rng.choice(days).isoformat(),
                    "hours": rng.choice((0.5, 1.0, 1.5, 2.0, 4.0, 8.0)),
                    "notes": "Analysis",
                },
            )
            created.append(int(str(record["id"])))
    return created


async def test_stripe_writes_per_billable_entry_stay_under_the_target(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    assert boxes.harvest is not None
    extra = pad(firm, boxes)
    clock = ShiftedClock()
    clock.at(AFTER_CLOSE)
    async with running(firm, boxes, tmp_path, clock) as billing:
        for wave in range(3):  # approvals arrive in waves; each is polled, then flushed
            for entry_id in extra[wave::3]:
                boxes.harvest.store.approve("time_entries", entry_id)
            await billing.poll()
            await billing.flush()
        await billing.close()
        billed = [e for e in billing.harvest("time_entries") if e["is_closed"] and e["billable"]]
        assert len(billed) > 300
        [invoice] = billing.invoices()
        assert invoice["status"] == "open"
        assert {invoice["customer"]: invoice["total"]} == billing.expected()
        writes = billing.stripe_writes()
        print(f"{writes} Stripe writes for {len(billed)} billable entries")
        assert writes / len(billed) <= TARGET
        # what the writes were: one draft, an item per line created once, updates, a finalize
        assert boxes.stripe is not None
        posts = [r.path for r in boxes.stripe.requests.matching("POST", "/v1/")]
        assert posts.count("/v1/invoices") == 1
        assert posts.count("/v1/invoiceitems") == len(invoice["lines"]["data"])
        assert sum(p.endswith("/finalize") for p in posts) == 1
