"""The fixture itself: it stops its server on exit and names the failing step with its log."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mediator.testing.tryton_server import TrytonFixtureError, open_tryton_server

from .conftest import INSTALL_TIMEOUT

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.mark.slow
def test_leaving_the_context_stops_the_server(tmp_path: Path) -> None:
    with open_tryton_server(work_dir=tmp_path) as server:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        assert server.version == "8.2"
        assert set(server.timings) == {"venv", "template", "start", "total"}
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5)
    assert "Shutting down" in server.log.read_text()


def test_a_failing_step_names_itself_and_shows_its_log(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "venv").write_text("a file where the virtualenv should go")

    with (
        pytest.raises(TrytonFixtureError) as failed,
        open_tryton_server(work_dir=tmp_path / "work", cache_dir=cache),
    ):
        pytest.fail("the server must not start")

    error = failed.value
    assert (error.step, error.reason) == ("create venv", "exited with 1")
    assert error.log == cache / "logs" / "install.log"
    assert "venv" in error.log_tail
    assert str(error).startswith("tryton fixture: create venv failed: exited with 1 (log ")
