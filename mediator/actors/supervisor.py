"""Supervisors own actors: they run them in a task group and decide what a failure means.

A supervisor applies each child's strategy (stop by default; restart; restart with backoff;
at most N restarts within a window, then escalate). One child's failure never stops its
siblings. A child supervisor that escalates is handled by its parent like any failed child:
stopped, or restarted as a whole (its actors stopped and spawned afresh from their factories,
which — as in Akka — drops what was in their mailboxes). Escalation at the root cancels the
task that opened it, and `open_supervisor` raises `SupervisorEscalated`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import msgspec
from opentelemetry.trace import TracerProvider

from mediator._task_group import TaskGroup
from mediator.actors._cell import ActorCell
from mediator.actors.actor import Actor
from mediator.actors.ref import ActorRef
from mediator.actors.strategy import Stop, Strategy
from mediator.actors.tracing import Tracing
from mediator.clock import Clock, SystemClock
from mediator.errors import ActorStopped, SupervisorEscalated

__all__ = ["Supervisor", "SupervisorEscalated", "SupervisorStatistics", "open_supervisor"]

log = logging.getLogger("mediator.actors")

M = TypeVar("M")
DEFAULT_MAILBOX_SIZE = 1_000


class SupervisorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one supervisor: live children and what happened to them."""

    name: str
    children: int
    processed: int
    failures: int
    restarts: int
    escalations: int


class Supervisor:
    """Owns actors and child supervisors; create the root with `open_supervisor`."""

    def __init__(
        self,
        *,
        name: str,
        group: asyncio.TaskGroup,
        clock: Clock,
        tracing: Tracing,
        strategy: Strategy,
        parent: Supervisor | None = None,
    ) -> None:
        self.name = name
        self.clock = clock
        self.tracing = tracing
        self.strategy = strategy
        self._group = group
        self._parent = parent
        self._cells: set[ActorCell] = set()
        self._children: list[Supervisor] = []
        self._tracker = strategy.tracker()
        self._closing = False
        self._finished = {"processed": 0, "failures": 0, "restarts": 0}
        self._escalations = 0
        self._respawn: asyncio.Task[None] | None = None  # a pending restart of all children
        self._on_root_escalation: Callable[[ActorCell, BaseException], None] | None = None

    def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str,
        mailbox_size: int = DEFAULT_MAILBOX_SIZE,
        strategy: Strategy | None = None,
    ) -> ActorRef[M]:
        """Start an actor built by `factory`; return its ref at once (it starts on the loop).

        Messages sent before its `on_start` finishes wait in the mailbox. `strategy` defaults
        to this supervisor's. Raises `ActorStopped` when the supervisor is closing.
        """
        return ActorRef(
            self.spawn_cell(factory, name=name, mailbox_size=mailbox_size, strategy=strategy)
        )

    def spawn_cell(
        self,
        factory: Callable[[], Actor[Any]],
        *,
        name: str,
        mailbox_size: int = DEFAULT_MAILBOX_SIZE,
        strategy: Strategy | None = None,
        after: asyncio.Event | None = None,
        observer: Callable[[ActorCell], None] | None = None,
        last_active: float | None = None,
    ) -> ActorCell:
        """Like `spawn`, returning the cell (for the entity registry, which routes by key).

        The cell starts only after `after` is set (a predecessor draining), tells `observer`
        when it stops, and counts as active at `last_active` (the registry's sweep count).
        """
        if self._closing:
            raise ActorStopped(self.name)
        cell = ActorCell(
            name=name,
            factory=factory,
            mailbox_size=mailbox_size,
            strategy=strategy or self.strategy,
            parent=self,
            clock=self.clock,
            tracing=self.tracing,
            after=after,
            observer=observer,
            last_active=last_active,
        )
        self._cells.add(cell)
        cell.task = self._group.create_task(cell.run(), name=name)
        return cell

    def spawn_supervisor(self, *, name: str, strategy: Strategy | None = None) -> Supervisor:
        """Create a child supervisor; `strategy` is what this one does when the child escalates.

        Raises `ActorStopped` when this supervisor is closing (its close would miss the child).
        """
        if self._closing:
            raise ActorStopped(self.name)
        child = Supervisor(
            name=name,
            group=self._group,
            clock=self.clock,
            tracing=self.tracing,
            strategy=strategy or Stop(),
            parent=self,
        )
        self._children.append(child)
        return child

    async def aclose(self, *, timeout: float = 10.0) -> None:
        """Stop every child: drain mailboxes within `timeout`, then cancel what is left.

        New messages are refused at once (`ActorStopped`); asks still pending at the deadline
        fail with `ActorStopped`. When this returns, no task of this supervisor is running.
        """
        self._closing = True
        if self._respawn is not None:
            self._respawn.cancel()  # a restart still backing off must not outlive the close
        for child in list(self._children):
            await child.aclose(timeout=timeout)
        await _stop_cells(list(self._cells), timeout=timeout, owner=self.name)

    def statistics(self) -> SupervisorStatistics:
        """Return a snapshot over this supervisor's live and finished children."""
        totals = dict(self._finished)
        children = len(self._cells)
        for cell in self._cells:
            totals["processed"] += cell.processed
            totals["failures"] += cell.failures
            totals["restarts"] += cell.restarts
        for child in self._children:
            stats = child.statistics()
            children += stats.children
            totals["processed"] += stats.processed
            totals["failures"] += stats.failures
            totals["restarts"] += stats.restarts
        return SupervisorStatistics(
            name=self.name, children=children, escalations=self._escalations, **totals
        )

    # -- called by children ------------------------------------------------------------------

    def _child_stopped(self, cell: ActorCell) -> None:
        self._cells.discard(cell)
        self._finished["processed"] += cell.processed
        self._finished["failures"] += cell.failures
        self._finished["restarts"] += cell.restarts

    def _child_escalated(self, cell: ActorCell, exc: BaseException) -> None:
        self._escalations += 1
        if self._parent is None:
            if self._on_root_escalation is not None:
                self._on_root_escalation(cell, exc)
            return
        self._parent._supervisor_failed(self, cell, exc)

    def _supervisor_failed(self, child: Supervisor, cell: ActorCell, exc: BaseException) -> None:
        decision = child._tracker.decide(self.clock.monotonic())
        log.warning(
            "supervisor %s escalated (%s failed); %s decides %s",
            child.name,
            cell.name,
            self.name,
            decision.action,
        )
        if decision.action == "escalate":
            self._child_escalated(cell, exc)
            child._cancel_all()
        elif decision.action == "stop":
            child._cancel_all()
        else:
            child._restart_all(decision.delay)

    def _cancel_all(self) -> None:
        self._closing = True
        if self._respawn is not None:
            self._respawn.cancel()  # its spawn_cell would raise ActorStopped into the group
        for sub in self._children:
            sub._cancel_all()
        for cell in list(self._cells):
            cell.request_stop()
            if cell.task is not None:
                cell.task.cancel()

    def _restart_all(self, delay: float) -> None:
        specs = [(c.factory, c.name, c.mailbox_size, c.strategy) for c in self._cells]
        for cell in list(self._cells):
            cell.request_stop()
            if cell.task is not None:
                cell.task.cancel()

        async def respawn() -> None:
            if delay > 0:
                await self.clock.sleep(delay)
            for factory, name, size, strategy in specs:
                self.spawn_cell(factory, name=name, mailbox_size=size, strategy=strategy)

        self._respawn = self._group.create_task(respawn(), name=f"restart {self.name}")


