"""The composition root: `Mediator` wires journal, policies, systems, flows and ingress.

The daemon (`mediator run`), the demo and host services all run through it; a flow plugs in
through the `Flow` interface.
"""

from mediator.runtime.assembly import build_flows, check_flows
from mediator.runtime.flow import Flow, FlowContext, Poller, PollOutcome, WaitingOutcome
from mediator.runtime.mediator import Mediator, MediatorStatistics
from mediator.runtime.routing import KindRouter, NoFlowForKind
from mediator.runtime.schedule import PollerStatus, ScheduledPoller
from mediator.runtime.throughput import FlowThroughput

__all__ = [
    "Flow",
    "FlowContext",
    "FlowThroughput",
    "KindRouter",
    "Mediator",
    "MediatorStatistics",
    "NoFlowForKind",
    "PollOutcome",
    "Poller",
    "PollerStatus",
    "ScheduledPoller",
    "WaitingOutcome",
    "build_flows",
    "check_flows",
]
