"""The Harvest API v2 sandbox (PSA): clients, projects, people, rates, time and expenses."""

from mediator.sandbox.harvest.app import HarvestSandbox
from mediator.sandbox.harvest.store import RESOURCES, HarvestError, HarvestStore

__all__ = ["RESOURCES", "HarvestError", "HarvestSandbox", "HarvestStore"]
