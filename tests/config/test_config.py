"""`mediator.toml`: the shipped example checks clean; each mistake names file, key and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mediator.config import check_config, load_config, parse_config, render_effective
from mediator.config import resolve_secrets as resolve
from mediator.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "mediator.toml"
SECRETS = {
    "SF_CLIENT_SECRET": "sandbox-secret",
    "HARVEST_TOKEN": "sandbox-token",
    "STRIPE_API_KEY": "sk_test_sandbox",
    "TRYTON_PASSWORD": "tryton-password-42",
    "MEDIATOR_ADMIN_TOKEN": "s3cr3t-admin-token-value",
}

MINIMAL = """\
time_zone = "Europe/Berlin"

[systems.harvest]
account_id = "1234567"
token = "env:HARVEST_TOKEN"
user_agent = "mediator tests"
"""


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


def problems_of(tmp_path: Path, text: str) -> list[ConfigError]:
    path = tmp_path / "mediator.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    _, problems = check_config(path)
    return problems


def only_problem(tmp_path: Path, text: str) -> ConfigError:
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


@pytest.mark.usefixtures("secrets_env")
def test_the_shipped_example_checks_clean_and_renders_without_secret_values() -> None:
    loaded, problems = check_config(EXAMPLE)
    assert problems == []
    assert loaded is not None
    assert loaded.journal_path == EXAMPLE.parent / "mediator.db"
    assert loaded.policies.retries["default"].max_attempts == 8
    assert "harvest" in loaded.policies.ratelimits  # the shipped defaults are layered under
    rendered = render_effective(loaded)
    assert 'token = "env:HARVEST_TOKEN"' in rendered
    for value in SECRETS.values():
        assert value not in rendered
    secrets = resolve(loaded)
    assert secrets["systems.harvest.token"].reveal() == "sandbox-token"
    assert "sandbox-token" not in repr(secrets)


def test_a_minimal_file_takes_defaults_everywhere_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVEST_TOKEN", "t")
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    loaded = load_config(path)
    harvest = loaded.config.systems.harvest
    assert harvest is not None
    assert harvest.base_url == "https://api.harvestapp.com"
    assert loaded.config.admin.listen == "127.0.0.1:8080"
    assert loaded.config.journal.synchronous == "FULL"


def test_an_unknown_key_names_its_path_and_line(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        [journal]
        path = "j.db"
        synchronus = "FULL"
        """,
    )
    assert problem.file.endswith("mediator.toml")
    assert problem.key == "journal.synchronus"
    assert problem.line == 3
    assert "unknown field" in problem.reason


def test_a_wrong_type_names_its_path_and_line(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        [admin]
        listen = "127.0.0.1:8080"
        request_timeout = "soon"
        """,
    )
    assert (problem.key, problem.line) == ("admin.request_timeout", 3)


def test_malformed_toml_names_its_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, 'time_zone = "UTC"\n[journal\n')
    assert problem.line == 2
    assert "not valid TOML" in problem.reason


def test_an_inline_secret_is_refused_without_repeating_it(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        [systems.stripe]
        api_key = "sk_live_do_not_print_me"
        """,
    )
    assert (problem.key, problem.line) == ("systems.stripe.api_key", 2)
    assert "env:NAME or file:/path" in problem.reason
    assert "do_not_print_me" not in str(problem)


def test_unresolved_secret_references_are_each_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    empty = tmp_path / "empty-secret"
    empty.write_text("\n", encoding="utf-8")
    problems = problems_of(
        tmp_path,
        f"""\
        [systems.stripe]
        api_key = "env:NOT_SET_ANYWHERE"

        [systems.tryton]
        base_url = "http://127.0.0.1:8000"
        database = "erp"
        login = "admin"
        password = "file:{empty}"
        erp = {{ company = 1, currency = 1, journal = 1, receivable_account = 1, \
revenue_account = 2, payment_term = 1, product = 1, unit = 1 }}

        [[admin.tokens]]
        name = "ops"
        role = "operator"
        token = "file:{tmp_path / "missing"}"
        """,
    )
    assert [(p.key, p.line) for p in problems] == [
        ("systems.stripe.api_key", 2),
        ("systems.tryton.password", 8),
        ("admin.tokens[0].token", 14),
    ]
    assert "NOT_SET_ANYWHERE is not set" in problems[0].reason
    assert "is empty" in problems[1].reason
    assert "cannot read" in problems[2].reason


