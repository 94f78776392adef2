"""A filter in front of the key table, so that a new key is known new without looking there.

A Bloom filter with one probe: a key's bit is the 64-bit xxh3 hash of its UTF-8 modulo the
filter's size (a power of two). A clear bit means the key is not in `idem_keys`; a set bit
means it may be, and the key is looked up as before. A filter must never lack a key of
`idem_keys`: a merge adds the keys it moves as it moves them and saves the filter with its
last chunk, marked with `keys_merged_through`; a filter marked otherwise is not used, and
one is built in steps (`BUILD_STEP` keys per transaction) while every key is looked up.
A full filter is replaced by one twice the size built the same way. Everything here runs on
the writer's thread (or at open, before it starts).

Why (a third of the writer's time went to look-ups of new keys), why xxh3 and one probe, the
memory and the bytes written per merge: docs/journal.md, "The key filter".
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from xxhash import xxh3_64_intdigest

from mediator.journal._faults import is_fault

_log = logging.getLogger("mediator.journal")

MIN_CAPACITY = 1 << 16  # keys: a 256 KiB filter
BITS_PER_KEY = 32
BUILD_STEP = 4096  # keys scanned per transaction while a filter is built (about 2 ms)
HASH = "xxh3_64"  # saved with the filter: a filter made with another hash is not used
_MAX_BITS = 1 << 32  # 512 MiB: enough for 134 million keys


class KeyFilter:
    """A Bloom filter of keys, one probe each: it may hold a key never added, never the
    reverse."""

    __slots__ = ("_bits", "_mask", "capacity", "keys")

    def __init__(self, capacity: int, *, bits: bytes | None = None, keys: int = 0) -> None:
        size = min(_MAX_BITS, 1 << (max(capacity, 1) * BITS_PER_KEY - 1).bit_length())
        if bits is not None and len(bits) * 8 != size:
            raise ValueError(f"a filter of {capacity} keys has {size} bits, not {len(bits) * 8}")
        self._bits = bytearray(size // 8) if bits is None else bytearray(bits)
        self._mask = size - 1
        self.capacity = size // BITS_PER_KEY
        self.keys = keys  # how many were added (a key added twice counts twice)

    @classmethod
    def sized_for(cls, keys: int) -> KeyFilter:
        """An empty filter with room for twice `keys` (and at least MIN_CAPACITY)."""
        return cls(max(MIN_CAPACITY, 2 * keys))

    @property
    def largest(self) -> bool:
        """Whether this is as large as a filter gets: past its capacity it only answers
        "may be" more often."""
        return self._mask + 1 == _MAX_BITS

    @property
    def bits(self) -> bytearray:
        """The filter's bits, as saved."""
        return self._bits

    def add(self, keys: Sequence[str]) -> None:
        """Add `keys`."""
        bits, mask = self._bits, self._mask
        for key in keys:
            bit = xxh3_64_intdigest(key.encode()) & mask
            bits[bit >> 3] |= 1 << (bit & 7)
        self.keys += len(keys)

    def may_hold(self, keys: list[str]) -> list[str]:
        """Return those of `keys` that may have been added (all that were, a few that were
        not), in their order."""
        bits, mask = self._bits, self._mask
        return [
            key
            for key in keys
            if bits[(bit := xxh3_64_intdigest(key.encode()) & mask) >> 3] >> (bit & 7) & 1
        ]


class _Build:
    """A filter being filled by a scan of idem_keys in key order, a step per transaction."""

    def __init__(self, key_filter: KeyFilter) -> None:
        self.filter = key_filter
        self._after: str | None = None  # the last key scanned

    def step(self, conn: sqlite3.Connection, limit: int) -> bool:
        """Scan the next `limit` keys; return whether the scan has ended."""
        if self._after is None:
            cur = conn.execute("SELECT idem FROM idem_keys ORDER BY idem LIMIT ?", (limit,))
        else:
            cur = conn.execute(
                "SELECT idem FROM idem_keys WHERE idem > ? ORDER BY idem LIMIT ?",
                (self._after, limit),
            )
        keys = [row[0] for row in cur]
        self.filter.add(keys)
        if len(keys) < limit:
            return True
        self._after = keys[-1]
        return False


