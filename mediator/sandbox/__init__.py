"""Faithful local simulators of Salesforce, Harvest, Stripe and Tryton, with fault injection.

Each product is an aiohttp application over in-memory state (`Sandbox.app()`), driven by an
injected clock, seedable, recording every request, with a fault plan installable at start or
through `POST /__sandbox/faults`, and its final state readable at `GET /__sandbox/state`.
"""

from mediator.sandbox.base import CONTROL_PREFIX, Sandbox, json_response
from mediator.sandbox.faults import Decision, FaultInjector, FaultPlan, FaultStatistics, Outage
from mediator.sandbox.recording import RecordedRequest, RequestLog
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.serving import open_sandbox

__all__ = [
    "CONTROL_PREFIX",
    "Decision",
    "FaultInjector",
    "FaultPlan",
    "FaultStatistics",
    "Outage",
    "RecordedRequest",
    "RequestLog",
    "SalesforceSandbox",
    "Sandbox",
    "json_response",
    "open_sandbox",
]
