"""The `Actor` base class: one message at a time, state private to the actor."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Actor"]

M = TypeVar("M")


class Actor(Generic[M]):
    """Subclass and implement `receive`; the runtime calls it for one message at a time.

    The instance is owned by one task, so its attributes need no locks. After a restart the
    supervisor builds a fresh instance from the factory it was spawned with: state that must
    survive a crash belongs in the journal, not in attributes.
    """

    #: Set by the runtime at spawn: the actor's name, as shown in statistics and spans.
    name: str = ""

    async def on_start(self) -> None:
        """Prepare before the first message; a failure here is handled like a failed message."""

    async def receive(self, message: M) -> object:
        """Handle one message; the return value is the reply to an `ask` (ignored for `tell`).

        An exception is a failure: `on_failure` runs, an `ask` caller receives the exception,
        and the supervisor's strategy decides whether the actor stops, restarts or escalates.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement receive()")

    async def on_failure(self, message: M | None, exc: Exception) -> None:
        """React to `exc` raised while handling `message` (None when `on_start` failed).

        Runs before the supervisor acts. The journal's dispatcher learns of the failure from
        the exception its `ask` receives and schedules the retry or dead letter itself; this
        hook is for the actor's own bookkeeping. An exception raised here is logged and
        otherwise ignored.
        """

    async def on_stop(self) -> None:
        """Release resources; runs once per instance, after the last message or on restart."""
