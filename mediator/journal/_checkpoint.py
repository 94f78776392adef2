"""WAL checkpoints on a connection and thread of their own, so the writer never waits for them.

SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, while every
appender waits. Here the writer's automatic checkpoint is off and a second connection copies
pages concurrently (PASSIVE: it never blocks the writer), asked for after every `writes`
writes or `commits` commits. A passive checkpoint cannot start the WAL over while the writer
keeps appending, so once the WAL passes `wal_limit` the checkpointer makes a few passes back to
back and then asks the writer to copy the small rest itself between two batches (`catch_up`).

The thresholds and the measurements behind them: docs/journal.md, "Checkpoints".
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mediator.journal._schema import WAL_LIMIT

_log = logging.getLogger("mediator.journal")

_PASSES = 3


class Checkpointer:
    """Copies the WAL into the database file in the background when asked."""

    def __init__(
        self, path: Path, *, writes: int = 16_000, commits: int = 64, wal_limit: int = WAL_LIMIT
    ) -> None:
        self._path = path
        self._every_writes = writes
        self._every_commits = commits
        self._writes = 0
        self._wal_limit = wal_limit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-ckpt")
        self._conn: sqlite3.Connection | None = None
        self._page_size = 4096
        self._running: asyncio.Future[None] | None = None
        self._commits = 0
        self._catch_up = False
        self.checkpoints = 0

    def committed(self, writes: int) -> None:
        """Count a commit of `writes` writes; start a checkpoint when enough have gathered,
        unless one is running or the writer has yet to catch up."""
        self._commits += 1
        self._writes += writes
        if self._writes < self._every_writes and self._commits < self._every_commits:
            return
        if self._catch_up or (self._running is not None and not self._running.done()):
            return
        self._commits = self._writes = 0
        loop = asyncio.get_running_loop()
        self._running = loop.run_in_executor(self._executor, self._checkpoint)

    def catch_up_due(self) -> bool:
        """Say whether the writer should run `catch_up` on its connection before its next batch."""
        return self._catch_up

    def catch_up(self, conn: sqlite3.Connection) -> None:
        """Copy what the passes left, on the writer's own connection and thread (between
        batches), so that its next commit starts the WAL over."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # not data loss: the next pass tries again
            _log.warning("journal %s: checkpoint failed: %s", self._path, exc)
        finally:
            self._catch_up = False

    async def aclose(self) -> None:
        """Wait for a running checkpoint, then close the connection and the thread."""
        if self._running is not None:
            await self._running
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _checkpoint(self) -> None:
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, isolation_level=None)
                self._page_size = self._conn.execute("PRAGMA page_size").fetchone()[0]
            for _ in range(_PASSES):
                _, frames, _ = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
                if frames * self._page_size <= self._wal_limit:
                    return  # short enough (or started over during this pass)
                # Too long: pass again at once; each pass copies only what was committed during
                # the last, which leaves the writer little to copy when it catches up.
            self._catch_up = True
        except sqlite3.Error as exc:  # not data loss: the WAL only grows until the next one
            _log.warning("journal %s: checkpoint failed: %s", self._path, exc)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:  # it wrote nothing of its own: nothing is lost
                _log.warning("journal %s: closing the checkpointer failed: %s", self._path, exc)
