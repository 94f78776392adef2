"""A bounded single-consumer mailbox that pushes back on its senders.

Plain asyncio futures rather than an anyio memory object stream: the mailbox is on the hot path
of every message, and an anyio stream yields to the event loop on every send, so one producer
and one consumer move about 100k items/s through it here against about 1.8M/s through this
deque and its one getter future (bench/actors.py, figure (e), measures both in the same run).
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
        # None while empty and waited on: an idle entity's mailbox then costs no deque block
        # (760 bytes each; bench/actors.py counts 100,000 live entities).
        self._items: deque[T] | None = None
        # Created on first use: most mailboxes never see a blocked sender (memory per entity).
        self._putters: deque[tuple[asyncio.Future[None], T]] | None = None
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
        items = self._items
        return len(items) if items is not None else 0

    @property
    def peak(self) -> int:
        """The greatest depth seen."""
        return self._peak

    @property
    def blocked_senders(self) -> int:
        """Producers waiting for room."""
        return len(self._putters) if self._putters else 0

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def offer(self, item: T) -> bool:
        """Add `item` if there is room and nobody waits; False otherwise (never raises Full).

        The hot path of `tell`: no coroutine is made when the item fits.
        """
        items = self._items
        if (
            (items is None or len(items) < self._capacity)
            and not self._putters
            and not self._closed
        ):
            self._append(item)
            return True
        return False

    def put_nowait(self, item: T) -> None:
        """Add `item` now; raise `MailboxFull` if full or others wait, `ActorStopped` if closed."""
        if self._closed:
            raise ActorStopped(self._name)
        if self.depth >= self._capacity or self._putters:
            raise MailboxFull(self._name, self._capacity)
        self._append(item)

    async def put(self, item: T) -> None:
        """Add `item`, waiting while the mailbox is full; raise `ActorStopped` if it closes."""
        if self._closed:
            raise ActorStopped(self._name)
        if self.depth < self._capacity and not self._putters:
            self._append(item)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (waiter, item)
        if self._putters is None:
            self._putters = deque()
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
        if self._items is None:
            raise IndexError("mailbox is empty")
        item = self._items.popleft()
        putters = self._putters
        while putters:
            waiter, waiting_item = putters.popleft()
            # A sender cancelled while it waited has a cancelled future here until its task
            # runs and withdraws the entry: skip it, its message was never sent.
            if waiter.done():
                continue
            self._append(waiting_item)
            waiter.set_result(None)
            break
        return item

    def readable(self) -> asyncio.Future[None] | None:
        """None if an item is there or the mailbox is closed; else a future to await for one.

        The future is also resolved by `close()` and `interrupt()`. A plain future rather than a
        coroutine: an idle actor then keeps no extra frame alive (memory per entity).
        """
        if self._items or self._closed:
            return None
        self._items = None  # release the empty deque while idle
        getter = self._getter
        if getter is None or getter.done():
            getter = self._getter = asyncio.get_running_loop().create_future()
        return getter

    def interrupt(self) -> None:
        """Wake the consumer from `wait_readable` without an item (to notice a stop request)."""
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
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
        items = list(self._items) if self._items is not None else []
        self._items = None
        return items

    def _append(self, item: T) -> None:
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(item)
        if len(items) > self._peak:
            self._peak = len(items)
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    def _remove_putter(self, entry: tuple[asyncio.Future[None], T]) -> None:
        with contextlib.suppress(ValueError):
            if self._putters is not None:
                self._putters.remove(entry)
