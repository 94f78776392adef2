"""Fixtures of the billing tests: a generated firm in the Harvest, Stripe and Tryton sandboxes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mediator.clock import SystemClock
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import Firm, generate_firm
from tests.flows.billing.support import ADMIN_TOKEN

SEED = 11


@pytest.fixture
async def firm_and_boxes() -> AsyncIterator[tuple[Firm, Sandboxes]]:
    firm = generate_firm(seed=SEED, size=3)
    async with open_sandboxes(
        products=("harvest", "stripe", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
    ) as boxes:
        yield firm, boxes


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch, firm_and_boxes: tuple[Firm, Sandboxes]) -> None:
    creds = firm_and_boxes[1].credentials()
    monkeypatch.setenv("TEST_HARVEST_TOKEN", creds["harvest"]["token"])
    monkeypatch.setenv("TEST_TRYTON_PASSWORD", creds["tryton"]["password"])
    monkeypatch.setenv("TEST_STRIPE_KEY", creds["stripe"]["api_key"])
    monkeypatch.setenv("TEST_ADMIN_TOKEN", ADMIN_TOKEN)
