"""Connectors logged in to running sandboxes: what flow and ingress tests build on.

The `Mediator` builds its connectors from `mediator.toml` (`mediator.runtime.systems`); a test
of one flow or one poller without the whole runtime builds them here, pointed at the
sandboxes' URLs and credentials, with the Tryton sandbox's company and account ids.
"""

from __future__ import annotations

from mediator.clock import Clock
from mediator.policies import PolicyRegistry
from mediator.sandbox import Sandboxes
from mediator.systems import Secret
from mediator.systems.harvest import HarvestConnector
from mediator.systems.tryton import TrytonConnector

__all__ = ["harvest_connector", "tryton_connector"]


def harvest_connector(boxes: Sandboxes, policies: PolicyRegistry, clock: Clock) -> HarvestConnector:
    """A Harvest connector logged in to the sandbox."""
    creds = boxes.credentials()["harvest"]
    token = Secret(creds["token"], source="sandbox")
    return HarvestConnector(
        base_url=boxes.urls["harvest"],
        policies=policies,
        clock=clock,
        account_id=creds["account_id"],
        secret=lambda: token,
        user_agent="mediator demo (integration-team@example.com)",
    )


def tryton_connector(boxes: Sandboxes, policies: PolicyRegistry, clock: Clock) -> TrytonConnector:
    """A Tryton connector for the sandbox's database and administrator."""
    creds = boxes.credentials()["tryton"]
    assert boxes.tryton is not None  # the credentials above exist only when it runs
    return TrytonConnector(
        base_url=boxes.urls["tryton"],
        database=creds["database"],
        login=creds["login"],
        secret=lambda: Secret(creds["password"], source="sandbox"),
        policies=policies,
        clock=clock,
        setup=boxes.tryton.erp_setup(),
    )
