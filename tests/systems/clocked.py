"""Run a call on the fake clock: what the connector tests share (a module, not a fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from mediator.testing.clock import FakeClock

T = TypeVar("T")


async def drive(clock: FakeClock, call: Awaitable[T]) -> T:
    """Await `call`, advancing `clock` whenever it waits on it (backoff, Retry-After, limiter).

    Real I/O on loopback gets real time; a call that neither finishes nor waits on the clock
    within a minute fails the test instead of hanging it.
    """
    task = asyncio.ensure_future(call)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60.0
    while not task.done():
        if loop.time() > deadline:
            task.cancel()
            raise AssertionError("the call neither finished nor waited on the clock")
        await asyncio.wait({task}, timeout=0.002)
        if not task.done() and clock.next_deadline() is not None:
            await clock.advance_to_next()
    return task.result()
