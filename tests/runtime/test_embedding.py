"""The embedding example (examples/embedded_host.py) runs: a host app hands the Mediator work."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer

from mediator.clock import SystemClock
from mediator.codecs.harvest.mapping import time_entries_from_harvest
from mediator.journal import open_journal
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.generator import Firm, generate_firm
from mediator.sandbox.harvest.listing import render
from mediator.testing.onboarded import record_onboarding
from tests.runtime.support import config_text, erp_lines

pytestmark = pytest.mark.slow  # two sandboxes and the runtime inside a host app

EXAMPLE = Path(__file__).parents[2] / "examples" / "embedded_host.py"
SEED = 11


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embedded_host", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def firm_and_boxes(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[Firm, Sandboxes]]:
    firm = generate_firm(seed=SEED, size=2)
    async with open_sandboxes(
        products=("harvest", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
    ) as boxes:
        creds = boxes.credentials()
        monkeypatch.setenv("TEST_HARVEST_TOKEN", creds["harvest"]["token"])
        monkeypatch.setenv("TEST_TRYTON_PASSWORD", creds["tryton"]["password"])
        yield firm, boxes


async def test_the_host_app_journals_what_it_receives_and_the_erp_gets_one_line(
    tmp_path: Path, firm_and_boxes: tuple[Firm, Sandboxes]
) -> None:
    firm, boxes = firm_and_boxes
    assert boxes.harvest is not None
    config = tmp_path / "mediator.toml"
    # the host feeds the flow itself: the Harvest poller stays off
    text = config_text(boxes).replace("interval = 3600.0", "interval = 3600.0\nenabled = false")
    config.write_text(text, encoding="utf-8")
    async with open_journal(tmp_path / "journal.sqlite", clock=SystemClock()) as journal:
        await record_onboarding(journal, firm, boxes)
    store = boxes.harvest.store
    [raw] = [render(store, "time_entries", r) for r in store.tables["time_entries"].values()][:1]
    page = msgspec.json.encode({"time_entries": [raw], "links": {}, "page": 1})
    [entry] = time_entries_from_harvest(page, account_currency="USD").items
    example = load_example()
    async with TestClient(TestServer(example.create_app(config))) as client:
        mediator = client.app[example.MEDIATOR]
        assert mediator.statistics().pollers == []
        first = await client.post("/approved-time", data=msgspec.json.encode(entry))
        assert first.status == 202
        again = await client.post("/approved-time", data=msgspec.json.encode(entry))
        assert again.status == 200
        assert (await again.json())["duplicate"] is True
        bad = await client.post("/approved-time", data=b'{"hours": "NaN"}')
        assert bad.status == 400
        assert "field" in await bad.json()
        await mediator.wait_idle()
        status = await client.get("/status")
        assert (await status.json())["dispatcher"]["delivered"] == 1
    assert len(erp_lines(boxes)) == 1
