"""The cross-system business workflows, as small state machines keyed by entity."""

from mediator.flows.approved_time import (
    APPROVED_TIME,
    FLOW,
    PAYLOADS,
    MissingReference,
    TimesheetPosting,
)

__all__ = ["APPROVED_TIME", "FLOW", "PAYLOADS", "MissingReference", "TimesheetPosting"]
