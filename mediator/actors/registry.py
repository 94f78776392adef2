"""Entity actors: one per business key, spawned on demand, passivated when idle.

Memory follows activity, not history: an entity idle for `idle_timeout` seconds is passivated,
and when `max_live` entities are alive the least recently used one is retired to make room.
A retiring actor drains what is already in its mailbox; its successor for the same key is
spawned at once to take new messages but starts only after the predecessor has stopped, so
per-key order holds and nothing sent during passivation is lost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Generic, TypeVar

import msgspec

from mediator._task_group import TaskGroup
from mediator.actors._cell import ActorCell
from mediator.actors.actor import Actor
from mediator.actors.ref import _ask_cell
from mediator.actors.strategy import Restart, Strategy
from mediator.actors.supervisor import Supervisor, _stop_cells
from mediator.actors.tracing import current_span_context
from mediator.errors import ActorStopped

__all__ = ["EntityRef", "EntityRegistry", "RegistryStatistics", "open_entity_registry"]

M = TypeVar("M")


class RegistryStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of an entity registry: live entities and how they came and went."""

    name: str
    live: int
    peak_live: int
    retiring: int
    spawned: int
    passivated: int
    evicted: int
    depth: int
    blocked_senders: int


class EntityRegistry(Generic[M]):
    """Entity actors by key; build one with `open_entity_registry`."""

    def __init__(
        self,
        supervisor: Supervisor,
        factory: Callable[[str], Actor[M]],
        *,
        name: str,
        idle_timeout: float | None,
        max_live: int | None,
        mailbox_size: int,
        strategy: Strategy,
    ) -> None:
        self._supervisor = supervisor
        self._factory = factory
        self._name = name
        self.idle_timeout = idle_timeout
        self._max_live = max_live
        self._mailbox_size = mailbox_size
        self._strategy = strategy
        self._live: OrderedDict[str, ActorCell] = OrderedDict()  # least recently used first
        self._retiring: dict[str, ActorCell] = {}
        self._peak_live = 0
        self._spawned = 0
        self._passivated = 0
        self._evicted = 0
        self._sweeps = 0  # passivation sweeps done: the registry's coarse clock
        self._closed = False  # set when its block is left: no entity may start after that

    def ref_for(self, key: str) -> EntityRef[M]:
        """Return a ref to the entity actor for `key`; it is spawned on the first message."""
        return EntityRef(self, key)

    async def tell(self, key: str, message: M) -> None:
        """Deliver `message` to the entity `key`, waiting while its mailbox is full."""
        cell = self._cell_for(key)
        item = (message, None, current_span_context() if cell.tracing.enabled else None)
        if cell.mailbox.offer(item):  # the hot path: room, nobody waiting, no coroutine made
            return
        while True:
            try:
                await cell.mailbox.put(item)
                return
            except ActorStopped:
                if not cell.retired:
                    raise
                # The entity retired while we waited for room: its successor takes the message.
            cell = self._cell_for(key)

    async def ask(self, key: str, message: M, *, timeout: float = 30.0) -> object:
        """Deliver `message` to the entity `key` and return its reply (see `ActorRef.ask`)."""
        return await self.ref_for(key).ask(message, timeout=timeout)

    def statistics(self) -> RegistryStatistics:
        """Return a snapshot: live and retiring entities, spawns, passivations, queued work."""
        cells = [*self._live.values(), *self._retiring.values()]
        return RegistryStatistics(
            name=self._name,
            live=len(self._live),
            peak_live=self._peak_live,
            retiring=len(self._retiring),
            spawned=self._spawned,
            passivated=self._passivated,
            evicted=self._evicted,
            depth=sum(c.mailbox.depth for c in cells),
            blocked_senders=sum(c.mailbox.blocked_senders for c in cells),
        )

    def passivate_idle(self) -> int:
        """Retire every entity with nothing queued and no message for `idle_timeout`.

        Called by the registry's sweep, every quarter of `idle_timeout`; an entity is idle when
        no message was sent to it during the last four sweeps, so it is passivated between one
        and one and a quarter `idle_timeout` after its last message.
        """
        self._sweeps += 1
        horizon = self._sweeps - 5
        idle = [
            k for k, c in self._live.items() if c.last_active <= horizon and not c.mailbox.depth
        ]
        for key in idle:
            self._retire(key)
        self._passivated += len(idle)
        return len(idle)

    def _cell_for(self, key: str) -> ActorCell:
        cell = self._live.get(key)
        if cell is not None:
            # Sweep counts, not clock reads, on this per-message path (bench/actors.py).
            cell.last_active = self._sweeps
            if self._max_live is not None:
                self._live.move_to_end(key)  # LRU order is only needed for eviction
            return cell
        return self._spawn(key)

    def _spawn(self, key: str) -> ActorCell:
        if self._closed:
            raise ActorStopped(f"{self._name}:{key}")
        live = self._live
        if self._max_live is not None and len(live) >= self._max_live:
            self._retire(next(iter(live)))
            self._evicted += 1
        predecessor = self._retiring.get(key)
        cell = self._supervisor.spawn_cell(
            partial(self._factory, key),
            name=f"{self._name}:{key}",
            mailbox_size=self._mailbox_size,
            strategy=self._strategy,
            after=predecessor.stopped_event() if predecessor is not None else None,
            observer=self._stopped,
            last_active=self._sweeps,
        )
        live[key] = cell
        self._spawned += 1
        if len(live) > self._peak_live:
            self._peak_live = len(live)
        return cell

    def _retire(self, key: str) -> None:
        cell = self._live.pop(key)
        cell.retired = True
        self._retiring[key] = cell
        cell.request_stop()

    def _stopped(self, cell: ActorCell) -> None:
        key = cell.name[len(self._name) + 1 :]
        if self._retiring.get(key) is cell:
            del self._retiring[key]
        elif self._live.get(key) is cell:  # stopped on its own (failure): next message respawns
            del self._live[key]
        cell.retired = True


