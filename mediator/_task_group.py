"""The task group behind every `open_*` manager: one failure leaves it as itself.

asyncio's `TaskGroup` wraps whatever fails inside it in an `ExceptionGroup`, even a single
error raised in the `async with` body; callers of `open_journal`, `open_supervisor`,
`open_entity_registry` and `open_dispatcher` then had to catch `ExceptionGroup([JournalError])`
where they wrote `except JournalError` (and `mediator demo` on a full disk printed a group's
traceback). The rule, the same for each of them: when one thing failed (the body, or one
child task, or several that raised the very same exception object, as every caller of one
failed journal transaction does) that exception leaves as itself, the same object with its
own cause and context; only when several really failed at once (a child and the body, two
children, each with an error of its own) does the group leave, holding each. Cancellation
and `KeyboardInterrupt`/`SystemExit` pass through as asyncio raises them. Only the group's
own wrapper is removed: an `ExceptionGroup` raised by the body or a child is one failure, and
leaves as it was raised.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class TaskGroup:
    """An `asyncio.TaskGroup` (what `async with` gives) whose single failure is not wrapped."""

    __slots__ = ("_group",)

    def __init__(self) -> None:
        self._group = asyncio.TaskGroup()

    async def __aenter__(self) -> asyncio.TaskGroup:
        return await self._group.__aenter__()

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            await self._group.__aexit__(et, exc, tb)
        except BaseExceptionGroup as failed:
            sole = failed.exceptions[0]
            if any(other is not sole for other in failed.exceptions):
                raise
            if sole is exc:
                return False  # the body's own exception goes on, untouched
            # A child's: raised here, it would take the group (and what the body was handling)
            # as its context, which its traceback would then print. It keeps its own.
            context, suppress = sole.__context__, sole.__suppress_context__
            try:
                raise sole
            finally:
                sole.__context__, sole.__suppress_context__ = context, suppress
        return False