def test_every_semantic_problem_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T", "x")
    problems = problems_of(
        tmp_path,
        """\
        time_zone = "Mars/Olympus"

        [systems.harvest]
        base_url = "ftp://api.harvestapp.com"
        account_id = "1"
        token = "env:T"
        user_agent = "tests"

        [systems.stripe]
        base_url = "https://user:pw@api.stripe.com"
        api_key = "env:T"

        [ingress.pollers.harvest_time]
        interval = 60.0
        schedule = "*/5 * * * *"

        [ingress.pollers.nightly]
        schedule = "61 * * * *"

        [admin]
        listen = "0.0.0.0:99999"
        """,
    )
    assert [(p.key, p.line) for p in problems] == [
        ("time_zone", 1),
        ("systems.harvest.base_url", 4),
        ("systems.stripe.base_url", 10),
        ("ingress.pollers.harvest_time", 13),
        ("admin.listen", 21),
    ]
    assert "Mars/Olympus" in problems[0].reason
    # the bad cron is only checked once the zone it is read in is known
    assert not any(p.key.endswith("nightly.schedule") for p in problems)


def test_a_bad_cron_schedule_names_the_expression(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = only_problem(
        tmp_path,
        """\
        [ingress.pollers.nightly]
        schedule = "61 * * * *"
        """,
    )
    assert (problem.key, problem.line) == ("ingress.pollers.nightly.schedule", 2)
    assert "61 * * * *" in problem.reason


def test_an_admin_api_beyond_loopback_needs_tokens(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[admin]\nlisten = "0.0.0.0:8080"\n')
    assert problem.key == "admin.listen"
    assert "tokens" in problem.reason
    assert problems_of(tmp_path, '[admin]\nlisten = "[::1]:8080"\n') == []


def test_policies_in_the_file_are_checked_like_a_policies_file(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """\
        [policies.retries.default]
        max_attempts = 3

        [[policies.targets]]
        system = "harvest"
        ratelimit = "nonexistent"
        """,
    )
    assert (problem.key, problem.line) == ("policies.targets[0].ratelimit", 6)
    assert "no ratelimits policy named 'nonexistent'" in problem.reason


def test_parse_config_raises_the_first_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('time_zone = "Nowhere/Else"\n', file="inline.toml")
    assert str(caught.value).startswith("inline.toml:1 [time_zone]: unknown time zone")


def test_an_unreadable_file_is_one_error(tmp_path: Path) -> None:
    loaded, problems = check_config(tmp_path / "absent.toml")
    assert loaded is None
    assert len(problems) == 1
    assert "cannot read" in problems[0].reason
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    _, problems = check_config(tmp_path / "binary.toml")
    assert "not UTF-8" in problems[0].reason


def test_files_that_are_no_config_are_one_error_each(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    _, problems = check_config(deep)
    assert [p.reason for p in problems] == ["not valid TOML: nested too deeply"]
    _, problems = check_config(Path("/dev/zero"))
    assert [p.reason for p in problems] == ["not a regular file"]
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b'\xef\xbb\xbftime_zone = "UTC"\n')  # as some editors save it
    loaded, problems = check_config(bom)
    assert problems == []
    assert loaded is not None


def test_a_bad_value_in_a_named_table_names_the_table(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, '[flows.approved_time]\nenabled = "yes"\n')
    assert (problem.key, problem.line) == ("flows.approved_time.enabled", 2)
    problem = only_problem(tmp_path, "[ingress.pollers.harvest_time]\ninterval = 0\n")
    assert (problem.key, problem.line) == ("ingress.pollers.harvest_time.interval", 2)


def test_a_listen_address_needs_a_real_host(tmp_path: Path) -> None:
    for address in ("999.1.1.1:8080", "[::1:8080", "bad_host!:8080"):
        problem = only_problem(tmp_path, f'[admin]\nlisten = "{address}"\n')
        assert problem.key == "admin.listen"
        assert "is not an IP address or a host name" in problem.reason