async def _stop_cells(cells: list[ActorCell], *, timeout: float, owner: str) -> None:
    """Stop `cells`: refuse new messages, drain within `timeout` (real time), cancel the rest."""
    for cell in cells:
        cell.request_stop()
        if cell.backing_off and cell.task is not None:
            cell.task.cancel()  # a pending restart has nothing to drain
    tasks = [cell.task for cell in cells if cell.task is not None and not cell.task.done()]
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        log.warning("%s: %d actors did not drain within %g s", owner, len(pending), timeout)
        await asyncio.wait(pending)


@asynccontextmanager
async def open_supervisor(
    *,
    name: str = "root",
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
    strategy: Strategy | None = None,
    stop_timeout: float = 10.0,
) -> AsyncIterator[Supervisor]:
    """Run a root supervisor for the body of the `async with`; stop everything on the way out.

    Leaving the block drains every mailbox within `stop_timeout` seconds and then cancels the
    rest, so no actor task outlives it. If a failure escalates to the root, the body is
    cancelled and `SupervisorEscalated` is raised from the block.
    An exception raised in the block, or one failure inside, leaves the block as itself;
    an `ExceptionGroup` only when several things failed at once (see `mediator._task_group`).
    """
    host = asyncio.current_task()
    escalated: list[tuple[ActorCell, BaseException]] = []
    # Only the body is cancelled: an escalation while the block drains must not cancel the
    # drain itself (it surfaced as a bare CancelledError instead of SupervisorEscalated).
    body_running = True
    # asyncio's TaskGroup (a single failure unwrapped: _task_group), not anyio's: children
    # never raise into it (a cell's run loop hands every failure to its strategy), so the group
    # is only the owner that outlives them, and escalation needs asyncio's cancel/uncancel on
    # the host task.
    async with TaskGroup() as group:
        root = Supervisor(
            name=name,
            group=group,
            clock=clock or SystemClock(),
            tracing=Tracing(tracer_provider),
            strategy=strategy or Stop(),
        )

        def on_escalation(cell: ActorCell, exc: BaseException) -> None:
            if not escalated:
                escalated.append((cell, exc))
                if body_running and host is not None:
                    host.cancel()

        root._on_root_escalation = on_escalation
        try:
            yield root
        except asyncio.CancelledError:
            if not escalated or host is None or host.uncancel() > 0:
                raise
        finally:
            body_running = False
            await root.aclose(timeout=stop_timeout)
    if escalated:
        cell, exc = escalated[0]
        raise SupervisorEscalated(name, cell.name) from exc
