"""Operating the reconciliation: the admin API over HTTP on loopback, and `mediator reconcile`.

One demo month serves the module (making it takes seconds), with two breaks made behind
mediator's back: an ERP timesheet line deleted (a re-drive repairs it) and a Stripe time
item's amount changed (a person accepts it). The tests share that month, so each one makes
the run it needs rather than relying on another's: runs, repairs (dry run, then for real),
acceptances, sign-offs, the roles, the audit log, and the CLI's tables, JSON and errors.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from mediator.cli import main
from mediator.reconciliation import CHECKS
from tests.reconciliation.support import OPERATOR_TOKEN, VIEWER_TOKEN, Month, live_month

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

SCOPE = ["presence", "time", "money"]


class Drift:
    """What was broken behind mediator's back: the ERP line deleted and the item changed."""

    def __init__(self, line: dict[str, Any], item: str) -> None:
        self.line = line
        self.item = item


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def month() -> AsyncIterator[Month]:
    async with live_month(seed=5, size=2) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def drift(month: Month) -> Drift:
    assert month.boxes.tryton is not None
    assert month.boxes.stripe is not None
    db = month.boxes.tryton.db
    line = dict(next(iter(db.tables["timesheet.line"].values())))
    db.delete("timesheet.line", [line["id"]], {})
    items: dict[str, dict[str, Any]] = month.boxes.stripe.store.invoiceitems
    item = next(
        i
        for i in items.values()
        if str(i["metadata"].get("mediator_origin", "")).startswith("hour|")
    )
    item["amount"] = int(item["amount"]) + 5_000
    return Drift(line, str(item["id"]))


async def _run(month: Month, period: str | None = None, scope: list[str] = SCOPE) -> dict[str, Any]:
    status, report = await month.call(
        "POST", "/reconciliation/runs", json={"period": period or month.period, "scope": scope}
    )
    assert status == 200, report
    return dict(report)


def _break(report: dict[str, Any], check: str) -> dict[str, Any]:
    [found] = [b for b in report["breaks"] if b["check"] == check]
    return dict(found)


async def _audit(month: Month) -> list[dict[str, Any]]:
    status, page = await month.call("GET", "/audit", role="viewer", params={"limit": "500"})
    assert status == 200, page
    return list(page["items"])


# -- the admin API ------------------------------------------------------------------------------


async def test_a_run_answers_its_report_and_is_stored_newest_first(
    month: Month, drift: Drift
) -> None:
    first = await _run(month, scope=["time"])
    report = await _run(month)
    assert report["period"] == month.period
    assert report["scope"] == SCOPE
    assert report["clean"] is False
    assert {(b["check"], b["match"], b["repair"]) for b in report["breaks"]} == {
        ("time", "missing", "redrive"),
        ("money", "divergent", "accept"),
    }
    assert report["compared"] > 0
    assert {t["system"] for t in report["totals"]} >= {"harvest", "tryton", "stripe"}
    status, listed = await month.call(
        "GET", "/reconciliation/runs", role="viewer", params={"period": month.period}
    )
    assert status == 200
    ids = [r["run_id"] for r in listed["items"]]
    assert ids.index(report["run_id"]) < ids.index(first["run_id"])  # newest first
    assert listed["items"][ids.index(report["run_id"])]["breaks"] == 2
    status, stored = await month.call(
        "GET", f"/reconciliation/runs/{report['run_id']}", role="viewer"
    )
    assert (status, stored) == (200, report)
    status, other = await month.call(
        "GET", "/reconciliation/runs", role="viewer", params={"period": "2001-01"}
    )
    assert (status, other) == (200, {"items": []})


