"""`[flows.onboarding.options]`: a mistake is a configuration error naming its key and line,
found offline (`mediator check-config`), and good options give rates as `Money`."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediator.codecs.canonical.money import Money
from mediator.config import parse_config
from mediator.errors import ConfigError
from mediator.flows.onboarding import OnboardingFlow
from mediator.runtime import check_flows
from mediator.runtime.catalog import SHIPPED_FLOWS
from tests.flows.onboarding.support import OPTIONS

SYSTEMS = """\
[systems.salesforce]
base_url = "https://example.my.salesforce.com"
client_id = "app"
client_secret = "env:SF_SECRET"

[systems.harvest]
account_id = "1"
token = "env:HV_TOKEN"
user_agent = "tests"

[systems.stripe]
api_key = "env:ST_KEY"

[systems.tryton]
base_url = "http://localhost:8000"
database = "db"
login = "admin"
password = "env:TR_PASSWORD"

[systems.tryton.erp]
company = 1
currency = 1
journal = 1
receivable_account = 1
revenue_account = 1
payment_term = 1
product = 1
unit = 1

"""
CARD = """
[flows.onboarding.options.rate_cards.EUR]
Partner = { bill = "420.00", cost = "210.00" }
"""


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        (
            'DE = { identifier = "de_vat"',
            'DE = { identifier = "VAT"',
            "tax_profiles.DE.identifier",
            "matching regex",
        ),
        ("max = 60 }", "max = 600 }", "payment_terms_days.max", "<= 365"),
        (
            'currencies = ["USD", "EUR", "GBP"]',
            'currencies = ["dollars"]',
            "currencies[0]",
            "matching regex",
        ),
        ('bill = "420.00"', 'bill = "lots"', "rate_cards.EUR.Partner.bill", "matching regex"),
        ("timeout = 20.0", "timeout = 20.0\nsurprise = 1", "surprise", "unknown field"),
    ],
)
def test_a_bad_option_is_named_with_its_full_key_and_line(
    tmp_path: Path, old: str, new: str, key: str, reason: str
) -> None:
    text = SYSTEMS + (OPTIONS + CARD).replace(old, new)
    assert new in text
    loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
    [problem] = check_flows(loaded, SHIPPED_FLOWS)
    assert problem.key == f"flows.onboarding.options.{key}"
    assert reason in problem.reason
    assert problem.line is not None


def test_good_options_give_the_rate_card_as_money(tmp_path: Path) -> None:
    loaded = parse_config(SYSTEMS + OPTIONS + CARD, file="mediator.toml", base_dir=tmp_path)
    assert check_flows(loaded, SHIPPED_FLOWS) == []
    flow = SHIPPED_FLOWS["onboarding"](loaded.config.flows["onboarding"].options, _no_fail)
    assert isinstance(flow, OnboardingFlow)
    assert flow.options.bill_rate("EUR", "Partner") == Money(amount=42000, currency="EUR")
    assert flow.options.cost_rate("EUR", "Partner") == Money(amount=21000, currency="EUR")
    assert flow.options.bill_rate("EUR", "Astronaut") is None
    assert flow.options.bill_rate("USD", "Partner") is None
    assert flow.owner == "sales-ops"
    assert flow.poller_names == {
        "salesforce_accounts",
        "salesforce_opportunities",
        "salesforce_contracts",
    }


def _no_fail(key: str, reason: str) -> ConfigError:
    raise AssertionError(f"{key}: {reason}")
