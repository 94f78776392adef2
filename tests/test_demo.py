"""The demo end to end: a month of approved time reaches the ERP once, whatever fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from mediator.cli import main
from mediator.demo import run_demo
from mediator.sandbox.faults import FaultPlan


@pytest.mark.slow
async def test_a_month_of_approved_time_lands_in_the_erp_exactly_once(tmp_path: Path) -> None:
    lines: list[str] = []
    faults = FaultPlan(drop_next=2, storm=1)  # counted, not drawn: the same on every run
    report = await run_demo(seed=7, size=6, state_dir=tmp_path, faults=faults, say=lines.append)
    assert report.journaled > 50
    assert report.erp_lines == report.journaled
    assert report.erp_duplicate_lines == 0
    assert report.dead == 0
    assert report.duplicates_on_replay == report.journaled
    assert report.injected_drops == 2
    assert report.connector_retries >= 2 + 1
    assert (tmp_path / "journal.sqlite").exists()
    assert any("0 duplicates" in line for line in lines)


def test_demo_command_rejects_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--size", "many"])
    assert info.value.code == 2
    assert "--size" in capsys.readouterr().err
