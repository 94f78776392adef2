"""`[[admin.tokens]]` resolved into a token table: names and values must be unique."""

from __future__ import annotations

import pytest

from mediator.admin import TokenTable
from mediator.config import parse_config
from mediator.errors import ConfigError


def _config(second_name: str, second_env: str) -> str:
    return f"""\
[[admin.tokens]]
name = "dashboard"
role = "viewer"
token = "env:TEST_TOKEN_A"

[[admin.tokens]]
name = "{second_name}"
role = "operator"
token = "env:{second_env}"
"""


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TOKEN_A", "token-a-0123456789")
    monkeypatch.setenv("TEST_TOKEN_B", "token-b-0123456789")
    monkeypatch.setenv("TEST_TOKEN_A_AGAIN", "token-a-0123456789")


def test_distinct_tokens_make_a_table() -> None:
    loaded = parse_config(_config("alice", "TEST_TOKEN_B"), file="mediator.toml")
    assert TokenTable.from_config(loaded) is not None


def test_a_repeated_token_value_is_a_config_error_naming_the_key() -> None:
    loaded = parse_config(_config("alice", "TEST_TOKEN_A_AGAIN"), file="mediator.toml")
    with pytest.raises(ConfigError) as raised:
        TokenTable.from_config(loaded)
    assert raised.value.key == "admin.tokens[1].token"
    assert raised.value.line == 9
    assert "token-a" not in str(raised.value)


def test_a_repeated_name_is_refused_by_the_configuration_itself() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_config("dashboard", "TEST_TOKEN_B"), file="mediator.toml")
    assert raised.value.key == "admin.tokens[1].name"