async def test_an_unknown_run_is_a_404_and_a_malformed_one_a_400_naming_path_id(
    month: Month,
) -> None:
    status, problem = await month.call(
        "GET", "/reconciliation/runs/rec_20010101T000000_deadbeef", role="viewer"
    )
    assert (status, problem["field"]) == (404, "path.id")
    assert "rec_20010101T000000_deadbeef" in problem["detail"]
    status, problem = await month.call("GET", "/reconciliation/runs/nope", role="viewer")
    assert (status, problem["field"]) == (400, "path.id")
    status, problem = await month.call(
        "GET", "/reconciliation/runs", role="viewer", params={"period": "2026-13"}
    )
    assert (status, problem["field"]) == (400, "query.period")


@pytest.mark.parametrize("period", ["2026-13", "0000-01", "9999-12", "2026-1", "november"])
async def test_a_bad_period_is_a_400_naming_body_period(month: Month, period: str) -> None:
    status, problem = await month.call(
        "POST", "/reconciliation/runs", json={"period": period, "scope": ["time"]}
    )
    assert (status, problem["field"]) == (400, "body.period"), problem


@pytest.mark.parametrize("scope", [["ledger"], [], ["time", "nope"]])
async def test_an_unknown_or_empty_scope_is_a_400_naming_body_scope(
    month: Month, scope: list[str]
) -> None:
    status, problem = await month.call(
        "POST", "/reconciliation/runs", json={"period": month.period, "scope": scope}
    )
    assert status == 400, problem
    assert problem["field"].startswith("body.scope"), problem


async def test_a_repair_is_a_dry_run_unless_asked_and_then_redrives_with_the_original_key(
    month: Month, drift: Drift
) -> None:
    report = await _run(month, scope=["time"])
    missing = _break(report, "time")
    path = f"/reconciliation/runs/{report['run_id']}/repair"
    status, dry = await month.call("POST", path, json={})
    assert status == 200, dry
    assert dry["dry_run"] is True
    [step] = dry["steps"]
    assert (step["break_id"], step["action"], step["done"]) == (missing["id"], "redrive", False)
    assert any("with idempotency key harvest:time_entry:" in c for c in step["calls"])
    assert any(c.startswith("tryton: look the effect up by that key") for c in step["calls"])
    assert _lines_for(month, drift) == 0  # a dry run changes nothing
    status, problem = await month.call(
        "POST", path, json={"breaks": ["brk_" + "0" * 20], "dry_run": False, "reason": "x"}
    )
    assert (status, problem["field"]) == (404, "body.breaks")
    status, problem = await month.call("POST", path, json={"dry_run": False})
    assert (status, problem["field"]) == (400, "body.reason")  # an action says why
    status, problem = await month.call(
        "POST", "/reconciliation/runs/rec_20010101T000000_deadbeef/repair", json={}
    )
    assert (status, problem["field"]) == (404, "path.id")
    status, done = await month.call(
        "POST", path, json={"dry_run": False, "reason": "the ERP lost a line"}
    )
    assert status == 200, done
    [step] = done["steps"]
    assert step["done"] is True
    assert step["outcome"].startswith("re-driven as entry ")
    await month.mediator.wait_idle()
    assert _lines_for(month, drift) == 1
    after = await _run(month, scope=["time"])
    assert after["breaks"] == []
    redriven = [a for a in await _audit(month) if a["action"] == "redrive"]
    assert [(a["who"], a["role"], a["reason"]) for a in redriven] == [
        ("alice", "operator", "the ERP lost a line")
    ]
    assert redriven[0]["target"] == missing["redrive_of"]


def _lines_for(month: Month, drift: Drift) -> int:
    assert month.boxes.tryton is not None
    lines = month.boxes.tryton.db.tables["timesheet.line"].values()
    return sum(line["description"] == drift.line["description"] for line in lines)