class EntityRef(Generic[M]):
    """A stable handle to the entity `key`: it follows the entity across passivations."""

    __slots__ = ("_key", "_registry")

    def __init__(self, registry: EntityRegistry[M], key: str) -> None:
        self._registry = registry
        self._key = key

    @property
    def key(self) -> str:
        """The entity's business key."""
        return self._key

    async def tell(self, message: M) -> None:
        """Deliver `message`, waiting while the entity's mailbox is full."""
        await self._registry.tell(self._key, message)

    def tell_nowait(self, message: M) -> None:
        """Deliver `message` now or raise `MailboxFull`; never waits."""
        cell = self._registry._cell_for(self._key)
        parent = current_span_context() if cell.tracing.enabled else None
        cell.mailbox.put_nowait((message, None, parent))

    async def ask(self, message: M, *, timeout: float = 30.0) -> object:
        """Deliver `message` and return the reply; see `ActorRef.ask` for the errors.

        If the entity retires while the ask waits for room, its successor takes the message;
        once admitted, the message is never sent twice.
        """
        registry, key = self._registry, self._key
        return await _ask_cell(
            registry._cell_for(key), message, timeout, successor=lambda: registry._cell_for(key)
        )


@asynccontextmanager
async def open_entity_registry(
    supervisor: Supervisor,
    factory: Callable[[str], Actor[M]],
    *,
    name: str = "entity",
    idle_timeout: float | None = 300.0,
    max_live: int | None = None,
    mailbox_size: int = 100,
    strategy: Strategy | None = None,
    stop_timeout: float = 10.0,
) -> AsyncIterator[EntityRegistry[M]]:
    """Run an entity registry whose actors `factory(key)` builds, under `supervisor`.

    Idle entities are passivated by a sweep every quarter of `idle_timeout` (on the
    supervisor's clock). Leaving the block stops every entity: mailboxes drain within
    `stop_timeout` seconds, then what is left is cancelled, and later messages raise
    `ActorStopped` instead of spawning an entity that would outlive the block. Entities
    restart after a failure by default (`Restart()`), keeping their mailbox, so one bad message
    does not drop the ones queued behind it.
    An exception raised in the block, or one failure inside, leaves the block as itself;
    an `ExceptionGroup` only when several things failed at once (see `mediator._task_group`).
    """
    registry: EntityRegistry[M] = EntityRegistry(
        supervisor,
        factory,
        name=name,
        idle_timeout=idle_timeout,
        max_live=max_live,
        mailbox_size=mailbox_size,
        strategy=strategy or Restart(),
    )
    async with TaskGroup() as group:
        sweeper = None
        if idle_timeout is not None:
            sweeper = group.create_task(_sweep(registry, idle_timeout), name=f"{name} passivation")
        try:
            yield registry
        finally:
            registry._closed = True
            if sweeper is not None:
                sweeper.cancel()
            # Lifetimes nest: the registry's entities are done when its block is left.
            cells = [*registry._live.values(), *registry._retiring.values()]
            await _stop_cells(cells, timeout=stop_timeout, owner=name)


async def _sweep(registry: EntityRegistry[M], idle_timeout: float) -> None:
    clock = registry._supervisor.clock
    while True:
        await clock.sleep(idle_timeout / 4)
        registry.passivate_idle()
