"""A daemon's part in a cluster (`[cluster]`): its leases, its intake, and what it reports.

With `[cluster]` (and `[journal] dsn`) the `Mediator` opens a `LeaseKeeper` before the
journal (the journal's fence is the keeper), gives the dispatcher a `PartitionOwnership`,
runs a `ClusterIntake` beside it, and runs each poller only where its singleton lease is
held. Without `[cluster]` none of this exists and the single-daemon path is as it was.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING

import msgspec

from mediator.clock import Clock
from mediator.cluster.intake import ClusterIntake, PartitionOwnership, open_cluster_intake
from mediator.cluster.leases import LeaseKeeper, open_lease_keeper
from mediator.cluster.partitions import PARTITIONS, partition_of
from mediator.config import ClusterConfig, LoadedConfig
from mediator.errors import ConnectorUnavailable
from mediator.journal import Dispatcher

if TYPE_CHECKING:
    from mediator.journal.postgres import PostgresJournal  # the `postgres` extra

__all__ = ["ClusterMember", "ClusterStatus", "daemon_id", "open_cluster_member"]


class ClusterStatus(msgspec.Struct, frozen=True, kw_only=True):
    """This daemon's view of the cluster: what `/healthz` and the status page show."""

    daemon: str
    members: int
    partitions: list[int]
    of: int
    singletons: list[str]
    #: entries others journaled that this daemon delivered, and open entries it took over
    picked_up: int
    taken_over: int
    heartbeat_failures: int
    last_error: str | None


def daemon_id(config: ClusterConfig) -> str:
    """This daemon's id: `daemon_id` as configured, or host name and pid."""
    return config.daemon_id or f"{socket.gethostname()}-{os.getpid()}"


class ClusterMember:
    """The cluster parts of one daemon; `intake` is set once its dispatcher runs."""

    def __init__(self, keeper: LeaseKeeper, config: ClusterConfig, dsn: str, schema: str) -> None:
        self.keeper = keeper
        self.ownership = PartitionOwnership(keeper)
        self.intake: ClusterIntake | None = None
        self._config = config
        self._dsn = dsn
        self._schema = schema

    def run_singletons(self, names: Sequence[str]) -> None:
        """Take part in spreading these singletons (the pollers scheduled here)."""
        self.keeper.add_singletons(names)
        self.keeper.wake()

    def intake_for(
        self, journal: PostgresJournal, dispatcher: Dispatcher
    ) -> contextlib.AbstractAsyncContextManager[ClusterIntake]:
        """The intake of `dispatcher` (enter it right after the dispatcher)."""
        return open_cluster_intake(
            journal,
            dispatcher,
            self.keeper,
            self.ownership,
            dsn=self._dsn,
            schema=self._schema,
            interval=self._config.intake_interval,
        )

    def guard(self, dispatcher: Dispatcher) -> Callable[[str], None]:
        """What each system's transport calls right before a request (`HttpTransport.guard`):
        it refuses while this daemon's leases may have lapsed unnoticed (a pause) and while a
        delivery of a partition it lost is still running, so that a daemon waking from a
        pause cannot post what the partition's new owner already posted; the refused
        deliveries fail, their marks are fenced, and the calls go out again once they ended."""
        keeper = self.keeper

        def guard(system: str) -> None:
            if not keeper.fresh():
                raise ConnectorUnavailable(
                    system, "held back: this daemon's leases may have lapsed"
                )
            stale = [k for k in dispatcher.in_use() if not keeper.valid(partition_of(k))]
            if stale:
                raise ConnectorUnavailable(
                    system,
                    f"held back: {len(stale)} deliveries of partitions this daemon lost still end",
                )

        return guard

    def status(self) -> ClusterStatus:
        """A snapshot (in-memory only: cheap)."""
        leases = self.keeper.statistics()
        return ClusterStatus(
            daemon=leases.owner,
            members=leases.members,
            partitions=leases.partitions,
            of=PARTITIONS,
            singletons=leases.singletons,
            picked_up=self.intake.picked_up if self.intake else 0,
            taken_over=self.intake.taken_over if self.intake else 0,
            heartbeat_failures=leases.failures,
            last_error=leases.last_error,
        )


@contextlib.asynccontextmanager
async def open_cluster_member(
    loaded: LoadedConfig, *, dsn: str, clock: Clock
) -> AsyncIterator[ClusterMember | None]:
    """Keep this daemon's leases for the block if `[cluster]` is configured (else None).

    `dsn` is the journal's (with its password, if configured). Opening migrates the journal's
    schema and takes a first share of the partitions; leaving hands every lease over. Raises
    `JournalError` if the database cannot be reached.
    """
    config = loaded.config.cluster
    if config is None:
        yield None
        return
    schema = loaded.config.journal.schema
    async with open_lease_keeper(
        dsn,
        schema=schema,
        owner=daemon_id(config),
        lease_ttl=config.lease_ttl,
        renew_every=config.renew_every,
        clock=clock,
    ) as keeper:
        yield ClusterMember(keeper, config, dsn, schema)
