"""The operator CLI through `main([...])` against a running admin API: tables, --json, and
every error as one line with exit status 2."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from mediator.cli import main
from tests.admin.conftest import OPERATOR_TOKEN, VIEWER_TOKEN, Admin

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


class Run:
    """`mediator ...` in a thread (it runs its own event loop), its status and output."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("COLUMNS", "250")  # rich folds long ids in narrow tables

    async def __call__(
        self, admin: Admin, *argv: str, token: str | None = OPERATOR_TOKEN
    ) -> tuple[int, str, str]:
        if token is None:
            self.monkeypatch.delenv("MEDIATOR_TOKEN", raising=False)
        else:
            self.monkeypatch.setenv("MEDIATOR_TOKEN", token)
        self.capsys.readouterr()
        args = [argv[0], *argv[1:]]
        if "--url" not in args and args[0] in ("dlq", "approvals"):
            args = [*args[:2], "--url", admin.url, *args[2:]]
        elif "--url" not in args:
            args = [args[0], "--url", admin.url, *args[1:]]
        try:
            status = await asyncio.to_thread(main, args)
        except SystemExit as exc:
            status = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return status, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    return Run(capsys, monkeypatch)


async def test_dlq_list_prints_a_table_and_json(admin: Admin, run: Run) -> None:
    status, out, err = await run(admin, "dlq", "list", "--limit", "500")
    assert (status, err) == (0, "")
    assert f"{len(admin.dead)} dead letter(s)" in out
    assert admin.dead[0].id in out
    status, out, _ = await run(
        admin, "dlq", "list", "--json", "--kind", admin.dead[0].envelope.kind
    )
    page = json.loads(out)
    assert status == 0
    assert admin.dead[0].id in {e["id"] for e in page["items"]}
    assert {e["kind"] for e in page["items"]} == {admin.dead[0].envelope.kind}


async def test_dlq_show_replay_and_release(admin: Admin, run: Run) -> None:
    target = admin.dead[1]
    status, out, _ = await run(admin, "dlq", "show", target.id)
    assert status == 0
    assert target.key in out
    assert "lineage" in out
    status, out, _ = await run(admin, "dlq", "replay", target.id)
    assert status == 0
    assert "dry run" in out
    status, out, err = await run(admin, "dlq", "replay", target.id, "--send")
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--reason" in err
    # what an operator typed is printed as written, never read as rich's markup
    reason = "posted by hand [/b] in [bold]the ERP[/bold]"
    status, out, err = await run(admin, "dlq", "release", target.id, "--reason", reason)
    assert (status, err) == (0, "")
    assert f"released by alice: {reason}" in out
    status, out, err = await run(admin, "dlq", "show", target.id)  # a table of its fields
    assert (status, err) == (0, "")
    assert reason in out
    other = admin.dead[3]
    status, out, _ = await run(admin, "dlq", "discard", other.id, "--reason", "a test record")
    assert status == 0
    assert f"{other.id} is discarded by alice: a test record" in out
    status, out, err = await run(admin, "dlq", "release", target.id, "--reason", "again")
    assert status == 2
    assert (
        err == f"mediator: 404 Not Found: no open dead letter with id {target.id} (field path.id)\n"
    )


async def test_approvals_entity_and_status(admin: Admin, run: Run) -> None:
    approval = admin.approvals[2]
    status, out, _ = await run(admin, "approvals", "list", "--json", "--state", "pending")
    assert status == 0
    assert approval.id in {a["id"] for a in json.loads(out)["items"]}
    status, _, err = await run(admin, "approvals", "approve", approval.id, "--reason", "ok",
                               token=VIEWER_TOKEN)  # fmt: skip
    assert status == 2
    assert err.startswith("mediator: 403 Forbidden: the token 'dashboard' has the viewer role")
    assert err.count("\n") == 1
    status, out, _ = await run(admin, "approvals", "approve", approval.id, "--reason", "ok")
    assert status == 0
    assert "approved" in out
    status, out, _ = await run(admin, "entity", admin.dead[2].key)
    assert status == 0
    assert admin.dead[2].key in out
    assert "open dead letter" in out
    status, out, _ = await run(admin, "status")
    assert status == 0
    assert "approved_time" in out
    assert "harvest" in out
    status, out, _ = await run(admin, "status", "--json")
    assert {f["name"] for f in json.loads(out)["flows"]} == {"approved_time"}


async def test_every_error_is_one_line_with_status_2(admin: Admin, run: Run) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    cases = [
        (("status", "--url", f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{port}"),
        (("status", "--url", "ftp://example"), "not an http(s) URL"),
        (("dlq", "show", "not-hex"), "400 Bad Request"),
        (("entity", "time_entry:nobody"), "404 Not Found"),
        (("dlq", "release", admin.dead[0].id), "--reason"),
        (("dlq", "frobnicate"), "frobnicate"),
    ]
    for argv, fragment in cases:
        status, out, err = await run(admin, *argv)
        assert status == 2, argv
        assert out == "", argv
        assert err.count("\n") == 1, (argv, err)
        assert fragment in err, (argv, err)
        assert "Traceback" not in err
    status, _, err = await run(admin, "status", token=None)
    assert status == 2
    assert err.startswith("mediator: 401 Unauthorized: no bearer token")
    status, _, err = await run(admin, "status", token="wrong")
    assert (status, err) == (
        2,
        "mediator: 401 Unauthorized: the token is not valid (field header.Authorization)\n",
    )
