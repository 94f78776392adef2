"""WAL checkpoints on a connection and thread of their own, so the writer never waits for them.

SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold: the writer
copies pages into the database file (and fsyncs it) while every appender waits. Here the
writer's automatic checkpoint is off and a second connection copies pages concurrently
(PASSIVE: it never blocks the writer), asked for after every `writes` writes or `commits`
commits, whichever comes first. Measured with the inserts of bench/journal on a 300,000-entry
file (FULL, 1,000-row transactions, two runs): 68k and 95k rows/s with this checkpointer
against 54k and 53k with SQLite's automatic checkpoint.

Every 16,000 writes rather than 2,000: a page dirtied by several commits between two
checkpoints is copied once, not once per commit (measured with schema 2, whose unique index of
idempotency keys dirtied pages all over: 1,000 producers on a 1,000,000-entry file, 200,000
appends, two runs each: 39-41k appends/s and 4.2-4.7 s of CPU against 35-37k and 5.0-5.4 s;
in schema 3 the key table's pages are dirtied so only while keys are merged).

A passive checkpoint cannot start the WAL over while the writer keeps appending: SQLite starts
it over only when a write transaction begins with every frame already copied, and a saturated
writer leaves no such gap. Once the WAL passes `wal_limit` the checkpointer makes a few passes
back to back (each copies only what was committed during the last) and then asks the writer to
copy the small rest itself, between two batches (`catch_up`): on its own connection it waits
for no lock, and its next commit starts the WAL over. The former way, a RESTART checkpoint from
this thread past 64 MiB, stalled the writer for 100-220 ms each time (RESTART holds the write
lock for its whole copy, and the writer polls for it with SQLite's sleeping busy handler); the
catch-up stalls it for 20-60 ms, and with a 256 MiB limit that happens about once per 80,000
appends at 1,000 producers. Both changes together, bench/journal's FULL sequence (1, 100, then
1,000 producers) on copies of one 1,000,000-entry file, three interleaved pairs: 40.0k, 44.1k,
40.8k appends/s at 1,000 producers with p99 103, 164, 82 ms before; 50.3k, 51.1k, 49.5k with
p99 71, 57, 74 ms after (16 interleaved pairs in all, in two harnesses, every one in
favour). Whole runs of bench/journal itself, five before/after pairs on fresh files, did not
show it (48k against 43k mean at 1,000 producers, the before ahead in four; single runs there
vary by ±15%).
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
