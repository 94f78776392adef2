"""`ActorRef`: the only way to reach an actor (`tell`, `tell_nowait`, `ask`) and its statistics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

import msgspec

from mediator.actors._cell import ActorCell
from mediator.actors.tracing import current_span_context
from mediator.errors import ActorStopped

__all__ = ["ActorRef", "ActorStatistics"]

M = TypeVar("M")

DEFAULT_ASK_TIMEOUT = 30.0


class ActorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one actor: mailbox depth and peak, senders waiting, work done."""

    name: str
    depth: int
    peak_depth: int
    capacity: int
    blocked_senders: int
    processed: int
    failures: int
    restarts: int
    stopped: bool
    #: asks whose deadline is still watched (answered ones are forgotten as they settle)
    watched_asks: int = 0


class ActorRef(Generic[M]):
    """A handle to a running actor; cheap to copy and safe to share between tasks."""

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        """The actor's name."""
        return self._cell.name

    async def tell(self, message: M) -> None:
        """Deliver `message`, waiting while the mailbox is full (back-pressure).

        Raises `ActorStopped` if the actor is stopped or stops while the sender waits.
        """
        cell = self._cell
        item = (message, None, current_span_context() if cell.tracing.enabled else None)
        if not cell.mailbox.offer(item):
            await cell.mailbox.put(item)

    def tell_nowait(self, message: M) -> None:
        """Deliver `message` now or raise `MailboxFull` (or `ActorStopped`); never waits."""
        cell = self._cell
        cell.mailbox.put_nowait(
            (message, None, current_span_context() if cell.tracing.enabled else None)
        )

    async def ask(self, message: M, *, timeout: float = DEFAULT_ASK_TIMEOUT) -> object:
        """Deliver `message` and return the actor's reply.

        Waits for room in the mailbox and then for the reply, both within `timeout` seconds of
        the runtime's clock; raises `AskTimeout` when it passes (the message may still be
        handled later), `ActorStopped` if the actor stops first, or the exception `receive`
        raised for this message.
        """
        return await _ask_cell(self._cell, message, timeout)

    def statistics(self) -> ActorStatistics:
        """Return a snapshot of the mailbox and of the work done so far."""
        cell = self._cell
        box = cell.mailbox
        return ActorStatistics(
            name=cell.name,
            depth=box.depth,
            peak_depth=box.peak,
            capacity=box.capacity,
            blocked_senders=box.blocked_senders,
            processed=cell.processed,
            failures=cell.failures,
            restarts=cell.restarts,
            stopped=cell.is_stopped,
            watched_asks=0 if cell.deadlines is None else cell.deadlines.watched(),
        )

    async def wait_stopped(self) -> None:
        """Wait until the actor has stopped for good."""
        await self._cell.stopped_event().wait()

    def __repr__(self) -> str:
        return f"<ActorRef {self._cell.name}>"


async def _ask_cell(
    cell: ActorCell,
    message: object,
    timeout: float,
    *,
    successor: Callable[[], ActorCell] | None = None,
) -> object:
    """`ask` one cell; with `successor`, a retired cell's refusal goes to the cell it returns.

    Only a refusal (the mailbox closed before admitting the message) moves on: once admitted,
    the message is never sent twice.
    """
    reply: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    deadlines = cell.ask_deadlines()
    deadlines.watch(reply, timeout)
    try:
        item = (message, reply, current_span_context() if cell.tracing.enabled else None)
        while not cell.mailbox.offer(item):
            try:
                await _put_or_expire(cell.mailbox.put(item), reply)
                break
            except ActorStopped:
                if successor is None or not cell.retired:
                    raise
                cell = successor()
        return await reply
    finally:
        deadlines.settle(timeout)


async def _put_or_expire(put: Coroutine[Any, Any, None], reply: asyncio.Future[object]) -> None:
    """Wait for room in the mailbox, but give up when the ask's deadline fails `reply` first."""
    put_task = asyncio.ensure_future(put)
    waiting: set[asyncio.Future[Any]] = {put_task, reply}
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # asyncio.wait leaves its tasks running: a cancelled asker must not send later.
        put_task.cancel()
        raise
    if put_task in done:
        put_task.result()
        return
    put_task.cancel()
    # Not `suppress(CancelledError)` around `await put_task`: that also swallowed a cancel of
    # the asker itself landing in this wait. asyncio.wait lets that one through.
    await asyncio.wait((put_task,))
    if not put_task.cancelled():
        put_task.exception()  # admitted or refused meanwhile: the ask's outcome is its timeout
    reply.result()  # raises the AskTimeout
