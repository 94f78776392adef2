"""Run a call on the fake clock: what the connector tests share (a module, not a fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from mediator.testing.clock import FakeClock

T = TypeVar("T")


async def drive(clock: FakeClock, call: Awaitable[T]) -> T:
    """Await `call`, advancing `clock` whenever it waits on it (backoff, Retry-After, limiter)."""
    task = asyncio.ensure_future(call)
    while not task.done():
        await asyncio.wait({task}, timeout=0.002)
        if not task.done() and clock.next_deadline() is not None:
            await clock.advance_to_next()
    return task.result()
