"""The command line: bad input is one line naming the file or the value, exit status 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mediator import __version__
from mediator.cli import main
from mediator.sandbox.faults import FAULT_FILE_HELP, load_fault_plans


def _exit_status(argv: list[str]) -> int:
    """Run the CLI; argparse's own errors exit (SystemExit), the later checks return."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else -1


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert _exit_status(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("mediator: ")
    assert err.count("\n") == 1, err  # one line: no usage block, no traceback
    return err


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


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["demo", "--size", "0"], "--size"),
        (["demo", "--size", "1001"], "--size"),
        (["demo", "--size", "many"], "--size"),
        (["demo", "--seed", "-1"], "--seed"),
        (["demo", "--state-dir", ""], "--state-dir"),
        (["demo", "--frobnicate"], "--frobnicate"),
        ([], "demo,run,check-config"),
        (["sandbox", "--port-harvest", "99999"], "--port-harvest"),
        (["sandbox", "--port-tryton", "-1"], "--port-tryton"),
        (["sandbox", "--base-port", "0"], "--base-port"),
        (["sandbox", "--base-port", "65533"], "--base-port"),
        (["sandbox", "--size", "0"], "--size"),
        (["sandbox", "--seed", "x"], "--seed"),
        (["sandbox", "--products", ""], "--products"),
        (["sandbox", "--products", " , "], "--products"),
        (["sandbox", "--base-port", "8000", "--port-stripe", "9000"], "--port-stripe"),
        (["sandbox", "--port-harvest", "9000", "--port-stripe", "9000"], "9000"),
        (["sandbox", "--webhook-url", "ftp://example.com/hook"], "--webhook-url"),
        (["sandbox", "--products", "harvest", "--webhook-url", "http://x/h"], "--webhook-url"),
        (["sandbox", "--webhook-secret", ""], "--webhook-secret"),
        (["sandbox", "--host", ""], "--host"),
        (["sandbox", "--products", "harvest", "--port-stripe", "9000"], "--port-stripe"),
    ],
)
def test_every_bad_option_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    assert named in _one_line_error(capsys, argv)


def test_demo_state_dir_that_is_a_file_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    a_file = tmp_path / "state"
    a_file.write_text("")
    assert str(a_file) in _one_line_error(capsys, ["demo", "--state-dir", str(a_file)])
    inside = a_file / "sub"  # its parent is a file: mkdir fails with an OSError
    assert str(inside) in _one_line_error(capsys, ["demo", "--state-dir", str(inside)])


def test_demo_on_an_unusable_journal_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "journal.sqlite").write_bytes(b"not a database, " * 100)
    err = _one_line_error(capsys, ["demo", "--size", "1", "--state-dir", str(tmp_path)])
    assert "journal" in err
    assert str(tmp_path) in err


@pytest.mark.parametrize(
    ("plan", "key"),
    [
        ({"netsuite": {"error_rate": 0.1}}, "[netsuite]"),
        ({"stripe": {"error_rate": 1.5}}, "[stripe.error_rate]"),
        ({"stripe": {"error_status": 200}}, "[stripe.error_status]"),
        ({"stripe": {"latency": -1}}, "[stripe.latency]"),
        ({"stripe": {"outages": [{"start": 9, "end": 3}]}}, "[stripe.outages[0]]"),
        ({"stripe": {"stormy": 3}}, "stormy"),
        ([{"stripe": {}}], "not a JSON object"),
    ],
)
def test_a_bad_fault_plan_file_names_the_file_and_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, plan: object, key: str
) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(plan))
    err = _one_line_error(capsys, ["sandbox", "--faults", str(path)])
    assert str(path) in err
    assert key in err


def test_a_plan_for_a_product_not_served_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "faults.json"
    path.write_text('{"stripe": {"error_rate": 0.1}}')
    err = _one_line_error(capsys, ["sandbox", "--products", "harvest", "--faults", str(path)])
    assert "[stripe]" in err


def test_the_fault_file_format_is_in_help_and_its_example_loads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert _exit_status(["sandbox", "--help"]) == 0
    out = capsys.readouterr().out
    assert "fault-plan file" in out
    assert "--base-port" in out
    example = FAULT_FILE_HELP.split("\n\n")[1]  # the JSON example, as printed
    path = tmp_path / "faults.json"
    path.write_text(example)
    plans = load_fault_plans(path, products=["harvest", "tryton"])
    assert plans["tryton"].error_rate == 0.03
    assert plans["harvest"].outages[0].end == 60


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_status(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"mediator {__version__}"


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-X", "dev", "-m", "mediator.cli", *argv]


def test_a_bad_option_in_a_real_process_is_one_line_on_stderr() -> None:
    done = subprocess.run(_cli("sandbox", "--port-harvest", "99999"), capture_output=True)
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr == b"mediator: --port-harvest: 99999 is not within 0..65535\n"


def _free_base_port() -> int:
    """A port N with N..N+3 free now (bound and released: a race, but a short one)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base: int = probe.getsockname()[1]
        if base + 3 > 65_535:
            continue
        sockets = [socket.socket() for _ in range(4)]
        try:
            for offset, s in enumerate(sockets):
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise AssertionError("no four consecutive free ports")


def test_sandbox_prints_urls_and_credentials_on_base_ports_and_stops_on_ctrl_c() -> None:
    base = _free_base_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        _cli("sandbox", "--base-port", str(base), "--size", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(5)]  # four sandboxes, then the control
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err == ""  # no traceback, no warning (-X dev shows ResourceWarnings)
    urls = {line.split()[0]: line.split()[1] for line in lines[:4]}
    assert urls == {
        "salesforce": f"http://127.0.0.1:{base}",
        "harvest": f"http://127.0.0.1:{base + 1}",
        "stripe": f"http://127.0.0.1:{base + 2}",
        "tryton": f"http://127.0.0.1:{base + 3}",
    }
    assert "client_secret=sandbox-secret" in lines[0]
    assert "token=sandbox-token" in lines[1]
    assert "api_key=sk_test_sandbox" in lines[2]
    assert "password=admin" in lines[3]
    assert lines[4].startswith("control:")


# In the child, before the CLI runs: writes past 150 kB fail (EFBIG) as they would on a full disk.
_FULL_DISK = """
import resource, runpy, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))
sys.argv = ["mediator", *sys.argv[1:]]
runpy.run_module("mediator.cli", run_name="__main__")
"""


def test_demo_on_a_full_disk_is_one_line_and_status_2(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _FULL_DISK,
            "demo",
            "--size",
            "3",
            "--no-faults",
            "--state-dir",
            state,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mediator: ")
    assert done.stderr.count("\n") == 1, done.stderr
    assert "journal" in done.stderr
