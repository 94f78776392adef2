"""The flows from a configuration file: the example's commented blocks, and their options."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediator.daemon import check_daemon_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "mediator.toml"
ENV = {
    "SF_CLIENT_SECRET": "sandbox-secret",
    "HARVEST_TOKEN": "sandbox-token",
    "STRIPE_API_KEY": "sk_test_sandbox",
    "TRYTON_PASSWORD": "admin",
    "MEDIATOR_ADMIN_TOKEN": "change-me",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
}


def _uncommented(block: str, size: int) -> list[str]:
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index(block)
    for index in range(start, start + size):
        lines[index] = lines[index].removeprefix("# ")
    return lines


def test_the_examples_finance_block_checks_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _uncommented("# [flows.receivables]", 9)
    start = lines.index("# [ingress.webhooks]")
    for index in range(start, start + 7):
        lines[index] = lines[index].removeprefix("# ")
    path = tmp_path / "mediator.toml"
    path.write_text("\n".join(lines) + "\n")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    loaded, problems = check_daemon_config(path)

    assert problems == []
    assert loaded is not None
    assert {"receivables", "cash_application", "milestones"} <= set(loaded.config.flows)
    assert loaded.config.ingress.pollers["stripe_events"].interval == 300.0


def test_a_bad_finance_option_names_its_key_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _uncommented("# [flows.receivables]", 9)
    at = lines.index("payment_method = 1")
    lines[at] = "payment_method = 0"
    path = tmp_path / "mediator.toml"
    path.write_text("\n".join(lines) + "\n")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    _, problems = check_daemon_config(path)

    [problem] = problems
    assert problem.key == "flows.cash_application.options.payment_method"
    assert problem.line == at + 1


def test_the_examples_crm_and_billing_block_checks_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _uncommented("# [flows.onboarding.options]", 19)
    path = tmp_path / "mediator.toml"
    path.write_text("\n".join(lines) + "\n")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)

    loaded, problems = check_daemon_config(path)

    assert problems == []
    assert loaded is not None
    assert {"onboarding", "change_orders", "billing", "approved_time"} <= set(loaded.config.flows)
    assert loaded.config.ingress.pollers["billing_close"].schedule == "5 18 * * 1-5"
