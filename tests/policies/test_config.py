"""Policy configuration: shipped defaults, layering, resolution, and errors naming file and key."""

from pathlib import Path

import pytest

from mediator.errors import ConfigError
from mediator.policies import (
    PolicyConfig,
    default_policy_config,
    load_policy_config,
    parse_policy_config,
)


@pytest.fixture(scope="module")
def defaults() -> PolicyConfig:
    return default_policy_config()


def test_shipped_defaults_cover_the_four_systems(defaults: PolicyConfig) -> None:
    harvest = defaults.ratelimits[defaults.resolve("harvest", "/v2/time_entries").ratelimit or ""]
    # a bucket admits burst + rate * window: Harvest allows 100 per 15 s
    assert harvest.burst + harvest.rate * 15 <= 100
    assert harvest.rate * 15 >= 95  # and sustains at least 95 % of it
    stripe = defaults.ratelimits[defaults.resolve("stripe", "/v1/invoices").ratelimit or ""]
    assert stripe.burst + stripe.rate * 1 <= 25
    assert stripe.rate >= 0.95 * 25
    salesforce = defaults.quotas[defaults.resolve("salesforce").quota or ""]
    assert (salesforce.allowance, salesforce.period) == (100_000, "rolling")
    assert salesforce.stop_at["cash_application"] > salesforce.stop_at["backfill"]
    assert defaults.bulkheads[defaults.resolve("tryton").bulkhead or ""].limit == 4


def test_shipped_defaults_put_reconciliation_below_the_live_flows(defaults: PolicyConfig) -> None:
    for name in ("harvest", "harvest_reports", "stripe"):
        assert defaults.ratelimits[name].shares == {"reconciliation": 0.5}
    assert defaults.bulkheads["tryton"].shares == {"reconciliation": 0.5}
    assert defaults.quotas["salesforce_daily"].stop_at["reconciliation"] == 0.5


def test_endpoint_targets_override_the_system_target(defaults: PolicyConfig) -> None:
    assert defaults.resolve("harvest", "/v2/reports/time/clients").ratelimit == "harvest_reports"
    assert defaults.resolve("harvest", "/v2/clients").ratelimit == "harvest"
    posting = defaults.resolve("tryton", "model.account.invoice.post")
    assert (posting.bulkhead, posting.window, posting.approval) == ("tryton", "finance", "finance")
    assert defaults.resolve("tryton", "model.party.party.create").window is None


def test_unbound_retry_timeout_and_breaker_fall_back_to_default(defaults: PolicyConfig) -> None:
    bound = defaults.resolve("unknown-system")
    assert (bound.retry, bound.timeout, bound.breaker) == ("default", "default", "default")
    assert bound.ratelimit is None


def test_a_user_file_is_layered_over_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text(
        """
[policies.ratelimits.harvest]
rate = 1.0
burst = 5

[policies.retries.patient]
max_attempts = 20
retry_codes = ["DUPLICATE_VALUE"]

[[targets]]
system = "stripe"
endpoint = "/v1/invoices*"
retry = "patient"
""",
        encoding="utf-8",
    )
    config = load_policy_config(path)
    assert config.ratelimits["harvest"].rate == 1.0
    assert config.ratelimits["stripe"].rate == 24.0
    assert config.resolve("stripe", "/v1/invoices/in_1/finalize").retry == "patient"
    assert config.resolve("stripe", "/v1/customers").retry == "default"


