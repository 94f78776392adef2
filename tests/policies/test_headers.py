"""Every limit-header format the connectors meet, and malformed ones (logged, never raised)."""

import logging

import pytest

from mediator.policies import LimitHint, parse_limit_headers

NOW = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def test_retry_after_in_seconds() -> None:
    assert parse_limit_headers({"Retry-After": "120"}, now=NOW).retry_after == 120.0


def test_retry_after_as_http_date_is_relative_to_now() -> None:
    hint = parse_limit_headers({"retry-after": "Mon, 21 Sep 2026 14:15:20 GMT"}, now=NOW)
    assert hint.retry_after == 120.0


def test_retry_after_date_in_the_past_means_now() -> None:
    hint = parse_limit_headers({"Retry-After": "Mon, 21 Sep 2026 14:00:00 GMT"}, now=NOW)
    assert hint.retry_after == 0.0


def test_ietf_list_form_picks_the_tightest_policy_and_its_quota() -> None:
    headers = {
        "RateLimit": '"burst";r=80;t=10, "daily";r=5;t=3600',
        "RateLimit-Policy": '"burst";q=100;w=60, "daily";q=1000;w=86400',
    }
    hint = parse_limit_headers(headers, now=NOW)
    assert (hint.remaining, hint.reset_after, hint.limit, hint.window) == (5, 3600.0, 1000, 86400.0)


def test_ietf_policy_alone_gives_the_limit() -> None:
    hint = parse_limit_headers({"RateLimit-Policy": '"default";q=100;w=15'}, now=NOW)
    assert (hint.limit, hint.window, hint.remaining) == (100, 15.0, None)


def test_ietf_dictionary_form_of_drafts_07_08() -> None:
    headers = {"RateLimit": "limit=100, remaining=7, reset=4", "RateLimit-Policy": "100;w=15"}
    hint = parse_limit_headers(headers, now=NOW)
    assert (hint.limit, hint.remaining, hint.reset_after, hint.window) == (100, 7, 4.0, 15.0)


def test_ratelimit_limit_remaining_reset_of_drafts_up_to_06() -> None:
    headers = {
        "RateLimit-Limit": "100, 100;w=15",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "9",
    }
    hint = parse_limit_headers(headers, now=NOW)
    assert (hint.limit, hint.window, hint.remaining, hint.reset_after) == (100, 15.0, 0, 9.0)


def test_x_ratelimit_reset_as_epoch_or_as_seconds() -> None:
    epoch = {
        "X-RateLimit-Limit": "5000",
        "X-RateLimit-Remaining": "1",
        "X-RateLimit-Reset": str(int(NOW) + 30),
    }
    assert parse_limit_headers(epoch, now=NOW).reset_after == 30.0
    delta = {"x-ratelimit-remaining": "1", "x-ratelimit-reset": "30"}
    assert parse_limit_headers(delta, now=NOW).reset_after == 30.0


def test_newer_format_wins_over_older_for_the_same_figure() -> None:
    headers = {"RateLimit": '"d";r=3;t=1', "X-RateLimit-Remaining": "50"}
    assert parse_limit_headers(headers, now=NOW).remaining == 3


def test_salesforce_api_usage_and_per_app_usage() -> None:
    headers = {"Sforce-Limit-Info": "api-usage=25/5000, per-app-api-usage=17/250(appName=mediator)"}
    hint = parse_limit_headers(headers, now=NOW)
    assert (hint.usage_used, hint.usage_max) == (25, 5000)


def test_stripe_should_retry() -> None:
    assert parse_limit_headers({"Stripe-Should-Retry": "false"}, now=NOW).should_retry is False
    assert parse_limit_headers({"Stripe-Should-Retry": "true"}, now=NOW).should_retry is True


def test_no_limit_headers_is_an_empty_hint() -> None:
    hint = parse_limit_headers({"Content-Type": "application/json"}, now=NOW)
    assert hint.empty
    assert hint == LimitHint()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Retry-After", "soon"),
        ("Retry-After", "-5"),
        ("Retry-After", "1.5e3"),
        ("RateLimit", '"default";t=30'),
        ("RateLimit", '"default";r=-1'),
        ("RateLimit", '"unterminated;r=1'),
        ("RateLimit", "limit=10, remaining=?2"),
        ("RateLimit-Policy", '"p";w=10'),
        ("RateLimit-Policy", ""),
        ("RateLimit-Limit", "many"),
        ("RateLimit-Remaining", "1.5"),
        ("X-RateLimit-Reset", "-3"),
        ("X-RateLimit-Limit", "10,"),
        ("Sforce-Limit-Info", "api-usage=lots"),
        ("Sforce-Limit-Info", "api-usage=1/0"),
        ("Sforce-Limit-Info", "per-app-api-usage=1/2(appName=x)"),
        ("Stripe-Should-Retry", "maybe"),
    ],
)
def test_malformed_header_is_ignored_with_a_warning(
    name: str, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="mediator.policies"):
        hint = parse_limit_headers({name: value, "X-Other": "kept"}, now=NOW)
    assert hint == LimitHint()
    assert any(name.lower() in record.getMessage() for record in caplog.records)


def test_one_malformed_header_does_not_hide_the_others(caplog: pytest.LogCaptureFixture) -> None:
    headers = {"Retry-After": "later", "X-RateLimit-Remaining": "4"}
    with caplog.at_level(logging.WARNING, logger="mediator.policies"):
        hint = parse_limit_headers(headers, now=NOW)
    assert (hint.retry_after, hint.remaining) == (None, 4)
    assert len(caplog.records) == 1