async def test_accepting_a_break_needs_a_reason_and_an_open_break_and_is_audited(
    month: Month, drift: Drift
) -> None:
    report = await _run(month, scope=["money"])
    divergent = _break(report, "money")
    assert divergent["repair"] == "accept"
    assert any(d["field"] == f"item {drift.item} amount" for d in divergent["diffs"])
    path = f"/reconciliation/runs/{report['run_id']}/breaks/{divergent['id']}/accept"
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        status, problem = await month.call("POST", path, json=body)
        assert (status, problem["field"]) == (400, "body.reason"), (body, problem)
    unknown = f"/reconciliation/runs/{report['run_id']}/breaks/brk_{'0' * 20}/accept"
    status, problem = await month.call("POST", unknown, json={"reason": "fine"})
    assert (status, problem["field"]) == (404, "path.break")
    status, problem = await month.call(
        "POST", "/reconciliation/runs/rec_20010101T000000_deadbeef/breaks/"
        f"{divergent['id']}/accept", json={"reason": "fine"},
    )  # fmt: skip
    assert (status, problem["field"]) == (404, "path.id")
    status, accepted = await month.call("POST", path, json={"reason": "a goodwill discount"})
    assert status == 200, accepted
    assert (accepted["break_id"], accepted["by"]) == (divergent["id"], "alice")
    again = await _run(month, scope=["money"])
    assert again["breaks"] == []
    assert again["clean"] is True
    assert [b["id"] for b in again["accepted"]] == [divergent["id"]]
    assert again["accepted"][0]["accepted"]["reason"] == "a goodwill discount"
    [audited] = [a for a in await _audit(month) if a["action"] == "reconciliation.accept"]
    assert (audited["who"], audited["target"], audited["reason"]) == (
        "alice",
        divergent["id"],
        "a goodwill discount",
    )


async def test_a_period_is_signed_off_once_on_a_run_of_every_check_without_open_breaks(
    month: Month,
) -> None:
    # a run with an open break cannot be signed: the ERP line of another entry deleted
    assert month.boxes.tryton is not None
    db = month.boxes.tryton.db
    line = list(db.tables["timesheet.line"].values())[-1]
    db.delete("timesheet.line", [line["id"]], {})
    broken = await _run(month, scope=list(CHECKS))
    assert any(b["check"] == "time" for b in broken["breaks"])
    sign = f"/reconciliation/periods/{month.period}/sign-off"
    status, problem = await month.call("GET", sign, role="viewer")
    assert (status, problem["field"]) == (404, "path.period")
    status, problem = await month.call("POST", sign, json={"run_id": broken["run_id"]})
    assert (status, problem["field"]) == (409, "body.run_id")
    assert "open break" in problem["detail"]
    status, problem = await month.call("POST", sign, json={})  # the latest run: the same
    assert status == 409, problem
    # nor on a run that did not make every check, however clean
    partial = await _run(month, scope=["presence"])
    assert partial["clean"] is True
    status, problem = await month.call("POST", sign, json={"run_id": partial["run_id"]})
    assert (status, problem["field"]) == (409, "body.run_id")
    assert "every check" in problem["detail"]
    status, problem = await month.call("POST", "/reconciliation/periods/2001-01/sign-off", json={})
    assert (status, problem["field"]) == (404, "body.run_id")  # no run of that month
    # the close: repair what can be, accept what a person settles, run every check again
    status, repaired = await month.call(
        "POST", f"/reconciliation/runs/{broken['run_id']}/repair",
        json={"dry_run": False, "reason": "month-end close"},
    )  # fmt: skip
    assert status == 200, repaired
    for skipped in repaired["skipped"]:
        status, _ = await month.call(
            "POST", f"/reconciliation/runs/{broken['run_id']}/breaks/{skipped}/accept",
            json={"reason": "settled in the vendor's screens"},
        )  # fmt: skip
        assert status == 200
    await month.mediator.wait_idle()
    clean = await _run(month, scope=list(CHECKS))
    assert clean["clean"] is True, clean["breaks"]
    await _run(month, scope=["presence"])  # a later partial run is not what is signed
    status, problem = await month.call(
        "POST", sign, json={"run_id": broken["run_id"], "reason": "wrong run"}
    )
    assert status == 409, problem  # naming the run with breaks still refuses
    status, signed = await month.call("POST", sign, json={"reason": "the month is closed"})
    assert status == 200, signed
    assert (signed["run_id"], signed["by"], signed["reason"]) == (
        clean["run_id"],
        "alice",
        "the month is closed",
    )
    assert signed["report"] == clean
    status, read = await month.call("GET", sign, role="viewer")
    assert (status, read) == (200, signed)
    # signing again, on the same run or a newer clean one, keeps the first, audited once
    status, again = await month.call("POST", sign, json={"run_id": clean["run_id"]})
    assert (status, again) == (200, signed)
    newer = await _run(month, scope=list(CHECKS))
    status, second = await month.call(
        "POST", sign, json={"run_id": newer["run_id"], "reason": "again"}
    )
    assert (status, second) == (200, signed)
    signs = [a for a in await _audit(month) if a["action"] == "reconciliation.sign_off"]
    assert [(a["who"], a["target"], a["reason"]) for a in signs] == [
        ("alice", month.period, "the month is closed")
    ]


