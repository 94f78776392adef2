"""The command line: bad input is one line naming the file or the value, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediator.cli import main


def test_sandbox_with_a_missing_faults_file_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "faults.json"
    assert main(["sandbox", "--faults", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "Traceback" not in err


def test_sandbox_with_a_bad_fault_plan_names_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "faults.json"
    plan.write_text('{"stripe": {"storm": "many"}}')
    assert main(["sandbox", "--faults", str(plan)]) == 2
    err = capsys.readouterr().err
    assert str(plan) in err
    assert "storm" in err


def test_sandbox_with_an_unknown_product_says_which(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sandbox", "--products", "salesforce,netsuite"]) == 2
    assert "netsuite" in capsys.readouterr().err
