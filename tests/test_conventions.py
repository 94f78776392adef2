"""What a new user relies on outside the package: the benches' shared conventions, and the
check `make test` makes before the first run builds the real Tryton."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mediator.testing.tryton_server import cache_is_ready

BENCH = Path(__file__).parent.parent / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_the_benches_are_the_scripts_not_their_helpers() -> None:
    # `make bench` runs bench/*.py but those starting with `_`: exactly the runnable ones
    assert len(SCRIPTS) >= 4
    for path in BENCH.glob("*.py"):
        runnable = 'if __name__ == "__main__":' in path.read_text()
        assert runnable == (not path.name.startswith("_")), path


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_bench_takes_quick_and_reports_its_machine(script: Path) -> None:
    assert "machine()" in script.read_text()  # the shared header of every report
    shown = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, check=True
    )
    assert "--quick" in shown.stdout


def test_the_machine_is_read_at_run_time() -> None:
    code = "import json, _machine; print(json.dumps(_machine.machine()))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BENCH, capture_output=True, text=True, check=True
    )
    machine = json.loads(done.stdout)
    assert machine["cores_usable"] >= 1
    assert machine["cpu"]
    assert machine["python"].endswith(sys.version.split()[0])


def test_an_empty_tryton_cache_is_not_ready(tmp_path: Path) -> None:
    assert not cache_is_ready(tmp_path)
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / ".mediator-complete").write_text("another python's venv")
    assert not cache_is_ready(tmp_path)
