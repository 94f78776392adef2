"""The reconciliation's endpoints on a daemon that runs two of the four systems.

The fixture's mediator has Harvest and Tryton only, and no onboarding: every approved entry it
polled died for want of xrefs, or waits behind one that did. So a run of every check is
refused (a check needs a system that is not set up: 409 naming body.scope), while the time
check runs: within the lag window everything is in flight; past it, each dead entry is missing
in the ERP with its dead letter to replay, and the entries parked behind it are in flight.
Replayed while the cause stands, the entry dies again: the same break, its newer dead letter.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from mediator.journal import DeadLetterFilter
from mediator.reconciliation import Options
from tests.admin.conftest import Admin

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def _call(admin: Admin, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, admin.url + path, headers=admin.headers("operator"), **kwargs) as r,
    ):
        return r.status, await r.json(content_type=None)


def _period(admin: Admin) -> str:
    assert admin.boxes.harvest is not None
    entries = admin.boxes.harvest.store.tables["time_entries"].values()
    return min(str(e["spent_date"]) for e in entries if e["approval_status"] == "approved")[:7]


async def test_a_check_whose_system_is_not_set_up_is_a_409_naming_body_scope(
    admin: Admin,
) -> None:
    status, problem = await _call(
        admin, "POST", "/reconciliation/runs", json={"period": _period(admin)}
    )
    assert (status, problem["field"]) == (409, "body.scope"), problem
    assert "not set up" in problem["detail"]


async def test_time_that_died_is_missing_with_its_dead_letter_and_stays_so_while_it_dies(
    admin: Admin,
) -> None:
    run = {"period": _period(admin), "scope": ["time"]}
    # approved and polled seconds ago: within the lag window (15 minutes), in flight
    status, recent = await _call(admin, "POST", "/reconciliation/runs", json=run)
    assert status == 200, recent
    assert recent["breaks"] == []
    assert recent["counts"]["time"]["in_flight"] > 0
    admin.mediator.reconciliation.options = Options(lag=0.0)
    status, report = await _call(admin, "POST", "/reconciliation/runs", json=run)
    assert status == 200, report
    # each project's first entry died; the others wait behind it (parked): still in flight
    dead = {e.id for e in await admin.mediator.dead_letters(DeadLetterFilter(), limit=10_000)}
    assert report["counts"]["time"] == {
        "missing": len(dead),
        "in_flight": recent["counts"]["time"]["in_flight"] - len(dead),
    }
    assert report["breaks"]
    for found in report["breaks"]:
        assert (found["match"], found["system"], found["repair"]) == ("missing", "tryton", "replay")
        [letter] = found["dead_letters"]
        assert letter in dead
        assert "dead letter" in found["detail"]
    target = report["breaks"][0]
    path = f"/reconciliation/runs/{report['run_id']}/repair"
    status, dry = await _call(admin, "POST", path, json={"breaks": [target["id"]]})
    assert status == 200, dry
    [step] = dry["steps"]
    assert step["calls"][0].startswith(f"journal: replay dead letter {target['dead_letters'][0]}")
    status, done = await _call(
        admin, "POST", path,
        json={"breaks": [target["id"]], "dry_run": False, "reason": "try again"},
    )  # fmt: skip
    assert status == 200, done
    assert done["steps"][0]["outcome"] == "replayed 1 of 1 dead letter(s)"
    await admin.mediator.wait_idle()
    status, again = await _call(admin, "POST", "/reconciliation/runs", json=run)
    assert status == 200
    [same] = [b for b in again["breaks"] if b["id"] == target["id"]]  # the same break
    [newer] = same["dead_letters"]
    assert newer != target["dead_letters"][0]  # the replay's own dead letter now
    assert {target["dead_letters"][0], newer} <= set(same["journal"])
