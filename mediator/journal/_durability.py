"""Handing results back only once they are durable, with the WAL's fsync off the writer's thread.

Under `synchronous=FULL` the writer's connection runs with NORMAL (a COMMIT writes its WAL
frames and returns) and the thread here fsyncs the WAL after each commit, or once after
several, while the writer runs the next transaction. No result, read or write, is handed back
before the fsync that follows its commit has returned, so what a caller is told is durable is
on disk exactly as with FULL. A failed fsync fails what it covered and stops the journal.
Under NORMAL there is nothing to wait for: results are handed back at once.

Why this is as safe as FULL: docs/journal.md, "Durability off the writer thread".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from mediator.errors import JournalError

_fsync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)
_log = logging.getLogger("mediator.journal")

# (what to call on the loop once durable, its arguments, the future to fail instead)
_Item = tuple[Callable[..., None], tuple[Any, ...], "asyncio.Future[Any]"]


class DurableHandoff:
    """Hands the writer's results to the event loop once what they reflect is on disk."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        path: str,
        defer_fsync: bool,
        on_failure: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._path = path
        self._on_failure = on_failure
        self._defer = defer_fsync
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._items: list[_Item] = []
        self._unsynced = False
        self._closing = False
        self._error: JournalError | None = None
        self._thread: threading.Thread | None = None

    @property
    def error(self) -> JournalError | None:
        """The failed fsync that stopped the journal, if one did."""
        return self._error

    def start(self, conn: sqlite3.Connection) -> bool:
        """Start the fsync thread for `conn`'s WAL (from the writer's thread, once the
        connection is open, so that the WAL file exists); return whether commits are made
        durable here, so that the connection may run NORMAL. If the WAL cannot be opened the
        fsync stays SQLite's own, inside each COMMIT (FULL)."""
        if not self._defer:
            return False
        # The file SQLite itself opened (a symlink resolved): an fsync of another would be none.
        main = next(row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main")
        try:
            self._fd = _open_wal(f"{main}-wal")
        except OSError as exc:
            _log.warning("journal %s: WAL not found for its own fsync (%s)", self._path, exc)
            return False
        thread = threading.Thread(target=self._run, name=f"journal-fsync {self._path}", daemon=True)
        try:
            thread.start()
        except BaseException:
            self._close_fd()
            raise
        self._thread = thread
        return True

    def committed(
        self, deliver: Callable[..., None], args: tuple[Any, ...], future: asyncio.Future[Any]
    ) -> None:
        """Call `deliver(*args)` on the loop once the commit just made is durable (or fail
        `future`)."""
        self._hand(deliver, args, future, commit=True)

    def after_durable(
        self, deliver: Callable[..., None], args: tuple[Any, ...], future: asyncio.Future[Any]
    ) -> None:
        """Call `deliver(*args)` on the loop once every commit before it is durable."""
        self._hand(deliver, args, future, commit=False)

    def close(self) -> None:
        """Hand back what is queued (after its fsync), then stop; from the writer's thread."""
        with self._lock:
            self._closing = True
            self._ready.notify()
        try:
            if self._thread is not None:
                self._thread.join()
        finally:
            self._close_fd()

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):  # nothing is waiting on it any more
                os.close(fd)

    def _hand(
        self,
        deliver: Callable[..., None],
        args: tuple[Any, ...],
        future: asyncio.Future[Any],
        *,
        commit: bool,
    ) -> None:
        if self._fd is None:
            self._loop.call_soon_threadsafe(deliver, *args)
            return
        with self._lock:
            if self._error is not None:
                self._loop.call_soon_threadsafe(_fail, [future], self._error)
                return
            self._items.append((deliver, args, future))
            self._unsynced = self._unsynced or commit
            self._ready.notify()

    def _run(self) -> None:
        assert self._fd is not None
        while True:
            with self._lock:
                while not self._items and not self._closing:
                    self._ready.wait()
                if not self._items:
                    return
                items, self._items = self._items, []
                unsynced, self._unsynced = self._unsynced, False
            if unsynced:
                try:
                    _fsync(self._fd)
                except OSError as exc:
                    self._failed(items, exc)
                    continue
            self._loop.call_soon_threadsafe(_deliver, items)

    def _failed(self, items: list[_Item], exc: OSError) -> None:
        error = JournalError(
            self._path,
            f"fsync of the WAL failed, the journal stops ({exc}); check the disk (a full disk, "
            "a failing device: see the kernel's log), then start again: every write "
            "acknowledged before is in the file",
        )
        with self._lock:
            self._error = error
            items += self._items  # later ones cannot be made durable either
            self._items = []
        self._loop.call_soon_threadsafe(_fail, [future for _, _, future in items], error)
        self._on_failure()


def _open_wal(path: str) -> int:
    return os.open(path, os.O_RDWR)  # read-write: on some systems a flush needs write access


def _deliver(items: list[_Item]) -> None:
    for deliver, args, future in items:
        try:
            deliver(*args)
        except Exception as exc:  # noqa: BLE001 - one failure must not strand the rest
            _log.exception("journal: handing back a result failed")
            if not future.done():
                future.set_exception(exc)


def _fail(futures: list[asyncio.Future[Any]], error: JournalError) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(error)
