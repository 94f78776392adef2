"""The plug-in interface of a flow: what `Mediator` needs to know to run one.

A flow names itself, the journal kinds it handles, the team that owns its exceptions and the
systems it needs; it builds one entity actor per key and the pollers that feed it. The
`Mediator` gives it a `FlowContext` (the journal, the clock, the system actors it asked for,
the connectors its pollers read, its own options from `[flows.<name>]`), enables it when the
configuration lists it, and routes each journaled entry to it by kind.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.journal import Appended, Dispatcher, Journal
from mediator.runtime.approvals import FlowApprovals
from mediator.systems import Command, Connector

__all__ = ["Flow", "FlowContext", "PollOutcome", "Poller", "WaitingOutcome"]


class PollOutcome(Protocol):
    """What a poll reports: records read, newly journaled, already known, and rejected."""

    @property
    def read(self) -> int:
        """Records read from the system."""
        ...

    @property
    def journaled(self) -> int:
        """Records newly journaled (not duplicates)."""
        ...

    @property
    def duplicates(self) -> int:
        """Records read again that the journal already held (by idempotency key)."""
        ...

    @property
    def rejected(self) -> int:
        """Records that did not decode, journaled as dead letters naming the field."""
        ...


@runtime_checkable
class WaitingOutcome(PollOutcome, Protocol):
    """A poll report that may say the poller must wait before its next poll.

    A poller whose system refused for a spent allowance reports when it resets
    (`waiting_until`, epoch seconds on the mediator's clock) and why (`waiting_reason`);
    `ScheduledPoller` then sleeps until that time instead of its next tick and shows both.
    """

    @property
    def waiting_until(self) -> float | None:
        """When the poller may go on (None: it need not wait)."""
        ...

    @property
    def waiting_reason(self) -> str | None:
        """Why it waits, in words for the admin API."""
        ...


class Poller(Protocol):
    """Reads one system's changes since its watermark into the journal, through the dispatcher."""

    @property
    def name(self) -> str:
        """The poller's name: its watermark's name and its key in `[ingress.pollers]`."""
        ...

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> PollOutcome:
        """Run one poll; return once what it read is durable."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class FlowContext:
    """What a running flow may use; built by the `Mediator` for each enabled flow."""

    journal: Journal
    clock: Clock
    #: the system actors the flow declared in `systems`, by system name
    systems: Mapping[str, ActorRef[Command]]
    #: the same systems' connectors, for the flow's pollers (reads, not commands)
    connectors: Mapping[str, Connector]
    #: requests for a person's approval, filed under this flow's name; the decision comes
    #: back as an entry of kind ``decision_kind(flow)``, which the flow lists in its kinds
    approvals: FlowApprovals
    #: journal what a delivery causes (envelopes for this or another flow) and queue it for
    #: delivery; durable on return, duplicates (by idempotency key) reported, not queued.
    #: Never append to `journal` directly for that: the entries would wait for a restart.
    follow_up: Callable[[Sequence[Envelope]], Awaitable[list[Appended]]]
    #: the names of every enabled flow (a poller may feed another flow when it is enabled)
    enabled_flows: frozenset[str] = frozenset()
    #: the firm's time zone (`time_zone` of the configuration), for schedules of business time
    time_zone: str = "UTC"


class Flow(Protocol):
    """A business workflow as a plug-in: its name, kinds, owner, systems, actors and pollers."""

    @property
    def name(self) -> str:
        """The flow's name, its key in `[flows.<name>]`."""
        ...

    @property
    def kinds(self) -> frozenset[str]:
        """The journal kinds this flow's entity actors handle."""
        ...

    @property
    def owner(self) -> str:
        """The team that works this flow's business exceptions (``finance``, ``sales-ops``)."""
        ...

    @property
    def systems(self) -> frozenset[str]:
        """The systems the flow needs (their actors and connectors are in its context)."""
        ...

    @property
    def poller_names(self) -> frozenset[str]:
        """The names of the pollers `pollers` builds (checked against the configuration
        before anything opens)."""
        ...

    @property
    def delivery_timeout(self) -> float:
        """The longest one delivery may take; the dispatcher's ask waits longer than this."""
        ...

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """Build the entity actor of `key` (spawned on its first entry, passivated when idle)."""
        ...

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The pollers that feed this flow (scheduled by `[ingress.pollers.<name>]`)."""
        ...
