from __future__ import annotations

import asyncio

from mediator.actors import Actor


class Recorder(Actor[object]):
    """Records what it handled; blocks on `gate` when one is given; replies with the message."""

    def __init__(self, log: list[object], gate: asyncio.Event | None = None) -> None:
        self.log = log
        self.gate = gate

    async def receive(self, message: object) -> object:
        if self.gate is not None:
            await self.gate.wait()
        self.log.append(message)
        return message


class Boom(Actor[str]):
    """Fails every message with `RuntimeError(message)`."""

    async def receive(self, message: str) -> object:
        raise RuntimeError(message)


async def settle(rounds: int = 50) -> None:
    """Let every runnable task run (loop turns, not time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
