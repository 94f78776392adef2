"""`[systems.salesforce] multi_currency`: a multi-currency org's records keep their currency."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediator.clock import SystemClock
from mediator.config import parse_config
from mediator.policies import PolicyRegistry
from mediator.runtime.systems import build_connectors
from mediator.sandbox import open_sandboxes
from mediator.sandbox.generator import generate_firm
from mediator.systems import SalesforceConnector


@pytest.mark.parametrize(("multi", "currencies"), [(True, {"EUR", "GBP"}), (False, {None})])
async def test_a_multi_currency_org_s_deals_carry_their_currency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, multi: bool, currencies: set[str | None]
) -> None:
    firm = generate_firm(seed=1, size=6, currencies=("EUR", "GBP"))
    clock = SystemClock()
    async with open_sandboxes(products=["salesforce"], clock=clock, firm=firm) as boxes:
        creds = boxes.credentials()["salesforce"]
        monkeypatch.setenv("TEST_SF_SECRET", creds["client_secret"])
        text = f"""\
[systems.salesforce]
base_url = "{boxes.urls["salesforce"]}"
client_id = "{creds["client_id"]}"
client_secret = "env:TEST_SF_SECRET"
multi_currency = {str(multi).lower()}
"""
        loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
        policies = PolicyRegistry(loaded.policies, clock=clock)
        connector = build_connectors(loaded, policies=policies, clock=clock)["salesforce"]
        assert isinstance(connector, SalesforceConnector)
        try:
            won = await connector.won_opportunities()
        finally:
            await connector.aclose()
    assert won.records
    assert {o.CurrencyIsoCode for o in won.records} <= currencies
    if multi:
        assert {o.CurrencyIsoCode for o in won.records} == {c.currency for c in firm.clients}
