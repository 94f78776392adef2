"""`Mediator` from a configuration file: flows, systems, pollers and health, end to end."""

from __future__ import annotations

import datetime
import io
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest

from mediator.clock import SystemClock
from mediator.codecs import Envelope, new_id
from mediator.config import parse_config
from mediator.errors import ConfigError
from mediator.journal import DeadLetterFilter, open_journal
from mediator.logs import JsonFormatter
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import Firm, generate_firm
from mediator.testing.onboarded import record_onboarding
from tests.runtime.support import config_text, erp_lines

pytestmark = pytest.mark.slow  # two sandboxes, a journal and the whole runtime per test

SEED = 5


@pytest.fixture
async def firm_and_boxes() -> AsyncIterator[tuple[Firm, Sandboxes]]:
    firm = generate_firm(seed=SEED, size=2)
    async with open_sandboxes(
        products=("harvest", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
    ) as boxes:
        yield firm, boxes


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch, firm_and_boxes: tuple[Firm, Sandboxes]) -> None:
    creds = firm_and_boxes[1].credentials()
    monkeypatch.setenv("TEST_HARVEST_TOKEN", creds["harvest"]["token"])
    monkeypatch.setenv("TEST_TRYTON_PASSWORD", creds["tryton"]["password"])


async def test_approved_time_flows_from_the_configured_poller_to_the_erp(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    loaded = parse_config(config_text(boxes), file="mediator.toml", base_dir=tmp_path)
    async with open_journal(loaded.journal_path, clock=SystemClock()) as journal:
        await record_onboarding(journal, firm, boxes)  # what onboarding would have written
    async with Mediator(loaded) as mediator:
        [poller] = mediator.pollers
        await poller.wait_polls(1)
        await mediator.wait_idle()
        stats = mediator.statistics()
        assert stats.state == "ready"
        assert stats.pollers[0].name == "harvest_time"
        assert stats.pollers[0].last_error is None
        assert stats.pollers[0].journaled > 10
        assert stats.dispatcher.delivered == stats.pollers[0].journaled
        assert len(erp_lines(boxes)) == stats.dispatcher.delivered
        assert mediator.admin_address is not None
        host, port = mediator.admin_address
        async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
            async with http.get("/readyz") as ready:
                assert ready.status == 200
                assert await ready.json() == {"ready": True, "state": "ready"}
            async with http.get("/healthz") as health:
                body = await health.json()
                assert health.status == 200
                assert body["parts"]["pollers"]["harvest_time"]["status"] == "ok"
                assert set(body["parts"]["systems"]) == {"harvest", "tryton"}
            async with http.get("/nowhere") as missing:
                assert missing.status == 404
                assert missing.content_type == "application/problem+json"
    assert mediator.state == "stopped"


async def test_an_entry_no_enabled_flow_handles_is_a_dead_letter_saying_so(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    _, boxes = firm_and_boxes
    loaded = parse_config(config_text(boxes), file="mediator.toml", base_dir=tmp_path)
    async with Mediator(loaded, serve_admin=False) as mediator:
        await mediator.pollers[0].wait_polls(1)
        await mediator.wait_idle()
        envelope = Envelope(
            id=new_id(),
            key="invoice:in_1",
            kind="billing.invoice.finalized",
            source="stripe",
            idempotency_key="stripe:evt_1",
            occurred_at=datetime.datetime.now(datetime.UTC),
            payload=msgspec.Raw(b"{}"),
        )
        appended = await mediator.accept(envelope)
        assert not appended.duplicate
        await mediator.wait_idle()
        dead = await mediator.dead_letters(DeadLetterFilter(kind="billing.invoice.finalized"))
        assert [e.envelope.key for e in dead] == ["invoice:in_1"]
        assert "no enabled flow handles it" in str(dead[0].reason)


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        (
            "[flows.payroll]\nenabled = true\n",
            "flows.payroll",
            "no such flow (known: approved_time, billing, cash_application, change_orders, "
            "milestones, onboarding, receivables)",
        ),
        (
            "[ingress.pollers.stripe_events]\ninterval = 5.0\n",
            "ingress.pollers.stripe_events",
            "no enabled flow has this poller: harvest_time, reconciliation",
        ),
    ],
)
async def test_what_only_the_running_flows_know_is_still_a_config_error_with_its_line(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes], extra: str, key: str, reason: str
) -> None:
    text = config_text(firm_and_boxes[1], extra=extra)
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        async with Mediator(loaded, serve_admin=False):
            pytest.fail("started with a bad configuration")
    assert caught.value.key == key
    assert caught.value.reason == reason
    assert caught.value.line == text.splitlines().index(extra.splitlines()[0]) + 1
    assert not (tmp_path / "journal.sqlite").exists()  # refused before anything opened


async def test_a_bad_flow_option_names_its_full_key(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    text = config_text(firm_and_boxes[1]).replace(
        'account_currency = "USD"', 'account_currency = "dollars"'
    )
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        async with Mediator(loaded, serve_admin=False):
            pytest.fail("started with a bad option")
    assert caught.value.key == "flows.approved_time.options.account_currency"
    assert caught.value.line == text.splitlines().index('account_currency = "dollars"') + 1


async def test_a_flow_whose_system_is_not_configured_is_refused(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    text = config_text(firm_and_boxes[1])
    start = text.index("[systems.tryton]")
    text = text[:start] + text[text.index("[flows.approved_time.options]") :]
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        async with Mediator(loaded, serve_admin=False):
            pytest.fail("started without the ERP")
    assert caught.value.key == "flows.approved_time"
    assert "needs [systems.tryton]" in caught.value.reason


async def test_a_listener_that_cannot_bind_and_a_journal_that_cannot_open_name_their_keys(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = config_text(firm_and_boxes[1]).replace(
            'listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"'
        )
        loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
        with pytest.raises(ConfigError) as caught:
            async with Mediator(loaded):
                pytest.fail("started on a port in use")
    assert caught.value.key == "admin.listen"
    assert f"cannot listen on 127.0.0.1:{port}" in caught.value.reason
    assert caught.value.line == text.splitlines().index(f'listen = "127.0.0.1:{port}"') + 1
    text = config_text(firm_and_boxes[1]).replace('path = "journal.sqlite"', f'path = "{tmp_path}"')
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    with pytest.raises(ConfigError) as caught:
        async with Mediator(loaded, serve_admin=False):
            pytest.fail("opened a directory as its journal")
    assert caught.value.key == "journal.path"


async def test_a_dead_letter_is_a_json_log_line_naming_flow_entity_and_kind(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    dispatch_log = logging.getLogger("mediator.dispatch")
    dispatch_log.addHandler(handler)
    try:
        loaded = parse_config(config_text(firm_and_boxes[1]), file="m.toml", base_dir=tmp_path)
        async with Mediator(loaded, serve_admin=False) as mediator:  # nothing onboarded
            await mediator.pollers[0].wait_polls(1)
            await mediator.wait_idle()
    finally:
        dispatch_log.removeHandler(handler)
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    dead = [r for r in records if r["message"].startswith("dead letter")]
    assert dead
    assert {r["flow"] for r in dead} == {"approved_time"}
    assert {r["kind"] for r in dead} == {"psa.time_entry.approved"}
    assert all(r["entity"].startswith("project:") and r["level"] == "WARNING" for r in dead)
