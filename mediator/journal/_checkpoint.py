"""WAL checkpoints on a connection and thread of their own, so the writer never waits for them.

SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold: the writer
copies pages into the database file (and fsyncs it) while every appender waits. Here the
writer's automatic checkpoint is off and a second connection copies pages concurrently
(PASSIVE: it never blocks the writer), asked for after every 2,000 writes or 64 commits,
whichever comes first (a checkpoint per few small commits would cost a producer alone an extra
fsync of the database file every few appends). A passive checkpoint cannot
finish while the writer keeps appending, so once the WAL passes `wal_limit` bytes a RESTART
checkpoint makes the writer pause briefly and start the WAL over. Measured with the inserts of
bench/journal on a 300,000-entry file (FULL, 1,000-row transactions, two runs): 68k and 95k
rows/s with this checkpointer against 54k and 53k with SQLite's automatic checkpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mediator.journal._schema import WAL_LIMIT

_log = logging.getLogger("mediator.journal")


class Checkpointer:
    """Copies the WAL into the database file in the background when asked."""

    def __init__(
        self, path: Path, *, writes: int = 2000, commits: int = 64, wal_limit: int = WAL_LIMIT
    ) -> None:
        self._path = path
        self._wal = Path(f"{path}-wal")
        self._every_writes = writes
        self._every_commits = commits
        self._writes = 0
        self._wal_limit = wal_limit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal-ckpt")
        self._conn: sqlite3.Connection | None = None
        self._running: asyncio.Future[None] | None = None
        self._commits = 0
        self.checkpoints = 0

    def committed(self, writes: int) -> None:
        """Count a commit of `writes` writes; start a checkpoint when enough have gathered,
        unless one is running."""
        self._commits += 1
        self._writes += writes
        if self._writes < self._every_writes and self._commits < self._every_commits:
            return
        if self._running is not None and not self._running.done():
            return
        self._commits = self._writes = 0
        loop = asyncio.get_running_loop()
        self._running = loop.run_in_executor(self._executor, self._checkpoint)

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
                # busy_timeout: a RESTART waits for the writer's transaction to end
                self._conn = sqlite3.connect(self._path, isolation_level=None, timeout=30.0)
            mode = "PASSIVE"
            if os.path.exists(self._wal) and os.path.getsize(self._wal) > self._wal_limit:
                mode = "RESTART"
            self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # not data loss: the WAL only grows until the next one
            _log.warning("journal %s: checkpoint failed: %s", self._path, exc)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
