"""`[flows.billing.options]`: what the billing flow accepts, and what it refuses by name."""

from __future__ import annotations

import pytest

from mediator.config import parse_config
from mediator.runtime.assembly import check_flows

BASE = """\
[journal]
path = "journal.sqlite"

[systems.harvest]
base_url = "http://127.0.0.1:1"
account_id = "1"
token = "env:TEST_HARVEST_TOKEN"
user_agent = "mediator tests"

[systems.stripe]
base_url = "http://127.0.0.1:2"
api_key = "env:TEST_STRIPE_KEY"

[flows.billing.options]
account_currency = "EUR"
"""


def problems(options: str) -> list[tuple[str, str, int | None]]:
    text = BASE + options
    loaded = parse_config(text, file="mediator.toml")
    return [(p.key, p.reason, p.line) for p in check_flows(loaded)]


def test_the_defaults_and_a_full_set_are_accepted() -> None:
    assert problems("") == []
    full = 'expense_markup = 0.15\npayment_terms_days = 14\ncutoff = "17:30"\n'
    assert problems(full + 'corrections = "next_invoice"\nstripe_timeout = 20.0\n') == []


def test_credit_notes_are_accepted() -> None:
    assert problems('corrections = "credit_note"\n') == []


@pytest.mark.parametrize(
    ("option", "key"),
    [
        ('cutoff = "25:00"\n', "flows.billing.options.cutoff"),
        ("expense_markup = -0.1\n", "flows.billing.options.expense_markup"),
        ('corrections = "refund"\n', "flows.billing.options.corrections"),
        ("billing_day = 3\n", "flows.billing.options"),
    ],
)
def test_a_bad_option_is_named(option: str, key: str) -> None:
    [(found, _, _)] = problems(option)
    assert found.startswith(key)
