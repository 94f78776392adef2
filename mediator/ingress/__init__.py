"""The ways in: pollers that read the systems without webhooks into the journal."""

from mediator.ingress.harvest_time import INVALID_TIME, HarvestTimePoller, PollReport

__all__ = ["INVALID_TIME", "HarvestTimePoller", "PollReport"]
