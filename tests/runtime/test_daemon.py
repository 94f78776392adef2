"""`mediator run` as a real process against the sandboxes: ready, SIGTERM, restart, no loss.

The sandboxes run in this test's process; the daemon is a child process reading a config
file that points at them. Readiness is read from the daemon's own "ready" log line; what the
daemon did is counted in the ERP sandbox's state.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from mediator.clock import SystemClock
from mediator.journal import open_journal
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.generator import generate_firm
from mediator.sandbox.seeding import approve_through
from mediator.sandbox.stripe.webhooks import sign
from mediator.testing.onboarded import record_onboarding
from tests.runtime.support import config_text, erp_lines

pytestmark = pytest.mark.slow  # real processes

SEED = 7
ROOT = Path(__file__).parents[2]
SECRET_TOKEN = "harvest-token-that-must-never-be-printed"


class Daemon:
    """A `mediator run` child process and the JSON log lines it wrote so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def wait_for_log(self, fragment: str, *, timeout: float = 60.0) -> dict[str, object]:
        """Read log lines until one's message contains `fragment`; return it."""
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stderr.readline()
                if not raw:
                    raise AssertionError(f"daemon exited before {fragment!r}: {self.lines}")
                line = raw.decode()
                self.lines.append(line)
                record = json.loads(line)
                if fragment in str(record["message"]):
                    return dict(record)

    async def stop(self, *, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status (the rest of its output is kept)."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.stderr is not None
        async with asyncio.timeout(timeout):
            rest = await self.process.stderr.read()
            self.lines.extend(rest.decode().splitlines(keepends=True))
            return await self.process.wait()


@pytest.fixture
async def boxes(tmp_path: Path) -> AsyncIterator[Sandboxes]:
    firm = generate_firm(seed=SEED, size=2)
    async with open_sandboxes(
        products=("harvest", "tryton"),
        clock=SystemClock(),
        seed=SEED,
        firm=firm,
        as_of=firm.month,
        # slow ERP answers, so that a stop finds deliveries under way
        faults={"tryton": FaultPlan(latency=0.05)},
    ) as boxes:
        assert boxes.harvest is not None
        boxes.harvest.tokens = {SECRET_TOKEN: int(boxes.credentials()["harvest"]["account_id"])}
        last_day = firm.month.replace(day=28)
        approve_through(firm, boxes.harvest, boxes.index, last_day)
        path = tmp_path / "journal.sqlite"
        async with open_journal(path, clock=SystemClock()) as journal:
            await record_onboarding(journal, firm, boxes)
        yield boxes


async def start_daemon(config: Path, env: dict[str, str]) -> Daemon:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mediator.cli",
        "run",
        "--config",
        str(config),
        "--log-format",
        "json",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    return Daemon(process)


def approved_count(boxes: Sandboxes) -> int:
    assert boxes.harvest is not None
    return sum(1 for r in boxes.harvest.store.tables["time_entries"].values() if r["is_closed"])


async def until(condition: Callable[[], bool], *, timeout: float = 60.0) -> None:
    # Another process's effects cannot be awaited as events: look again every 50 ms, bounded.
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110 -- the daemon is another process
            await asyncio.sleep(0.05)


async def test_sigterm_drains_exits_0_and_a_restart_finishes_without_doubles(
    tmp_path: Path, boxes: Sandboxes
) -> None:
    config = tmp_path / "mediator.toml"
    text = config_text(boxes).replace(
        'path = "journal.sqlite"', 'path = "journal.sqlite"\ndrain_timeout = 0.2'
    )
    config.write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEST_HARVEST_TOKEN": SECRET_TOKEN,
        "TEST_TRYTON_PASSWORD": boxes.credentials()["tryton"]["password"],
    }
    expected = approved_count(boxes)
    assert expected > 20

    first = await start_daemon(config, env)
    ready = await first.wait_for_log("ready:")
    assert "health on http://127.0.0.1:" in str(ready["message"])
    await until(lambda: len(erp_lines(boxes)) > 0)  # work is under way
    assert await first.stop() == 0
    assert any("stopped cleanly" in line for line in first.lines)
    # the drain deadline (0.2 s) passed with work left: ~0.1 s of ERP latency per entry
    assert 0 < len(erp_lines(boxes)) < expected

    second = await start_daemon(config, env)
    await second.wait_for_log("ready:")
    await until(lambda: len(erp_lines(boxes)) >= expected)
    assert await second.stop() == 0

    lines = erp_lines(boxes)
    descriptions = [str(row["description"]) for row in lines]
    assert len(lines) == expected
    assert len(set(descriptions)) == expected  # nothing posted twice
    output = "".join(first.lines + second.lines)
    assert SECRET_TOKEN not in output
    assert "Unclosed" not in output
    assert "Traceback" not in output


