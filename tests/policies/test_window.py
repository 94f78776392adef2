"""The finance calendar: days, hours, blackouts in a zone; approval rules."""

import datetime as dt

import pytest

from mediator.errors import PostingWindowClosed
from mediator.journal.retry_or_dead import default_decider
from mediator.outcomes import Verdict
from mediator.policies import ApprovalRule, ApprovalRules, PostingWindow

PARIS = dt.timezone(dt.timedelta(hours=1))  # CET, for readable expectations in winter


def _t(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS).timestamp()


def _window(**kwargs: object) -> PostingWindow:
    options: dict[str, object] = {
        "zone": "Europe/Paris",
        "weekdays": (0, 1, 2, 3, 4),
        "opens": "08:00",
        "closes": "18:00",
    }
    options.update(kwargs)
    return PostingWindow("finance", **options)  # type: ignore[arg-type]  # test helper forwards keywords


def test_open_on_working_hours_of_working_days() -> None:
    window = _window()
    assert window.is_open(_t(2026, 1, 7, 9, 0))  # a Wednesday
    assert not window.is_open(_t(2026, 1, 7, 18, 0))
    assert not window.is_open(_t(2026, 1, 10, 9, 0))  # a Saturday


def test_next_open_skips_evenings_and_weekends() -> None:
    window = _window()
    assert window.next_open(_t(2026, 1, 7, 6, 30)) == _t(2026, 1, 7, 8, 0)
    assert window.next_open(_t(2026, 1, 9, 19, 0)) == _t(2026, 1, 12, 8, 0)  # Fri -> Mon
    assert window.next_open(_t(2026, 1, 7, 9, 0)) == _t(2026, 1, 7, 9, 0)


def test_blackout_for_period_close_moves_the_next_opening_past_it() -> None:
    window = _window(blackouts=[("2026-01-29T18:00", "2026-02-03T12:00")])
    assert window.next_open(_t(2026, 1, 30, 9, 0)) == _t(2026, 2, 3, 12, 0)
    with pytest.raises(PostingWindowClosed) as caught:
        window.check(_t(2026, 2, 2, 10, 0))
    assert caught.value.opens_at == _t(2026, 2, 3, 12, 0)
    # the delivery is retried when the window opens, not on the usual backoff
    assert caught.value.retry_after == _t(2026, 2, 3, 12, 0) - _t(2026, 2, 2, 10, 0)
    decision = default_decider()(caught.value, 1, 0.0)
    assert decision.verdict is Verdict.RETRY
    assert decision.delay == caught.value.retry_after
    window.check(_t(2026, 2, 3, 12, 0))


def test_hours_follow_the_zone_across_dst() -> None:
    window = _window(weekdays=range(7))
    summer = dt.datetime(2026, 7, 1, 6, 0, tzinfo=dt.UTC).timestamp()  # 08:00 in Paris (CEST)
    assert window.next_open(summer - 60) == summer


def test_a_window_with_no_days_never_opens() -> None:
    window = _window(weekdays=())
    assert window.next_open(_t(2026, 1, 7, 9, 0)) is None
    with pytest.raises(PostingWindowClosed) as caught:
        window.check(_t(2026, 1, 7, 9, 0))
    assert "never opens" in str(caught.value)


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="after opens"):
        _window(opens="18:00", closes="08:00")
    with pytest.raises(ValueError, match="HH:MM"):
        _window(opens="8am")
    with pytest.raises(ValueError, match="ends before"):
        _window(blackouts=[("2026-02-03", "2026-02-01")])


def test_approval_rules_hold_large_invoices_of_their_kinds() -> None:
    rules = ApprovalRules(
        [
            ApprovalRule(
                name="large", kinds=frozenset({"customer_invoice"}), amount_at_least=5_000_000
            ),
            ApprovalRule(name="credit-notes", kinds=frozenset({"credit_note"})),
        ]
    )
    assert rules.hold_reason(kind="customer_invoice", amount=4_999_999, currency="EUR") is None
    reason = rules.hold_reason(kind="customer_invoice", amount=5_000_000, currency="EUR")
    assert reason is not None
    assert "large" in reason
    assert rules.hold_reason(kind="credit_note", amount=1, currency="EUR") is not None
    assert rules.hold_reason(kind="payment", amount=10**9, currency="EUR") is None


def test_an_approval_rule_can_be_for_one_currency() -> None:
    rule = ApprovalRule(name="usd", amount_at_least=100, currency="USD")
    assert rule.matches(kind="x", amount=100, currency="USD")
    assert not rule.matches(kind="x", amount=100, currency="EUR")


def test_next_close_is_the_end_of_the_day_or_a_blackout_or_now_when_closed() -> None:
    window = _window(blackouts=[("2026-01-07T12:00", "2026-01-07T13:00")])
    assert window.next_close(_t(2026, 1, 6, 9, 0)) == _t(2026, 1, 6, 18, 0)  # Tuesday
    assert window.next_close(_t(2026, 1, 7, 9, 0)) == _t(2026, 1, 7, 12, 0)  # blackout first
    assert window.next_close(_t(2026, 1, 7, 12, 30)) == _t(2026, 1, 7, 12, 30)  # closed now
    assert window.next_close(_t(2026, 1, 10, 9, 0)) == _t(2026, 1, 10, 9, 0)  # a Saturday
    for t in (_t(2026, 1, 6, 9, 0), _t(2026, 1, 7, 13, 0), _t(2026, 1, 9, 17, 59)):
        close = window.next_close(t)
        assert close is not None
        assert window.is_open(close - 1)
        assert not window.is_open(close)


def test_next_close_runs_over_midnight_while_the_next_day_opens_at_once() -> None:
    window = _window(opens="00:00", closes="24:00")
    # Monday 9:00 to Saturday 00:00: the working week is one stretch
    assert window.next_close(_t(2026, 1, 5, 9, 0)) == _t(2026, 1, 10, 0, 0)
    always = _window(opens="00:00", closes="24:00", weekdays=range(7))
    assert always.next_close(_t(2026, 1, 5, 9, 0)) is None
