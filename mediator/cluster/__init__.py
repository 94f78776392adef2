"""Several daemons on one PostgreSQL journal: the entity space in partitions, held by leases."""

from mediator.cluster.leases import (
    LeaseChange,
    LeaseKeeper,
    LeaseStatistics,
    open_lease_keeper,
    singleton_lease,
)
from mediator.cluster.partitions import PARTITIONS, Fence, partition_lease, partition_of

__all__ = [
    "PARTITIONS",
    "Fence",
    "LeaseChange",
    "LeaseKeeper",
    "LeaseStatistics",
    "open_lease_keeper",
    "partition_lease",
    "partition_of",
    "singleton_lease",
]
