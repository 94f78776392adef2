"""Errors leave the `open_*` managers as themselves; a group only when several failed at once.

Each manager runs a `TaskGroup`, which wrapped even a single error of the block in an
`ExceptionGroup`: `except JournalError` around `open_journal` caught nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest

from mediator.actors import Actor, open_entity_registry, open_supervisor
from mediator.codecs.envelope import Envelope
from mediator.errors import JournalError
from mediator.journal import Entry, Journal, SqliteJournal, open_dispatcher, open_journal
from mediator.testing import FakeClock
from tests.journal.support import envelope


class Idle(Actor[Envelope]):
    async def receive(self, message: Envelope) -> object:
        return None


@asynccontextmanager
async def _journal(path: Path) -> AsyncIterator[SqliteJournal]:
    async with open_journal(path, clock=FakeClock()) as journal:
        yield journal


@asynccontextmanager
async def _supervisor(path: Path) -> AsyncIterator[object]:
    async with open_supervisor(clock=FakeClock()) as supervisor:
        yield supervisor


@asynccontextmanager
async def _registry(path: Path) -> AsyncIterator[object]:
    async with (
        open_supervisor(clock=FakeClock()) as supervisor,
        open_entity_registry(supervisor, lambda key: Idle(), idle_timeout=60.0) as registry,
    ):
        yield registry


@asynccontextmanager
async def _dispatcher(path: Path) -> AsyncIterator[object]:
    clock = FakeClock()
    async with (
        open_journal(path, clock=clock) as journal,
        open_supervisor(clock=clock) as supervisor,
        open_entity_registry(supervisor, lambda key: Idle(), idle_timeout=None) as registry,
        open_dispatcher(journal, registry.ref_for, clock=clock) as dispatcher,
    ):
        yield dispatcher


MANAGERS: dict[str, Callable[[Path], AbstractAsyncContextManager[object]]] = {
    "open_journal": _journal,
    "open_supervisor": _supervisor,
    "open_entity_registry": _registry,
    "open_dispatcher": _dispatcher,  # (inside all four, as `mediator demo` runs them)
}


def _fail_in_the_block(path: Path) -> JournalError:
    try:
        raise sqlite3.OperationalError("disk I/O error")
    except sqlite3.Error as exc:
        raise JournalError(str(path), "write failed") from exc


@pytest.mark.parametrize("manager", MANAGERS)
async def test_an_error_raised_in_the_block_leaves_as_itself(tmp_path: Path, manager: str) -> None:
    path = tmp_path / "journal.db"
    with pytest.raises(JournalError) as caught:
        async with MANAGERS[manager](path):
            _fail_in_the_block(path)
    error = caught.value
    assert error.path == str(path)
    assert isinstance(error.__cause__, sqlite3.OperationalError)  # its cause kept
    # its traceback still reaches the line that raised it
    frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
    assert "_fail_in_the_block" in frames


@pytest.mark.parametrize("manager", MANAGERS)
async def test_a_cancelled_block_is_cancelled(tmp_path: Path, manager: str) -> None:
    entered = asyncio.Event()

    async def run() -> None:
        async with MANAGERS[manager](tmp_path / "journal.db"):
            entered.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(run())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


class Fatal(BaseException):
    """Not an Exception: what a catch-all must not swallow."""


@pytest.mark.parametrize("manager", MANAGERS)
async def test_a_base_exception_of_the_block_leaves_as_itself(tmp_path: Path, manager: str) -> None:
    fatal = Fatal()
    with pytest.raises(Fatal) as caught:
        async with MANAGERS[manager](tmp_path / "journal.db"):
            raise fatal
    assert caught.value is fatal


class FailingMarks:
    """A journal whose `mark_in_flight` fails once `together` deliveries have called it: with
    `shared`, all with one error, as the callers of one failed transaction are."""

    def __init__(self, journal: SqliteJournal, together: int, shared: JournalError | None) -> None:
        self._journal = journal
        self._barrier = asyncio.Barrier(together)
        self._shared = shared

    async def held_keys(self) -> set[str]:
        return await self._journal.held_keys()

    async def recover(self) -> list[Entry]:
        return await self._journal.recover()

    async def mark_in_flight(self, ids: list[str]) -> None:
        await self._barrier.wait()
        raise self._shared or JournalError("journal.db", f"write failed for {ids[0]}")


async def _deliver_failing(
    path: Path, keys: list[str], *, shared: JournalError | None = None
) -> None:
    clock = FakeClock()
    async with open_journal(path, clock=clock) as journal:
        for n, key in enumerate(keys):
            await journal.append(envelope(f"evt_{n}", key=key))
        failing = cast(Journal, FailingMarks(journal, together=len(keys), shared=shared))
        route = cast(Any, lambda key: None)  # never reached: every delivery fails before
        async with open_dispatcher(failing, route, clock=clock):
            await asyncio.Event().wait()  # until the failure cancels the block


async def test_one_failure_inside_leaves_as_itself(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="write failed"):
        await _deliver_failing(tmp_path / "journal.db", ["project:P-1"])


async def test_failures_at_once_leave_together_as_a_group(tmp_path: Path) -> None:
    with pytest.raises(ExceptionGroup) as caught:
        await _deliver_failing(tmp_path / "journal.db", ["project:P-1", "project:P-2"])
    assert [type(e) for e in caught.value.exceptions] == [JournalError, JournalError]
    assert len({str(e) for e in caught.value.exceptions}) == 2  # two failures, each kept


async def test_one_error_raised_by_several_tasks_leaves_as_itself(tmp_path: Path) -> None:
    shared = JournalError("journal.db", "write failed")
    with pytest.raises(JournalError) as caught:
        await _deliver_failing(tmp_path / "journal.db", ["project:P-1", "project:P-2"],
                               shared=shared)  # fmt: skip
    assert caught.value is shared
