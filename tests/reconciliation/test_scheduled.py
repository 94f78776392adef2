"""The scheduled reconciliation, and stored runs outliving the process that made them.

`[ingress.pollers.reconciliation]` makes the `Mediator` reconcile the previous and the
current month on its schedule (an interval poller polls at once when it starts); without
that table nothing is scheduled, though `poll("reconciliation")` still runs it. The runs are
kept in the journal's flow state, so a restart on the same journal reads them back.
"""

from __future__ import annotations

import datetime
import time
import zoneinfo
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from mediator.config import parse_config
from mediator.reconciliation import CHECKS, POLLER, Options
from mediator.reconciliation.scheduled import periods_due
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.config_tables import env_secrets, sandbox_env, systems_toml
from tests.runtime.support import SECRETS

UTC = zoneinfo.ZoneInfo("UTC")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def _at(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


@pytest.mark.parametrize(
    ("moment", "zone", "due"),
    [
        ("2026-11-15T12:00:00+00:00", UTC, ("2026-10", "2026-11")),
        ("2027-01-01T00:00:00+00:00", UTC, ("2026-12", "2027-01")),
        ("2027-01-31T23:59:59+00:00", UTC, ("2026-12", "2027-01")),
        ("2026-03-01T00:00:00+00:00", UTC, ("2026-02", "2026-03")),
        # the zone decides which day it is: New Year in Berlin is still December in UTC
        ("2026-12-31T23:30:00+00:00", BERLIN, ("2026-12", "2027-01")),
        ("2026-12-31T23:30:00+00:00", UTC, ("2026-11", "2026-12")),
    ],
)
def test_periods_due_are_the_previous_and_the_current_month(
    moment: str, zone: zoneinfo.ZoneInfo, due: tuple[str, str]
) -> None:
    assert periods_due(_at(moment), zone) == due


@pytest_asyncio.fixture
async def boxes(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandboxes]:
    async with open_sandboxes(seed=3) as started:
        for variable, value in sandbox_env(started, SECRETS).items():
            monkeypatch.setenv(variable, value)
        yield started


def _config(boxes: Sandboxes, *, scheduled: bool) -> str:
    text = f"""\
time_zone = "UTC"

[journal]
path = "journal.sqlite"

{systems_toml(boxes, env_secrets(SECRETS))}
"""
    if scheduled:
        text += "[ingress.pollers.reconciliation]\ninterval = 3600.0\n"
    return text + _JUDGING


_JUDGING = """
[reconciliation]
lag = 60.0
default_tolerance = "0.10"

[reconciliation.tolerance]
USD = "0"
JPY = "1"
"""


@pytest.mark.slow
async def test_a_scheduled_mediator_reconciles_both_months_and_the_runs_outlive_a_restart(
    boxes: Sandboxes, tmp_path: Path
) -> None:
    text = _config(boxes, scheduled=True)
    before = periods_due(time.time(), UTC)
    loaded = parse_config(text, file="m.toml", base_dir=tmp_path)
    async with Mediator(loaded, serve_admin=False) as mediator:
        # `[reconciliation]` is how every run judges, the scheduled ones included
        assert mediator.reconciliation.options == Options(
            lag=60.0, tolerance={"USD": "0", "JPY": "1"}, default_tolerance="0.10"
        )
        assert mediator.reconciliation.options.tolerance_of("usd") == 0
        assert mediator.reconciliation.options.tolerance_of("EUR") == Decimal("0.10")
        [poller] = [p for p in mediator.pollers if p.poller.name == POLLER]
        await poller.wait_polls(1)
        status = poller.status()
        assert status.last_error is None
        assert status.schedule == "every 3600 s"
        runs = await mediator.reconciliation.runs()
        report = await mediator.reconciliation.run(runs[0].run_id)
    after = periods_due(time.time(), UTC)
    assert [r.period for r in runs] in ([before[1], before[0]], [after[1], after[0]])
    assert all(r.scope == CHECKS for r in runs)
    assert report.clean
    # without the table nothing is scheduled; a poll on demand still runs it
    plain = parse_config(_config(boxes, scheduled=False), file="m.toml", base_dir=tmp_path)
    async with Mediator(plain, serve_admin=False) as again:
        assert POLLER not in {p.poller.name for p in again.pollers}
        assert await again.reconciliation.runs() == runs  # kept in the journal
        assert await again.reconciliation.run(runs[0].run_id) == report
        outcome = await again.poll(POLLER)
        assert outcome.read == 0  # nothing onboarded: nothing to compare
        newer = await again.reconciliation.runs()
        assert len(newer) == 4
        assert newer[2:] == runs
        assert newer[0].finished_at >= newer[1].finished_at >= runs[0].finished_at
