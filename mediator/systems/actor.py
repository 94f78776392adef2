"""`SystemActor`: one per external system; it owns the connector and batches its commands."""

from __future__ import annotations

from collections.abc import Sequence

from mediator.actors import BatchActor
from mediator.systems.connector import Command, Connector

__all__ = ["SystemActor"]


class SystemActor(BatchActor[Command]):
    """Hands every batch of queued commands to its connector's `execute_batch`.

    The connector groups them into the system's bulk endpoints (Salesforce collections of 200,
    Tryton list creates) and returns one result or error per command, which is the reply to
    that command's `ask`. `max_batch` and `linger` bound a batch by size and by time.
    """

    def __init__(self, connector: Connector, *, max_batch: int = 200, linger: float = 0.005):
        self.connector = connector
        self.max_batch = max_batch
        self.linger = linger

    async def receive_batch(self, messages: Sequence[Command]) -> Sequence[object]:
        """Execute the batch through the connector."""
        return await self.connector.execute_batch(messages)

    async def on_stop(self) -> None:
        """Close the connector's HTTP session."""
        await self.connector.aclose()
