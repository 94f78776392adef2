"""The ways in: pollers that read the systems without webhooks into the journal (Harvest's
approved time, Salesforce's changes per object), and the webhook listener
(`mediator.ingress.webhooks`, opened by the `Mediator` when `[ingress.webhooks]` is
configured; not imported here, it is an aiohttp edge)."""

from mediator.ingress.harvest_expenses import INVALID_EXPENSE, HarvestExpensesPoller
from mediator.ingress.harvest_time import INVALID_TIME, HarvestTimePoller, PollReport
from mediator.ingress.salesforce_changes import (
    SALESFORCE_POLLERS,
    SalesforceChangesPoller,
    SalesforcePollReport,
    salesforce_pollers,
)

__all__ = [
    "INVALID_EXPENSE",
    "INVALID_TIME",
    "SALESFORCE_POLLERS",
    "HarvestExpensesPoller",
    "HarvestTimePoller",
    "PollReport",
    "SalesforceChangesPoller",
    "SalesforcePollReport",
    "salesforce_pollers",
]
