"""The entity space hashed into a fixed number of partitions, and the fence a daemon carries.

Every entry's partition is its entity key's (`partition_of`), stored with the entry. A daemon
delivers only the entries of partitions it holds a lease on, so one key is handled by one
daemon at a time without a lock per message; every state change it makes carries the lease's
epoch (`Fence`) and is refused once the epoch moved on (another daemon took the partition while
this one was paused), so a daemon that wakes after losing a lease cannot mark anything there.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

#: The number of partitions the entity space is hashed into: fixed for the life of a journal,
#: since each entry's partition is stored with it. (Defined here, not in the journal's schema,
#: which imports it: the journal imports this module for `Fence`.)
PARTITIONS = 256

__all__ = ["PARTITIONS", "Fence", "partition_lease", "partition_of"]


def partition_of(key: str) -> int:
    """The partition of entity key `key`: stable across processes, machines and versions
    (blake2b, not Python's salted `hash`)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % PARTITIONS


def partition_lease(partition: int) -> str:
    """The name of `partition`'s row in the lease table."""
    return f"partition/{partition}"


class Fence(Protocol):
    """What a daemon's journal checks its state changes against: who it is, and the epoch of
    each partition it holds now."""

    @property
    def owner(self) -> str:
        """The daemon's id, as written in the lease table."""
        ...

    def epochs(self) -> list[int]:
        """One epoch per partition, in partition order: the epoch of the lease this daemon
        holds on it, or -1 where it holds none (a snapshot: changes as leases move)."""
        ...