async def test_a_viewer_reads_the_runs_but_cannot_run_repair_accept_or_sign_off(
    month: Month,
) -> None:
    report = await _run(month, scope=["time"])
    run = report["run_id"]
    acts = [
        ("/reconciliation/runs", {"period": month.period}),
        (f"/reconciliation/runs/{run}/repair", {}),
        (f"/reconciliation/runs/{run}/breaks/brk_{'0' * 20}/accept", {"reason": "x"}),
        (f"/reconciliation/periods/{month.period}/sign-off", {}),
    ]
    for path, body in acts:
        status, problem = await month.call("POST", path, role="viewer", json=body)
        assert status == 403, (path, problem)
        status, problem = await month.call("POST", path, role=None, json=body)
        assert status == 401, (path, problem)
    for path in ("/reconciliation/runs", f"/reconciliation/runs/{run}"):
        status, _ = await month.call("GET", path, role="viewer")
        assert status == 200


# -- mediator reconcile -------------------------------------------------------------------------


class Cli:
    """`mediator ...` in a thread (it runs its own event loop): its status and output."""

    def __init__(
        self, month: Month, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.month = month
        self.capsys = capsys
        monkeypatch.setenv("COLUMNS", "300")  # rich folds long ids in narrow tables
        monkeypatch.setenv("MEDIATOR_URL", month.url)
        monkeypatch.setenv("MEDIATOR_TOKEN", OPERATOR_TOKEN)
        self.monkeypatch = monkeypatch

    async def __call__(self, *argv: str, token: str = OPERATOR_TOKEN) -> tuple[int, str, str]:
        self.monkeypatch.setenv("MEDIATOR_TOKEN", token)
        self.capsys.readouterr()
        try:
            status = await asyncio.to_thread(main, ["reconcile", *argv])
        except SystemExit as exc:
            status = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return status, out, err


@pytest.fixture
def cli(month: Month, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    return Cli(month, capsys, monkeypatch)


def _one_line_error(status: int, out: str, err: str) -> str:
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    return err


async def test_cli_reconcile_prints_the_control_totals_and_the_breaks(
    month: Month, cli: Cli
) -> None:
    assert month.boxes.tryton is not None
    db = month.boxes.tryton.db
    line = next(iter(db.tables["timesheet.line"].values()))
    db.delete("timesheet.line", [line["id"]], {})
    status, out, err = await cli("--period", month.period, "--scope", "time, presence")
    assert (status, err) == (0, "")
    assert "control totals" in out
    assert "approved time entries" in out
    assert "timesheet lines" in out
    assert "1 open break(s)" in out
    report = await month.mediator.reconciliation.run(
        (await month.mediator.reconciliation.runs())[0].run_id
    )
    [found] = report.breaks
    assert found.id in out
    assert found.entity in out
    assert "redrive" in out
    status, out, err = await cli("--period", month.period, "--scope", "time", "--json")
    assert (status, err) == (0, "")
    answer = json.loads(out)
    assert answer["scope"] == ["time"]
    assert [b["id"] for b in answer["breaks"]] == [found.id]
    # the runs, one of them, the repair: a dry run, then for real
    status, out, _ = await cli("runs", "--period", month.period)
    assert status == 0
    assert answer["run_id"] in out
    status, out, _ = await cli("show", answer["run_id"], "--json")
    assert (status, json.loads(out)) == (0, answer)
    status, out, err = await cli("repair", answer["run_id"], "--send")
    assert "--reason" in _one_line_error(status, out, err)
    status, out, _ = await cli("repair", answer["run_id"])
    assert status == 0
    assert f"{found.id}: redrive (would)" in out
    assert "idempotency key harvest:time_entry:" in out
    status, out, _ = await cli(
        "repair", answer["run_id"], "--break", found.id, "--send", "--reason", "line lost"
    )
    assert status == 0
    assert f"{found.id}: redrive (did): re-driven as entry" in out
    await month.mediator.wait_idle()
    status, out, _ = await cli("--period", month.period, "--scope", "time", "--json")
    assert json.loads(out)["breaks"] == []


async def test_cli_accept_and_sign_off_and_their_errors(month: Month, cli: Cli) -> None:
    assert month.boxes.stripe is not None
    items: dict[str, dict[str, Any]] = month.boxes.stripe.store.invoiceitems
    item = next(
        i
        for i in reversed(items.values())
        if str(i["metadata"].get("mediator_origin", "")).startswith("hour|")
    )
    item["amount"] = int(item["amount"]) - 7_000
    status, out, _ = await cli("--period", month.period, "--scope", "money", "--json")
    report = json.loads(out)
    [found] = [b for b in report["breaks"] if b["check"] == "money"]
    status, out, err = await cli("sign-off", month.period, "--run", report["run_id"])
    err = _one_line_error(status, out, err)
    assert "409" in err
    assert "body.run_id" in err
    status, out, err = await cli("accept", report["run_id"], found["id"])
    _one_line_error(status, out, err)  # argparse: --reason is required
    status, out, err = await cli(
        "accept", report["run_id"], found["id"], "--reason", "discount", token=VIEWER_TOKEN
    )
    assert "403" in _one_line_error(status, out, err)
    status, out, err = await cli("accept", report["run_id"], found["id"], "--reason", "discount")
    assert (status, err) == (0, "")
    assert f"{found['id']} accepted by alice: discount" in out
    status, out, err = await cli("show", "rec_20010101T000000_deadbeef")
    err = _one_line_error(status, out, err)
    assert "404" in err
    assert "path.id" in err
    status, out, err = await cli()
    assert "--period" in _one_line_error(status, out, err)
    status, out, err = await cli("--period", "2026-13")
    assert "body.period" in _one_line_error(status, out, err)
    # a month with nothing in it reconciles clean and is signed off
    status, out, _ = await cli("--period", "2001-01")
    assert "clean" in out
    status, out, err = await cli("sign-off", "2001-01", "--reason", "nothing then")
    assert (status, err) == (0, "")
    assert "2001-01 signed off by alice on run rec_" in out


async def test_cli_prints_vendor_and_operator_text_as_it_is_never_as_markup(
    month: Month, cli: Cli
) -> None:
    # a project named in Harvest's screens with brackets, under an onboarded client: an orphan
    assert month.boxes.harvest is not None
    store = month.boxes.harvest.store
    client = next(iter(store.tables["clients"].values()))
    name = "Side job [/b] for [bold]ACME"
    store.create("projects", {"client_id": client["id"], "name": name})
    status, out, err = await cli("--period", month.period, "--scope", "presence")
    assert (status, err) == (0, "")
    assert name in out.replace("\n", "")
    report = await month.mediator.reconciliation.run(
        (await month.mediator.reconciliation.runs())[0].run_id
    )
    [orphan] = [b for b in report.breaks if b.match == "orphan"]
    reason = "a side job [/i] per [bold]FIN-12"
    status, out, err = await cli("accept", report.run_id, orphan.id, "--reason", reason)
    assert (status, err) == (0, "")
    assert reason in out
