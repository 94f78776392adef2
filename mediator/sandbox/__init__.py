"""Faithful local simulators of Salesforce, Harvest, Stripe and Tryton, with fault injection.

Each product is an aiohttp application over in-memory state (`Sandbox.app()`), driven by an
injected clock, seedable, recording every request, with a fault plan installable at start or
through `POST /__sandbox/faults`, and its final state readable at `GET /__sandbox/state`.
`open_sandboxes()` serves them together on loopback; `generate_firm()` makes the data and
`seed_sandboxes()` loads it; `mediator sandbox` (`serve.main`) runs them from the shell.
"""

from mediator.sandbox.base import CONTROL_PREFIX, Sandbox, json_response
from mediator.sandbox.cli import configure_parser, main, run, serve_sandboxes
from mediator.sandbox.faults import Decision, FaultInjector, FaultPlan, FaultStatistics, Outage
from mediator.sandbox.generator import Firm, generate_firm
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.recording import RecordedRequest, RequestLog
from mediator.sandbox.runner import PRODUCTS, Sandboxes, open_sandboxes
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.seeding import SeedIndex, approve_through, seed_activity, seed_sandboxes
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.tryton import TrytonSandbox

__all__ = [
    "CONTROL_PREFIX",
    "PRODUCTS",
    "Decision",
    "FaultInjector",
    "FaultPlan",
    "FaultStatistics",
    "Firm",
    "HarvestSandbox",
    "Outage",
    "RecordedRequest",
    "RequestLog",
    "SalesforceSandbox",
    "Sandbox",
    "Sandboxes",
    "SeedIndex",
    "StripeSandbox",
    "TrytonSandbox",
    "approve_through",
    "configure_parser",
    "generate_firm",
    "json_response",
    "main",
    "open_sandbox",
    "open_sandboxes",
    "run",
    "seed_activity",
    "seed_sandboxes",
    "serve_sandboxes",
]
