"""`mediator run` killed (SIGKILL) in the middle of each step of a deal's saga, then started
again: the deal ends onboarded, with every record made exactly once.

The sandboxes run in this test's process, the daemon is a child process. A step is caught in
the act by refusing the first request it makes (503, retried by the daemon; the test sees it
arrive); the daemon is killed there, the system healed, and a second daemon recovers the
in-flight entry from the journal and resumes the saga at that step.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from mediator.clock import SystemClock
from mediator.journal import open_journal
from mediator.sandbox.faults import FaultPlan
from tests.flows.onboarding.support import (
    World,
    config_text,
    once_each,
    open_world,
    saga_of_journal,
    top_level_deal,
)

pytestmark = pytest.mark.slow  # real processes

ROOT = Path(__file__).parents[3]

# the first request of each step (and of the client saga's parts), where the daemon is killed
KILL_POINTS = {
    "validate": ("salesforce", "/services/data/v61.0/query"),
    "client:party": ("tryton", "/"),
    "client:psa": ("harvest", "/v2/clients"),
    "client:customer": ("stripe", "/v1/customers"),
    "psa_project": ("harvest", "/v2/users"),
    "psa_project:create": ("harvest", "/v2/projects"),
    "writeback": ("salesforce", "/services/data/v61.0/composite"),
}


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async with open_world(tmp_path, monkeypatch) as found:
        yield found


async def until(condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    # another process's progress cannot be awaited as an event: look every 20 ms, bounded
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 -- the daemon is another process
            await asyncio.sleep(0.02)


async def start_daemon(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mediator.cli",
        "run",
        "--config",
        str(config),
        "--log-format",
        "json",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("step", sorted(KILL_POINTS))
async def test_a_daemon_killed_inside_a_step_resumes_there_without_doubles(
    world: World, step: str
) -> None:
    opportunity = top_level_deal(world)
    config = world.tmp / "mediator.toml"
    config.write_text(
        config_text(world.boxes) + '\n[admin]\nlisten = "127.0.0.1:0"\n', encoding="utf-8"
    )
    async with open_journal(world.tmp / "journal.sqlite", clock=SystemClock()) as journal:
        for person in world.firm.consultants:
            harvest_id = str(world.index.harvest[person.key])
            await journal.record_xref("consultant", person.key, "harvest", harvest_id)
        await journal.append(world.envelope(opportunity))  # recovered by the daemon at start
    product, path = KILL_POINTS[step]
    box = getattr(world.boxes, product)
    # refused (503) before the product acts: the daemon retries it in process, and dies trying
    box.faults.install(FaultPlan(error_rate=1.0, error_status=503, paths=(path,)))

    first = await start_daemon(config)
    try:
        await until(lambda: box.faults.statistics().decided > 0)  # the step's call is out
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL
    finally:
        if first.returncode is None:
            first.kill()
    box.faults.install(FaultPlan())

    second = await start_daemon(config)
    try:
        await until(
            lambda: (
                world.salesforce.get("Opportunity", opportunity).get("Sync_Status__c")
                == "Onboarded"
            )
        )
        second.send_signal(signal.SIGTERM)
        assert await second.wait() == 0
    finally:
        if second.returncode is None:
            second.kill()
    once_each(world)
    account = world.salesforce.get("Opportunity", opportunity)["AccountId"]
    assert world.salesforce.get("Account", account)["Sync_Status__c"] == "Onboarded"
    async with open_journal(world.tmp / "journal.sqlite", clock=SystemClock()) as journal:
        saga = await saga_of_journal(journal, opportunity)
        assert saga.status == "done", saga.note


# Every step boundary of a deal's sagas, in the order they are reached: the client's saga (its
# ERP party, PSA client, billing customer), then the deal's own steps.
BOUNDARIES = (
    "onboarding.client:tryton",
    "onboarding.client:harvest",
    "onboarding.client:stripe",
    "onboarding:client",
    "onboarding:erp_project",
    "onboarding:psa_project",
    "onboarding:billing",
    "onboarding:writeback",
)


async def run_child(config: Path, *crash: str) -> int:
    """`tests.flows.saga_crash_child`: a Mediator that recovers the journal's open entries
    and, with `crash`, SIGKILLs itself at that step boundary; its exit status."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.flows.saga_crash_child", str(config), *crash,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        return await asyncio.wait_for(child.wait(), timeout=120)
    finally:
        if child.returncode is None:
            child.kill()


async def test_killed_after_each_step_s_effect_before_its_save_nothing_is_made_twice(
    world: World,
) -> None:
    # The harshest moment: the step's effect exists in its system, the journal does not know.
    # One process per boundary, each killed at the next one, resuming where the last died.
    opportunity = top_level_deal(world)
    config = world.tmp / "mediator.toml"
    config.write_text(config_text(world.boxes), encoding="utf-8")
    async with open_journal(world.tmp / "journal.sqlite", clock=SystemClock()) as journal:
        for person in world.firm.consultants:
            harvest_id = str(world.index.harvest[person.key])
            await journal.record_xref("consultant", person.key, "harvest", harvest_id)
        await journal.append(world.envelope(opportunity))  # recovered by each child at start
    for boundary in BOUNDARIES:
        status = await run_child(config, "--crash", f"{boundary}:effect")
        assert status == -signal.SIGKILL, f"the daemon was not killed at {boundary}"
    assert await run_child(config) == 0
    once_each(world)
    assert world.salesforce.get("Opportunity", opportunity)["Sync_Status__c"] == "Onboarded"
    async with open_journal(world.tmp / "journal.sqlite", clock=SystemClock()) as journal:
        saga = await saga_of_journal(journal, opportunity)
        assert saga.status == "done", saga.note