@pytest.mark.parametrize(
    ("text", "key", "line", "reason"),
    [
        ("[policies.ratelimits.h]\nrate = -1\nburst = 3\n", "policies.ratelimits.h.rate", 2, "> 0"),
        ("[policies.ratelimits.h]\nrate = 1\n", "policies.ratelimits.h.burst", 1, "missing"),
        (
            "[policies.ratelimits.h]\nrate = 1\nburst = 2\nbrust = 3\n",
            "policies.ratelimits.h.brust",
            4,
            "unknown",
        ),
        ("[policies.bulkheads.t]\nlimit = 'four'\n", "policies.bulkheads.t.limit", 2, "int"),
        (
            "[policies.ratelimits.h]\nrate = 1\nburst = 2\n\n"
            "[policies.ratelimits.h.shares]\nreconciliation = 1.5\n",
            "policies.ratelimits.h.shares.reconciliation",
            6,
            "(0, 1]",
        ),
        (
            "[policies.ratelimits.h]\nrate = 1\nburst = 2\nshares = { reconciliation = 0 }\n",
            "policies.ratelimits.h.shares.reconciliation",
            4,
            "(0, 1]",
        ),
        (
            '[policies.bulkheads.t]\nlimit = 4\nshares = { "" = 0.5 }\n',
            "policies.bulkheads.t.shares",
            3,
            "empty",
        ),
        (
            "[policies.bulkheads.t]\nlimit = 4\nshares = { backfill = 'half' }\n",
            "policies.bulkheads.t.shares",  # msgspec names the table, as for stop_at
            3,
            "float",
        ),
        (
            "[policies.quotas.q]\nallowance = 10\nzone = 'Mars/Olympus'\n",
            "policies.quotas.q.zone",
            3,
            "time zone",
        ),
        (
            "[policies.quotas.q]\nallowance = 10\nperiod = 'weekly'\n",
            "policies.quotas.q.period",
            3,
            "weekly",
        ),
        (
            "[policies.quotas.q]\nallowance = 10\n\n[policies.quotas.q.stop_at]\nbackfill = 1.5\n",
            "policies.quotas.q.stop_at.backfill",
            5,
            "(0, 1]",
        ),
        (
            "[policies.quotas.q]\nallowance = 10\ndefault_priority = 'vip'\n",
            "policies.quotas.q.default_priority",
            3,
            "priority",
        ),
        (
            "[policies.quotas.q]\nallowance = 10\nperiod = 'daily'\nreset_at = '25:00'\n",
            "policies.quotas.q.reset_at",
            4,
            "HH:MM",
        ),
        (
            "[policies.windows.w]\nweekdays = ['mon', 'funday']\n",
            "policies.windows.w.weekdays[1]",
            2,
            "funday",
        ),
        (
            "[policies.windows.w]\nblackouts = [['2026-12-40T00:00', '2027-01-02']]\n",
            "policies.windows.w.blackouts[0]",
            2,
            "day",
        ),
        (
            "[policies.windows.w]\nopens = '18:00'\ncloses = '08:00'\n",
            "policies.windows.w",
            1,
            "after opens",
        ),
        (
            "[policies.breakers.b]\nopen_for = 60.0\nmax_open_for = 10.0\n",
            "policies.breakers.b",
            1,
            "max_open_for",
        ),
        ("[policies.limits.x]\nrate = 1\n", "policies.limits", 1, "unknown policy kind"),
        (
            "[[targets]]\nsystem = 'a'\n\n[[targets]]\nsystem = 'b'\nquota = 'nope'\n",
            "targets[1].quota",
            6,
            "no quotas policy named 'nope'",
        ),
        ("[[targets]]\nendpoint = '/x'\n", "targets[0].system", 1, "missing"),
        (
            "[[policies.approvals.a]]\nname = 'big'\namount_at_least = 'lots'\n",
            "policies.approvals.a[0].amount_at_least",
            3,
            "int",
        ),
        ("[stuff]\nx = 1\n", "stuff", 1, "unknown section"),
    ],
)
def test_errors_name_the_file_the_key_and_the_line(
    text: str, key: str, line: int, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy_config(text, file="/etc/mediator/policies.toml")
    error = caught.value
    assert (error.file, error.key, error.line) == ("/etc/mediator/policies.toml", key, line)
    assert reason in error.reason
    assert str(error).startswith(f"/etc/mediator/policies.toml:{line} [{key}]")


def test_invalid_toml_names_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy_config("[policies.ratelimits.h]\nrate = = 1\n", file="p.toml")
    assert (caught.value.file, caught.value.line) == ("p.toml", 2)


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_policy_config(tmp_path / "missing.toml")
    assert caught.value.file.endswith("missing.toml")


def test_targets_may_name_policies_of_the_defaults(defaults: PolicyConfig) -> None:
    text = "[[targets]]\nsystem = 'harvest2'\nratelimit = 'harvest'\n"
    assert parse_policy_config(text, base=defaults).resolve("harvest2").ratelimit == "harvest"
    with pytest.raises(ConfigError):
        parse_policy_config(text)
