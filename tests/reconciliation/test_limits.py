"""The reconciliation inside the vendors' real limits: no 429, and its own priority class.

The demo month runs with Harvest's real 100 requests / 15 s (in its sandbox and in mediator's
policy) and every shipped policy; at its end a reconciliation reads all four systems again.
What the sandboxes answered while it ran (their request logs) has no limit answer, and what
it spent is counted in the ``reconciliation`` class: the rate limiters' admissions of that
class and the Salesforce quota's allowance for it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mediator.demo import run_demo
from mediator.policies.quota import QuotaStatistics
from mediator.reconciliation import Report
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm
from mediator.sandbox.recording import RecordedRequest
from mediator.systems.connector import ConnectorStatistics

pytestmark = pytest.mark.slow


class Observed:
    """What one reconciliation at the month's end did to the sandboxes and the policies."""

    def __init__(self) -> None:
        self.report: Report | None = None
        self.requests: dict[str, list[RecordedRequest]] = {}
        self.admitted: dict[str, int] = {}
        self.quota: tuple[QuotaStatistics, QuotaStatistics] | None = None

    async def __call__(self, mediator: Mediator, boxes: Sandboxes, firm: Firm) -> None:
        marks = {name: _last_seq(box.requests) for name, box in boxes.all().items()}
        before = mediator.statistics().systems
        self.report = await mediator.reconciliation.reconcile(f"{firm.month:%Y-%m}")
        after = mediator.statistics().systems
        self.requests = {
            name: [r for r in box.requests if r.seq > marks[name]]
            for name, box in boxes.all().items()
        }
        for name in ("harvest", "stripe"):
            self.admitted[name] = _admitted(after, name) - _admitted(before, name)
        [quota_before] = [
            q for q in before["salesforce"].policies.quotas if q.system == "salesforce"
        ]
        [quota_after] = [q for q in after["salesforce"].policies.quotas if q.system == "salesforce"]
        self.quota = (quota_before, quota_after)


def _last_seq(requests: Any) -> int:
    return max((r.seq for r in requests), default=0)


def _admitted(systems: dict[str, ConnectorStatistics], name: str) -> int:
    # the policies' statistics are the registry's: every system's limiters, each named
    limiters = systems[name].policies.limiters
    return sum(x.admitted_by_class.get("reconciliation", 0) for x in limiters if x.system == name)


async def test_a_reconciliation_in_the_real_limits_gets_no_limit_answer_and_spends_its_class() -> (
    None
):
    observed = Observed()
    demo = await run_demo(
        seed=7, size=2, faults=None, say=lambda _: None, then=observed, lift_limits=False
    )
    assert demo.ok, [c.problems for c in demo.checks]
    report = observed.report
    assert report is not None
    assert report.breaks == (), [b.detail for b in report.breaks]
    for name, requests in observed.requests.items():
        assert len(requests) == report.calls[name] > 0, name  # each call one request
        limited = [r for r in requests if r.status == 429 or r.fault is not None]
        assert limited == [], name
    crm = [r for r in observed.requests["salesforce"] if r.status == 403]
    assert crm == []  # Salesforce's limit answer is a 403 REQUEST_LIMIT_EXCEEDED
    for name in ("harvest", "stripe"):
        assert observed.admitted[name] == report.calls[name] > 0
    assert observed.quota is not None
    before, after = observed.quota
    spent = after.spent - before.spent
    assert spent == report.calls["salesforce"] > 0
    assert (
        before.left_by_priority["reconciliation"] - after.left_by_priority["reconciliation"]
        == spent
    )
