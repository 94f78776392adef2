"""Connecting the demo's runtime to the sandboxes: connectors, ERP set-up and the xref map."""

from __future__ import annotations

from mediator.clock import Clock
from mediator.codecs.tryton_erp import ErpSetup
from mediator.journal import Journal
from mediator.policies import PolicyRegistry
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from mediator.systems import Secret
from mediator.systems.harvest import HarvestConnector
from mediator.systems.tryton import TrytonConnector

__all__ = ["erp_setup", "harvest_connector", "record_onboarding", "tryton_connector"]


def harvest_connector(boxes: Sandboxes, policies: PolicyRegistry, clock: Clock) -> HarvestConnector:
    """A Harvest connector logged in to the sandbox."""
    creds = boxes.credentials()["harvest"]
    token = Secret(creds["token"], source="sandbox")
    return HarvestConnector(
        base_url=boxes.urls["harvest"],
        policies=policies,
        clock=clock,
        account_id=creds["account_id"],
        token=lambda: token,
        user_agent="mediator demo (integration-team@example.com)",
    )


def tryton_connector(boxes: Sandboxes, policies: PolicyRegistry, clock: Clock) -> TrytonConnector:
    """A Tryton connector for the sandbox's database and administrator."""
    creds = boxes.credentials()["tryton"]
    return TrytonConnector(
        base_url=boxes.urls["tryton"],
        database=creds["database"],
        login=creds["login"],
        password=Secret(creds["password"], source="sandbox"),
        policies=policies,
        clock=clock,
        setup=erp_setup(boxes),
    )


def erp_setup(boxes: Sandboxes) -> ErpSetup:
    """The ERP's company and accounting ids, as the sandbox created them."""
    assert boxes.tryton is not None
    ids = boxes.tryton.setup
    return ErpSetup(
        company=ids.company,
        currency=ids.currency,
        journal=ids.journal,
        receivable_account=ids.receivable,
        revenue_account=ids.revenue,
        payment_term=ids.payment_term,
        product=ids.product,
        unit=ids.unit,
    )


async def record_onboarding(journal: Journal, firm: Firm, boxes: Sandboxes) -> int:
    """Write the xref map that onboarding would have: each project and consultant's PSA and ERP
    ids under its canonical (firm) key. Returns the number of mappings written."""
    index = boxes.index
    written = 0
    for entity_type, keys in (
        ("project", [p.key for p in firm.projects if p.onboarded]),
        ("consultant", [c.key for c in firm.consultants]),
    ):
        for key in keys:
            for system, ids in (("harvest", index.harvest), ("tryton", index.tryton)):
                if key in ids:
                    await journal.record_xref(entity_type, key, system, str(ids[key]))
                    written += 1
    return written
