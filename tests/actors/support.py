"""Actors the actor tests share, and `wait_until`, which waits for a state the test names.

Tests wait on the state they expect (a mailbox depth, a blocked sender, a message handled,
a timer pending on the `FakeClock`), never on a count of loop turns or a sleep: a test then
says what it waits for, and it does not break when an implementation takes one more turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mediator.actors import Actor

WAIT_TIMEOUT = 5.0  # real seconds; far above any wait here, far below pytest's 120 s timeout


class Recorder(Actor[object]):
    """Records what it handled; blocks on `gate` when one is given; replies with the message.

    `received`, when given, lists each message as `receive` takes it, before the gate: what
    a test waits on to know which message the actor holds.
    """

    def __init__(
        self,
        log: list[object],
        gate: asyncio.Event | None = None,
        *,
        received: list[object] | None = None,
    ) -> None:
        self.log = log
        self.gate = gate
        self.received = received

    async def receive(self, message: object) -> object:
        if self.received is not None:
            self.received.append(message)
        if self.gate is not None:
            await self.gate.wait()
        self.log.append(message)
        return message


class Boom(Actor[str]):
    """Fails every message with `RuntimeError(message)`."""

    async def receive(self, message: str) -> object:
        raise RuntimeError(message)


async def wait_until(
    predicate: Callable[[], bool], *, what: str, timeout: float = WAIT_TIMEOUT
) -> None:
    """Yield to the event loop until `predicate()` holds; fail naming `what` if it never does.

    The predicate is checked before each loop turn, so the test goes on at the first turn
    the state holds. `timeout` (real seconds) only guards against a hang, turning one into
    an AssertionError that names what was awaited.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    turns = 0
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(f"gave up waiting for: {what} (after {turns} loop turns)")
        await asyncio.sleep(0)
        turns += 1
