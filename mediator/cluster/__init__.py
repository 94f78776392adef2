"""Several daemons on one PostgreSQL journal: the entity space in partitions, held by leases."""

from mediator.cluster.partitions import PARTITIONS, Fence, partition_lease, partition_of

__all__ = ["PARTITIONS", "Fence", "partition_lease", "partition_of"]