class KeyFilters:
    """The filter in use (None while the first is built) and the one being built, if any."""

    def __init__(self) -> None:
        self._in_use: KeyFilter | None = None
        self._build: _Build | None = None

    @property
    def ready(self) -> bool:
        """Whether a filter is in use (else every key is looked up)."""
        return self._in_use is not None

    def open(self, conn: sqlite3.Connection, merged_through: int) -> None:
        """Take the saved filter if it covers the keys merged through `merged_through`; else
        start building one (and take a first step at once: a small file needs no more)."""
        self._in_use = _load(conn, merged_through)
        if self._in_use is None:
            (held,) = conn.execute("SELECT count(*) FROM idem_keys").fetchone()
            self._build = _Build(KeyFilter.sized_for(held))
            self.step(conn, merged_through)

    def may_hold(self, keys: list[str]) -> list[str]:
        """Return those of `keys` that may be in idem_keys."""
        return keys if self._in_use is None else self._in_use.may_hold(keys)

    def add(self, keys: list[str]) -> None:
        """Add keys being moved into idem_keys (in the current transaction)."""
        if self._in_use is not None:
            self._in_use.add(keys)
        if self._build is not None:
            self._build.filter.add(keys)
        in_use = self._in_use
        if (
            self._build is None
            and in_use is not None
            and in_use.keys > in_use.capacity
            and not in_use.largest
        ):
            self._build = _Build(KeyFilter(2 * in_use.keys))

    def forgot(self, count: int) -> None:
        """Count keys deleted from idem_keys; a filter left mostly empty is rebuilt smaller."""
        in_use = self._in_use
        if in_use is None:
            return
        in_use.keys = max(0, in_use.keys - count)
        if (
            self._build is None
            and in_use.capacity > MIN_CAPACITY
            and in_use.keys * 8 < in_use.capacity
        ):
            self._build = _Build(KeyFilter.sized_for(in_use.keys))

    def step(self, conn: sqlite3.Connection, merged_through: int) -> None:
        """Scan the next keys into the filter being built, if any (once per transaction); at
        the scan's end put it in use and save it."""
        if self._build is None:
            return
        try:
            done = self._build.step(conn, BUILD_STEP)
        except sqlite3.Error as exc:  # e.g. a key that is not UTF-8 text, written elsewhere
            if is_fault(exc):  # the file or the disk failed: not for the filter to hide
                raise
            _log.warning("journal: key filter not built, every key is looked up: %s", exc)
            self._build = None
            return
        if done:
            self._in_use, self._build = self._build.filter, None
            save(conn, self._in_use, merged_through)

    def merged(self, conn: sqlite3.Connection, merged_through: int) -> None:
        """Save the filter in use with a merge's last chunk (which moves keys_merged_through)."""
        if self._in_use is not None:
            save(conn, self._in_use, merged_through)


def save(conn: sqlite3.Connection, key_filter: KeyFilter, merged_through: int) -> None:
    """Keep `key_filter` in the file as covering every key merged through `merged_through`."""
    conn.execute(
        "INSERT OR REPLACE INTO key_filter (id, hash, keys, merged_through, bits) "
        "VALUES (1, ?, ?, ?, ?)",
        (HASH, key_filter.keys, merged_through, key_filter.bits),
    )


def _load(conn: sqlite3.Connection, merged_through: int) -> KeyFilter | None:
    row = conn.execute("SELECT hash, keys, merged_through, bits FROM key_filter").fetchone()
    if row is None or row[0] != HASH or row[2] != merged_through:
        return None
    _, keys, _, bits = row
    if type(keys) is not int or keys < 0:  # not a filter this code saved: build one instead
        return None
    try:
        return KeyFilter(len(bits) * 8 // BITS_PER_KEY, bits=bits, keys=keys)
    except (TypeError, ValueError):  # not a filter this code saved: build one instead
        return None


def rebuild(conn: sqlite3.Connection) -> None:
    """Build and save the filter of every key in idem_keys at once (for a file whose keys were
    written by other means than the journal, e.g. bench/journal's prefill)."""
    (merged_through,) = conn.execute(
        "SELECT value FROM meta WHERE name = 'keys_merged_through'"
    ).fetchone()
    (held,) = conn.execute("SELECT count(*) FROM idem_keys").fetchone()
    build = _Build(KeyFilter.sized_for(held))
    while not build.step(conn, 1 << 16):
        pass
    save(conn, build.filter, merged_through)
