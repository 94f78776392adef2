"""`BatchActor`: an actor that takes what is queued in its mailbox as one batch.

For system actors that spend a rate limit better on bulk endpoints (Salesforce sObject
Collections of 200, Tryton list creates) and for anything that group-commits. The batch is
every message already queued, up to `max_batch`; with `linger` > 0 the actor first waits that
long (on the runtime's clock) for more to arrive, trading a little latency for fuller batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from mediator.actors.actor import Actor

__all__ = ["BatchActor"]

M = TypeVar("M")


class BatchActor(Actor[M]):
    """Implement `receive_batch`; the runtime hands it the queued messages together.

    `receive_batch` returns one result per message, in order: a reply, or an exception
    instance for a message that failed on its own (that message's `ask` raises it and
    `on_failure` runs for it; the actor carries on). An exception *raised* by
    `receive_batch` fails the whole batch: every `ask` in it raises that exception,
    `on_failure` is called once with the list of messages, and the supervisor decides.
    Either way each failed message counts in the statistics' `failures`, as a failed
    `receive` would. With tracing, a batch is one span `<name> receive_batch`, parented on
    its sender's span or, with several senders, linked to each; it records the failed items'
    exceptions, and is an error when the batch raises.
    """

    #: The most messages in one batch.
    max_batch: int = 200
    #: Seconds to wait for a batch to fill once its first message is there (0: take what is queued).
    linger: float = 0.0

    async def receive_batch(self, messages: Sequence[M]) -> Sequence[object]:
        """Handle `messages` together; return a result or an exception instance for each."""
        raise NotImplementedError(f"{type(self).__name__} does not implement receive_batch()")

    async def receive(self, message: M) -> object:
        """Handle one message as a batch of one."""
        (result,) = await self.receive_batch([message])
        if isinstance(result, BaseException):
            raise result
        return result
