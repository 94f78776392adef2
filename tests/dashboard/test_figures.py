"""The overview's own arithmetic and drawings: time to drain, the hour's bars, the burn-down."""

from __future__ import annotations

import re

import msgspec

from mediator.admin.models import FlowStatus
from mediator.dashboard.charts import burn_down, minute_bars
from mediator.dashboard.html import age, esc
from mediator.dashboard.overview import backlog, drain_eta


def _flow(**counts: int) -> FlowStatus:
    zero = FlowStatus(
        name="billing", owner="finance", kinds=["x"], accepted=0, in_flight=0, retry_waiting=0,
        due_retries=0, parked=0, dead_letters=0, oldest_pending_age=None, live_entities=0,
        delivered=0, failed=0, last_minute=0, last_15_minutes=0,
    )  # fmt: skip
    return msgspec.structs.replace(zero, **counts)


def test_the_time_to_drain_is_the_backlog_at_the_last_15_minutes_rate() -> None:
    flow = _flow(accepted=50, in_flight=10, retry_waiting=30, parked=7, last_15_minutes=450)
    assert backlog(flow) == 90  # parked entries wait for their dead letter, not for the rate
    assert drain_eta(flow) == 180.0  # 90 at 0.5 a second
    assert drain_eta(_flow(accepted=5)) is None  # nothing moved: no honest estimate
    assert age(drain_eta(flow)) == "3 min"


def test_the_hour_is_one_bar_per_busy_minute_scaled_to_the_busiest() -> None:
    counts = [0] * 57 + [2, 0, 8]
    drawn = minute_bars(counts, label="billing: 10 in the last hour")
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([0-9.]+)"', drawn)]
    assert len(heights) == 2
    assert heights[1] == 34.0  # the busiest minute fills the chart
    assert heights[0] == 8.5
    assert 'role="img"' in drawn
    assert 'aria-label="billing: 10 in the last hour"' in drawn
    assert "<rect" not in minute_bars([0] * 60, label="idle")


def test_the_burn_down_marks_where_each_priority_class_stops() -> None:
    drawn = burn_down(used=50, allowance=100, shares={"backfill": 0.6, "posting": 0.95,
                                                      "cash": 1.0}, label="quota")  # fmt: skip
    assert 'class="used" x="0" y="3" width="90.00"' in drawn  # half of 180
    assert drawn.count('class="share"') == 2  # a class that may spend it all marks nothing
    assert "backfill stops at 60%" in drawn


def test_text_from_outside_cannot_become_markup() -> None:
    assert esc('<script>alert("x")</script>') == "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"
    assert "<script" not in minute_bars([1], label="</svg><script>")
