"""The demo end to end: a month of approved time reaches the ERP once, whatever fails."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mediator.cli import main
from mediator.demo import DemoReport, DemoStateError, check_erp, run_demo
from mediator.demo.checks import Check
from mediator.demo.report import summary
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
    assert report.erp_missing_lines == 0
    assert report.ok
    assert report.journal_path == str(tmp_path / "journal.sqlite")
    # every flow of the month, checked in the systems themselves
    assert [c.name for c in report.checks] == [
        "onboarding",
        "billing",
        "receivables",
        "cash application",
        "reconciliation",
    ]
    assert all(c.ok for c in report.checks), [c.problems for c in report.checks]
    assert report.payments > 0
    assert 0 < report.item_writes < report.billable_entries / 2  # aggregated, never per entry


def test_demo_command_rejects_a_bad_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["demo", "--size", "many"])
    assert info.value.code == 2
    assert "--size" in capsys.readouterr().err


def _results(lines: list[str]) -> list[str]:
    """The summary without the sandboxes' ports and the block it marks as timing-dependent."""
    timing = next(i for i, line in enumerate(lines) if "timing-dependent" in line)
    kept = lines[:timing] + lines[timing + 3 :]
    return [line for line in kept if not line.startswith("  sandboxes:")]


@pytest.mark.slow
async def test_the_same_seed_prints_the_same_figures_and_explains_them() -> None:
    runs: list[list[str]] = [[], []]
    reports = [await run_demo(seed=3, size=2, faults=None, say=say.append) for say in runs]
    print("\n".join(runs[0]))
    assert _results(runs[0]) == _results(runs[1])
    report = reports[0]
    # every difference between the firm's entries, the records read and those journaled
    assert report.approved_read == report.journaled + report.read_again + report.rejected
    # each stamp is distinct (the business clock), so a poll re-reads only its watermark's entry
    assert report.read_again == report.days - 1
    assert report.never_approved > 0  # the generator leaves ~10 % unapproved
    assert report.journaled == report.entries - report.never_approved
    text = "\n".join(runs[0])
    assert f"{report.never_approved} of the {report.entries} time entries were never" in text
    assert f"{report.read_again} read again" in text
    # the temporary journal is not shown as if it were kept
    assert report.journal_path is None
    assert "mediator-demo-" not in text
    assert "discarded at exit" in text


async def test_a_rerun_on_the_same_state_dir_says_its_sandboxes_are_gone(tmp_path: Path) -> None:
    first = await run_demo(seed=3, size=1, state_dir=tmp_path, faults=None, say=lambda _: None)
    assert first.ok
    with pytest.raises(DemoStateError) as info:
        await run_demo(seed=3, size=1, state_dir=tmp_path, faults=None, say=lambda _: None)
    assert "earlier run" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_a_rerun_through_the_cli_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["demo", "--size", "1", "--no-faults", "--state-dir", str(tmp_path)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mediator: --state-dir {tmp_path}: holds the journal of an earlier run")
    assert err.count("\n") == 1


def test_the_erp_check_counts_missing_duplicated_and_stray_lines() -> None:
    lines = [
        "Design review [mediator harvest:1:r0]",
        "Design review [mediator harvest:1:r0]",  # a duplicate
        "Workshop [mediator harvest:3:r0]",
        "Stray [mediator harvest:9:r0]",  # for no expected entry
        "typed in by hand",  # not mediator's: ignored
    ]
    check = check_erp(["1", "2", "3"], lines)
    assert (check.expected, check.lines) == (3, 4)
    assert (check.missing, check.duplicates, check.unexpected) == (1, 1, 1)
    assert not check.ok
    assert check_erp(["1"], ["x [mediator harvest:1:r0]"]).ok


def test_a_summary_with_missing_lines_says_failed() -> None:
    zeros: dict[str, Any] = dict.fromkeys(DemoReport.__struct_fields__, 0)  # every field, any type
    report = DemoReport(**{**zeros, "erp_missing_lines": 295, "journal_path": None, "checks": ()})
    assert not report.ok
    lines = list(summary(report, "November 2026"))
    assert lines[-1].startswith("  FAILED")
    assert "295 missing" in lines[-1]
    assert not any("OK" in line for line in lines)


def test_a_flow_check_that_fails_is_named_with_its_problems() -> None:
    zeros: dict[str, Any] = dict.fromkeys(DemoReport.__struct_fields__, 0)
    broken = Check(name="receivables", figures="3 invoices", problems=("in_1 posted twice",))
    report = DemoReport(**{**zeros, "journal_path": None, "checks": (broken,)})
    assert not report.ok
    lines = list(summary(report, "November 2026"))
    assert "  receivables: 3 invoices — FAILED" in lines
    assert "    in_1 posted twice" in lines
    assert lines[-1] == "  FAILED: receivables (see above)"


def test_ctrl_c_exits_130_without_a_warning_or_a_traceback() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-X", "dev", "-m", "mediator.cli", "demo", "--size", "6"]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        while not proc.stdout.readline().startswith("  journal:"):
            pass  # the runtime is up: sandboxes serving, connectors open
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "OK:" not in out  # interrupted before the end, not after it
    assert err == ""  # no "Unclosed client session", no traceback (-X dev shows warnings)


@pytest.mark.slow
async def test_serve_keeps_the_dashboard_up_after_the_month_until_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = ["-m", "mediator.cli", "demo", "--size", "1", "--no-faults", "--serve", "--port", "0"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("  serving the dashboard"):
            line = (await proc.stdout.readline()).decode()
            assert line, "\n".join(lines)
            lines.append(line.rstrip("\n"))
        [shown] = [line for line in lines if line.startswith("  dashboard: ")]
        url = shown.split()[1].removesuffix("/ui/")
        token = shown.split("operator token: ")[1].split(",")[0]
        assert any(line.startswith("  OK:") for line in lines)  # the summary came first
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(url, cookie_jar=jar) as http:
            async with http.get("/flows", headers={"Authorization": f"Bearer {token}"}) as api:
                assert api.status == 200
                flows = {f["name"] for f in (await api.json())["flows"]}
            async with http.get("/ui/login") as form:
                csrf = (await form.text()).split('name="csrf" value="', 1)[1].split('"', 1)[0]
            async with http.post(
                "/ui/login", data={"token": token, "csrf": csrf}, headers={"Origin": url}
            ) as overview:
                assert overview.status == 200
                page = await overview.text()
        assert all(f'data-flow="{name}"' in page for name in flows)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "stopped serving" in out.decode()
