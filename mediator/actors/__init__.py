"""Actors, refs, bounded mailboxes, supervisors and the entity registry."""

from mediator.actors.actor import Actor
from mediator.actors.batch import BatchActor
from mediator.actors.mailbox import Mailbox
from mediator.actors.ref import ActorRef, ActorStatistics
from mediator.actors.registry import (
    EntityRef,
    EntityRegistry,
    RegistryStatistics,
    open_entity_registry,
)
from mediator.actors.strategy import Decision, Restart, RestartWithBackoff, Stop, Strategy
from mediator.actors.supervisor import (
    Supervisor,
    SupervisorEscalated,
    SupervisorStatistics,
    open_supervisor,
)
from mediator.actors.tracing import (
    Tracing,
    context_from_traceparent,
    current_span_context,
    format_traceparent,
    parse_traceparent,
)

__all__ = [
    "Actor",
    "ActorRef",
    "ActorStatistics",
    "BatchActor",
    "Decision",
    "EntityRef",
    "EntityRegistry",
    "Mailbox",
    "RegistryStatistics",
    "Restart",
    "RestartWithBackoff",
    "Stop",
    "Strategy",
    "Supervisor",
    "SupervisorEscalated",
    "SupervisorStatistics",
    "Tracing",
    "context_from_traceparent",
    "current_span_context",
    "format_traceparent",
    "open_entity_registry",
    "open_supervisor",
    "parse_traceparent",
]