async def test_a_second_signal_stops_at_once_and_loses_nothing(
    tmp_path: Path, boxes: Sandboxes
) -> None:
    config = tmp_path / "mediator.toml"
    config.write_text(config_text(boxes), encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TEST_HARVEST_TOKEN": SECRET_TOKEN,
        "TEST_TRYTON_PASSWORD": boxes.credentials()["tryton"]["password"],
    }
    daemon = await start_daemon(config, env)
    await daemon.wait_for_log("ready:")
    await until(lambda: len(erp_lines(boxes)) > 0)
    daemon.process.send_signal(signal.SIGTERM)
    await daemon.wait_for_log("draining")
    assert await daemon.stop() == 0  # the second signal
    assert any("stopped at once" in line for line in daemon.lines)

    again = await start_daemon(config, env)
    await again.wait_for_log("ready:")
    await until(lambda: len(erp_lines(boxes)) >= approved_count(boxes))
    assert await again.stop() == 0
    descriptions = [str(row["description"]) for row in erp_lines(boxes)]
    assert len(descriptions) == len(set(descriptions)) == approved_count(boxes)


async def test_a_broken_config_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "mediator.toml"
    config.write_text('[journal]\nsynchronus = "FULL"\n', encoding="utf-8")
    daemon = await start_daemon(config, {**os.environ, "PYTHONPATH": str(ROOT)})
    process = daemon.process
    _, err = await process.communicate()
    assert process.returncode == 2
    assert err.decode() == (
        f"mediator: {config}:2 [journal.synchronus]: Object contains unknown field `synchronus`\n"
    )


async def test_the_daemon_serves_webhooks_and_names_them_when_ready(tmp_path: Path) -> None:
    secret = "whsec_daemon_test_6f1c9a2e4b8d3057"
    config = tmp_path / "mediator.toml"
    config.write_text(
        '[journal]\npath = "journal.sqlite"\n\n[admin]\nlisten = "127.0.0.1:0"\n\n'
        '[ingress.webhooks]\nlisten = "127.0.0.1:0"\n'
        'stripe_secrets = ["env:TEST_STRIPE_WEBHOOK_SECRET"]\n',
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TEST_STRIPE_WEBHOOK_SECRET": secret}
    daemon = await start_daemon(config, env)
    ready = str((await daemon.wait_for_log("ready:"))["message"])
    url = ready.split("webhooks on ")[1].split()[0]
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/webhooks/stripe")
    body = b'{"id": "evt_1", "type": "invoice.paid", "created": 1790000000,'
    body += b' "data": {"object": {"id": "in_1", "object": "invoice"}}}'
    async with aiohttp.ClientSession() as http:
        headers = {"Stripe-Signature": sign(secret, body, int(SystemClock().time()))}
        async with http.post(url, data=body, headers=headers) as response:
            # no shipped flow consumes Stripe's events yet: acknowledged, not journaled
            assert response.status == 200
            assert await response.json() == {"received": True, "ignored": True}
        async with http.post(url, data=body, headers={"Stripe-Signature": "t=1,v1=x"}) as response:
            assert response.status == 400
    assert await daemon.stop() == 0
    assert secret not in "".join(daemon.lines)
