"""A bounded single-consumer mailbox that pushes back on its senders.

Plain asyncio futures rather than an anyio memory stream: the mailbox is on the hot path of every
message, and a deque plus one getter future costs about half of an `anyio` stream send/receive
pair (bench/actors.py measures the whole path against a raw `asyncio.Queue` fan-out).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Generic, TypeVar

from mediator.errors import ActorStopped, MailboxFull

__all__ = ["Mailbox"]

T = TypeVar("T")


class Mailbox(Generic[T]):
    """FIFO of at most `capacity` items, one consumer, any number of producers.

    `put` waits while the mailbox is full; waiting producers are admitted strictly in the order
    they arrived (the consumer hands a freed slot to the oldest waiter, so a newcomer cannot
    barge in). After `close()`, new puts raise `ActorStopped`; items already inside stay for
    the consumer to drain.
    """

    __slots__ = ("_capacity", "_closed", "_getter", "_items", "_name", "_peak", "_putters")

    def __init__(self, capacity: int, *, name: str = "mailbox") -> None:
        if capacity < 1:
            raise ValueError("a mailbox holds at least one message")
        self._capacity = capacity
        self._name = name
        self._items: deque[T] = deque()
        self._putters: deque[tuple[asyncio.Future[None], T]] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._closed = False
        self._peak = 0

    @property
    def capacity(self) -> int:
        """The most items the mailbox holds."""
        return self._capacity

    @property
    def depth(self) -> int:
        """Items waiting to be taken."""
        return len(self._items)

    @property
    def peak(self) -> int:
        """The greatest depth seen."""
        return self._peak

    @property
    def blocked_senders(self) -> int:
        """Producers waiting for room."""
        return len(self._putters)

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def put_nowait(self, item: T) -> None:
        """Add `item` now; raise `MailboxFull` if full or others wait, `ActorStopped` if closed."""
        if self._closed:
            raise ActorStopped(self._name)
        if len(self._items) >= self._capacity or self._putters:
            raise MailboxFull(self._name, self._capacity)
        self._append(item)

    async def put(self, item: T) -> None:
        """Add `item`, waiting while the mailbox is full; raise `ActorStopped` if it closes."""
        if self._closed:
            raise ActorStopped(self._name)
        if len(self._items) < self._capacity and not self._putters:
            self._append(item)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, item)
        self._putters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if not waiter.done() or waiter.cancelled():
                # Not admitted: withdraw, so a cancelled sender leaves nothing behind.
                self._remove_putter(entry)
            raise

    def get_nowait(self) -> T:
        """Take the oldest item; raise `IndexError` when empty."""
        item = self._items.popleft()
        if self._putters:
            waiter, waiting_item = self._putters.popleft()
            self._append(waiting_item)
            waiter.set_result(None)
        return item

    async def wait_readable(self) -> None:
        """Wait until an item is there or the mailbox is closed or `interrupt()` is called."""
        if self._items or self._closed:
            return
        getter = asyncio.get_running_loop().create_future()
        self._getter = getter
        try:
            await getter
        finally:
            self._getter = None

    def interrupt(self) -> None:
        """Wake the consumer from `wait_readable` without an item (to notice a stop request)."""
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def close(self) -> None:
        """Refuse new items; waiting producers get `ActorStopped`; items inside stay."""
        if self._closed:
            return
        self._closed = True
        while self._putters:
            waiter, _ = self._putters.popleft()
            if not waiter.done():
                waiter.set_exception(ActorStopped(self._name))
        self.interrupt()

    def drain(self) -> list[T]:
        """Remove and return every item (used when an actor stops for good)."""
        items = list(self._items)
        self._items.clear()
        return items

    def _append(self, item: T) -> None:
        items = self._items
        items.append(item)
        if len(items) > self._peak:
            self._peak = len(items)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def _remove_putter(self, entry: tuple[asyncio.Future[None], T]) -> None:
        with contextlib.suppress(ValueError):
            self._putters.remove(entry)
