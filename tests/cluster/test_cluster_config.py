"""`[cluster]` in the configuration: checked at load, each problem naming its key."""

from __future__ import annotations

import os
from pathlib import Path

from mediator.config import ClusterConfig
from mediator.runtime.cluster import daemon_id
from tests.config.test_config import problems_of


def test_a_cluster_needs_a_postgresql_journal(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[cluster]\ndaemon_id = "a"\n')
    assert [(p.key, p.line) for p in problems] == [("cluster", 1)]
    assert "[journal] dsn" in problems[0].reason


def test_a_renew_slower_than_half_the_lease_is_refused(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        '[journal]\ndsn = "postgresql://u@db/x"\n\n[cluster]\nlease_ttl = 4.0\nrenew_every = 3.0\n',
    )
    assert [(p.key, p.line) for p in problems] == [("cluster.renew_every", 6)]


def test_bad_values_name_their_key(tmp_path: Path) -> None:
    problems = problems_of(
        tmp_path,
        '[journal]\ndsn = "postgresql://u@db/x"\n\n[cluster]\ndaemon_id = "a b"\n',
    )
    assert [p.key for p in problems] == ["cluster.daemon_id"]
    problems = problems_of(
        tmp_path, '[journal]\ndsn = "postgresql://u@db/x"\n\n[cluster]\nlease_ttl = 0.5\n'
    )
    assert [p.key for p in problems] == ["cluster.lease_ttl"]


def test_the_daemon_id_defaults_to_host_and_pid() -> None:
    assert daemon_id(ClusterConfig(daemon_id="d1")) == "d1"
    assert daemon_id(ClusterConfig()).endswith(f"-{os.getpid()}")
