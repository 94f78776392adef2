"""Which idempotency keys the journal holds: recent ones in memory, the rest in `idem_keys`.

Not a unique index on the entries (random keys would dirty a page each): two levels, like a
log-structured merge tree. `recent` holds the keys appended since the last merge (durable as
the keys of the entries above `keys_merged_through`, read back by `load` on open); `idem_keys`
every older key, merged into it in key order a chunk per transaction once `recent` reaches
`memory_keys`. A look-up checks the dicts, then the key filter (`_key_filter`), then
`idem_keys` for the few keys the filter cannot rule out. Everything runs on the writer's
thread inside its transactions: added keys go into memory at once and `rollback` takes them
out, so the memory never disagrees with the file.

Measurements and memory: docs/journal.md, "Idempotency keys in two levels".
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Iterator
from itertools import islice

from mediator.journal._faults import DamagedRecord
from mediator.journal._key_filter import KeyFilters
from mediator.journal._rows import CHUNK

# The fewest keys moved into idem_keys per transaction while a merge is under way (more when
# the transaction appends more: see merge_step). Small, so that a merge is spread thin over many
# transactions rather than doubling a few: chunks are consecutive slices of the sorted keys, so
# how many keys share a leaf depends on how many are merged, not on the chunk. bench/journal's
# appends, 150,000 at 1,000 producers with 50,000 keys in memory (three merges), medians of
# four interleaved runs: 41k appends/s with p99 72 ms at 4,000, 48k with p99 41 ms at 500.
MERGE_CHUNK = 500
# The frozen keys are sorted a run of this many per transaction and then merged lazily: one
# sorted() of 250,000 keys held the GIL, and so stalled the event loop, for ~120 ms.
SORT_RUN = 8192
_MERGED_THROUGH = "keys_merged_through"


class KeyIndex:
    """The journal's idempotency keys (see the module docstring); writer thread only."""

    def __init__(self, *, memory_keys: int = 250_000) -> None:
        if memory_keys < 1:
            raise ValueError("memory_keys must be at least 1")
        self._memory_keys = memory_keys
        self._recent: dict[str, int] = {}
        self._merging: dict[str, int] = {}
        self._runs: list[list[str]] = []  # the frozen keys in runs, sorted one per transaction
        self._runs_sorted = 0
        self._order: Iterator[str] | None = None  # the sorted runs merged, in key order
        self._chunk: list[str] = []  # the keys taken from _order and not yet moved for good
        self._untaken = 0  # frozen keys not yet taken from _order: none once the last chunk is
        self._merge_top = 0  # the seq through which the frozen keys cover every entry
        self._added: list[list[tuple[str, int]]] = []  # by this transaction, for a rollback
        self._staged_forgotten: list[str] = []
        self._staged_moved = False
        self._filters = KeyFilters()
        self.merged_through = 0
        self.merges = 0
        self.looked_up = 0  # keys asked of idem_keys

    # -- opening -------------------------------------------------------------------------------

    def load(self, conn: sqlite3.Connection) -> None:
        """Read back the keys appended since the last merge."""
        row = conn.execute("SELECT value FROM meta WHERE name = ?", (_MERGED_THROUGH,)).fetchone()
        if row is None or type(row[0]) is not int:
            found = "missing" if row is None else f"{row[0]!r}, not an integer"
            raise DamagedRecord(f"the meta table's {_MERGED_THROUGH}", found)
        self.merged_through = row[0]
        self._recent = dict(
            conn.execute(
                "SELECT idem, seq FROM entries WHERE seq > ? AND replay_of IS NULL",
                (self.merged_through,),
            )
        )
        self._filters.open(conn, self.merged_through)

    # -- inside a transaction ------------------------------------------------------------------

    def find(self, conn: sqlite3.Connection, keys: list[str]) -> dict[str, int]:
        """Return the entry seq of each of `keys` the journal holds (absent keys are left out)."""
        found: dict[str, int] = {}
        missing = keys
        for level in (self._recent, self._merging):
            if level and missing:  # (usually only `recent` holds anything)
                held = [key for key in missing if key in level]
                if held:
                    found.update((key, level[key]) for key in held)
                    missing = [key for key in missing if key not in level]
        if missing:
            missing = self._filters.may_hold(missing)
            self.looked_up += len(missing)
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start : start + CHUNK]
            found.update(
                conn.execute(
                    f"SELECT idem, seq FROM idem_keys WHERE idem IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return found

    def add(self, keys: list[tuple[str, int]]) -> None:
        """Hold keys of entries inserted in this transaction (new keys: see `find`)."""
        self._recent.update(keys)
        self._added.append(keys)

    def forget(self, conn: sqlite3.Connection, keys: list[tuple[str, int]]) -> None:
        """Drop these (key, seq) pairs of entries deleted in this transaction."""
        cur = conn.executemany("DELETE FROM idem_keys WHERE idem = ? AND seq = ?", keys)
        self._filters.forgot(cur.rowcount)
        self._staged_forgotten.extend(key for key, _ in keys)

    def merge_step(self, conn: sqlite3.Connection, appending: int) -> None:
        """Move the next chunk of frozen keys into idem_keys, freezing `recent` when it is full.

        The frozen keys are first sorted, a run of SORT_RUN per transaction (nothing moves
        before the last run is sorted), then moved in key order: a chunk per transaction, of at
        least twice as many keys as the transaction appends (`appending`). So a merge ends
        before `recent` fills again (its runs take a few dozen transactions, each appending at
        most `max_batch`), and memory stays within about twice `memory_keys`.

        Called first in a transaction: a freeze takes the newest seq in the file as the merge's
        top, which must not cover entries inserted (and staged) earlier in the same transaction.
        """
        # A merge is under way while it has runs: even if every frozen key is forgotten
        # meanwhile, it goes on to its end, which moves keys_merged_through.
        if not self._runs:
            if len(self._recent) < self._memory_keys:
                return
            self._freeze(conn)
        if self._runs_sorted < len(self._runs):
            self._runs[self._runs_sorted].sort()  # (kept if the transaction rolls back)
            self._runs_sorted += 1
            if self._runs_sorted < len(self._runs):
                return
        if self._order is None:
            self._order = heapq.merge(*self._runs)
        if not self._chunk:  # (else: the chunk of a transaction rolled back, again)
            self._chunk = list(islice(self._order, max(MERGE_CHUNK, 2 * appending)))
            self._untaken -= len(self._chunk)
        merging = self._merging
        moving = [key for key in self._chunk if key in merging]  # (not forgotten meanwhile)
        self._filters.add(moving)
        for start in range(0, len(moving), CHUNK):  # a statement per few hundred: see _rows
            part = moving[start : start + CHUNK]
            conn.execute(
                "INSERT OR IGNORE INTO idem_keys (idem, seq) VALUES "
                + ", ".join(["(?, ?)"] * len(part)),
                [value for key in part for value in (key, merging[key])],
            )
        self._staged_moved = True
        if self._untaken == 0:  # the last chunk
            conn.execute(
                "UPDATE meta SET value = ? WHERE name = ?", (self._merge_top, _MERGED_THROUGH)
            )
            self._filters.merged(conn, self._merge_top)

    def filter_step(self, conn: sqlite3.Connection) -> None:
        """Take the next step of building a key filter, if one is being built (once per
        transaction; see _key_filter)."""
        self._filters.step(conn, self.merged_through)

    def _freeze(self, conn: sqlite3.Connection) -> None:
        # Every entry up to the newest seq has its key in idem_keys or in `recent`, so once
        # `recent` is merged, keys_merged_through may move up to that seq.
        (top,) = conn.execute("SELECT coalesce(max(seq), 0) FROM entries").fetchone()
        self._merging, self._recent = self._recent, {}
        frozen = list(self._merging)
        self._runs = [frozen[at : at + SORT_RUN] for at in range(0, len(frozen), SORT_RUN)]
        self._runs_sorted = 0
        self._untaken = len(frozen)
        self._merge_top = max(int(top), self.merged_through)

    # -- ending a transaction ------------------------------------------------------------------

    def commit(self) -> None:
        """Apply what the committed transaction staged."""
        for key in self._staged_forgotten:
            self._recent.pop(key, None)
            self._merging.pop(key, None)
        if self._staged_moved:
            self._chunk = []
            if self._untaken == 0:
                self._merging, self._runs, self._order = {}, [], None
                self.merged_through = self._merge_top
                self.merges += 1
        self._clear_staged()

    def rollback(self) -> None:
        """Drop what the rolled-back transaction added and staged."""
        recent = self._recent
        for added in self._added:
            for key, _ in added:
                recent.pop(key, None)
        self._clear_staged()

    def _clear_staged(self) -> None:
        self._added = []
        self._staged_forgotten = []
        self._staged_moved = False

    # -- reporting -----------------------------------------------------------------------------

    @property
    def in_memory(self) -> int:
        """How many keys are held in memory (recent and being merged)."""
        return len(self._recent) + len(self._merging)
