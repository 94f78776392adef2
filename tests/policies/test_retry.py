"""Retry decisions: classification by exception, code and status; bounded jittered backoff."""

import math
import random

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.errors import (
    BusinessRejected,
    CircuitOpen,
    ConnectorTimeout,
    ConnectorUnavailable,
    DecodeError,
    QuotaExhausted,
    RemoteRejected,
)
from mediator.policies import Classification, Classifier, RetrySchedule, Verdict
from mediator.testing.error_codes import EVERY_VENDORS_CODES, any_vendors_error_code

RETRY, DEAD, SUCCESS = Verdict.RETRY, Verdict.DEAD, Verdict.SUCCESS
classify = Classifier(codes=EVERY_VENDORS_CODES).classify


@pytest.mark.parametrize(
    ("status", "code", "verdict", "system_failure"),
    [
        (200, None, SUCCESS, False),
        (201, None, SUCCESS, False),
        (422, None, DEAD, False),
        (404, None, DEAD, False),
        (409, None, DEAD, False),
        (429, None, RETRY, False),
        (503, None, RETRY, True),
        (599, None, RETRY, True),
        # Salesforce answers its daily limit with 403, and lock contention with 400/409
        (403, "REQUEST_LIMIT_EXCEEDED", RETRY, False),
        (400, "UNABLE_TO_LOCK_ROW", RETRY, False),
        (400, "INVALID_FIELD", DEAD, False),
        (403, None, DEAD, False),
        # Stripe error.type
        (429, "rate_limit_error", RETRY, False),
        (500, "api_error", RETRY, True),
        (402, "card_error", DEAD, False),
        (400, "invalid_request_error", DEAD, False),
        # Tryton answers JSON-RPC errors with 200 and the exception name
        (200, "ConcurrencyException", RETRY, False),
        (200, "UserError", DEAD, False),
        (200, "AccessError", DEAD, False),
        (200, "SomethingNew", DEAD, False),
    ],
)
def test_classification_by_status_and_body_code(
    status: int, code: str | None, verdict: Verdict, system_failure: bool
) -> None:
    outcome = classify(status=status, code=code)
    assert (outcome.verdict, outcome.system_failure) == (verdict, system_failure)
    assert outcome.reason


def test_request_limit_exceeded_means_the_allowance_is_spent() -> None:
    assert classify(status=403, code="REQUEST_LIMIT_EXCEEDED").exhausted
    assert not classify(status=429, code="rate_limit_error").exhausted


@pytest.mark.parametrize(
    ("error", "verdict", "system_failure"),
    [
        (ConnectorTimeout("harvest", "read"), RETRY, True),
        (ConnectorUnavailable("stripe", "connection refused"), RETRY, True),
        (TimeoutError(), RETRY, True),
        (ConnectionResetError(), RETRY, True),
        (RemoteRejected("salesforce", 400, "INVALID_FIELD"), DEAD, False),
        (RemoteRejected("salesforce", 503), RETRY, True),
        (DecodeError("harvest", "$.hours", "not a number"), DEAD, False),
        (BusinessRejected("project", "not onboarded"), DEAD, False),
        (CircuitOpen("tryton", 4.0), RETRY, False),
        (KeyError("bug"), DEAD, False),
    ],
)
def test_classification_by_exception(
    error: BaseException, verdict: Verdict, system_failure: bool
) -> None:
    outcome = classify(error=error)
    assert (outcome.verdict, outcome.system_failure) == (verdict, system_failure)
    if isinstance(error, BusinessRejected):
        assert outcome.reason == "rejected: project: not onboarded"


def test_a_policy_refusal_carries_its_wait_and_quota_is_exhausted() -> None:
    assert classify(error=CircuitOpen("tryton", 4.0)).retry_after == 4.0
    assert classify(error=QuotaExhausted("salesforce", 1e9)).exhausted


def test_stripe_should_retry_overrides_and_retry_after_is_kept() -> None:
    assert classify(status=409, should_retry=True).verdict is RETRY
    assert classify(status=503, should_retry=False).verdict is DEAD
    assert classify(status=200, should_retry=False).verdict is SUCCESS
    assert classify(status=429, retry_after=7.0).retry_after == 7.0


def test_configured_codes_extend_the_tables() -> None:
    custom = Classifier(
        codes=EVERY_VENDORS_CODES,
        retry_codes={"INVALID_FIELD"},
        system_failure_codes={"INVALID_FIELD"},
    )
    outcome = custom.classify(status=400, code="INVALID_FIELD")
    assert (outcome.verdict, outcome.system_failure) == (RETRY, True)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ([{"message": "bad", "errorCode": "INVALID_FIELD", "fields": ["X"]}], "INVALID_FIELD"),
        ({"error": {"type": "card_error", "code": "card_declined"}}, "card_error"),
        ({"error": {"type": "invalid_request_error", "code": "lock_timeout"}}, "lock_timeout"),
        ({"error": ["UserError", ["msg", "", ""]]}, "UserError"),
        ({"result": 1}, None),
        ("text", None),
    ],
)
def test_error_code_of_each_systems_body(body: object, code: str | None) -> None:
    assert any_vendors_error_code(400, msgspec.json.encode(body)) == code


def _retry(**kwargs: object) -> Classification:
    return Classification(verdict=RETRY, reason="HTTP 503", system_failure=True, **kwargs)  # type: ignore[arg-type]  # test helper forwards keywords


def test_attempts_are_counted_end_to_end() -> None:
    schedule = RetrySchedule(max_attempts=3, random=lambda: 0.5)
    assert schedule.decide(_retry(), attempt=1).verdict is RETRY
    assert schedule.decide(_retry(), attempt=2).verdict is RETRY
    last = schedule.decide(_retry(), attempt=3)
    assert last.verdict is DEAD
    assert "gave up after 3 attempts" in last.reason


def test_deadline_ends_retries_before_it_passes() -> None:
    schedule = RetrySchedule(max_attempts=None, deadline=10.0, random=lambda: 1.0, initial=1.0)
    assert schedule.decide(_retry(), attempt=3, elapsed=5.0).delay == 4.0
    late = schedule.decide(_retry(), attempt=3, elapsed=7.0)
    assert late.verdict is DEAD
    assert "deadline" in late.reason


def test_success_and_dead_outcomes_pass_through() -> None:
    schedule = RetrySchedule()
    assert schedule.decide(classify(status=200), attempt=1).verdict is SUCCESS
    dead = schedule.decide(classify(status=422), attempt=1)
    assert (dead.verdict, dead.delay) == (DEAD, 0.0)


def test_server_wait_is_a_floor_and_beyond_the_cap_it_is_deferred() -> None:
    schedule = RetrySchedule(max_delay=30.0, random=lambda: 0.0)
    assert schedule.decide(_retry(retry_after=12.0), attempt=1).delay == 12.0
    far = schedule.decide(_retry(retry_after=36_000.0), attempt=1)
    assert (far.verdict, far.delay, far.deferred) == (RETRY, 36_000.0, True)
    assert "beyond the 30 s cap" in far.reason


@settings(max_examples=200, deadline=None)
@given(
    initial=st.floats(0.01, 5.0),
    multiplier=st.floats(1.0, 4.0),
    spread=st.floats(1.0, 100.0),
    attempt=st.integers(1, 2000),
    seed=st.integers(0, 2**32),
)
def test_every_backoff_lies_within_its_bounds(
    initial: float, multiplier: float, spread: float, attempt: int, seed: int
) -> None:
    rng = random.Random(seed)
    schedule = RetrySchedule(
        initial=initial,
        multiplier=multiplier,
        max_delay=initial * spread,
        max_attempts=None,
        random=rng.random,
    )
    ceiling = schedule.ceiling(attempt)
    assert ceiling <= schedule.max_delay
    grown_past_cap = (attempt - 1) * math.log(multiplier) >= math.log(spread)
    expected = schedule.max_delay if grown_past_cap else initial * multiplier ** (attempt - 1)
    assert ceiling == pytest.approx(expected)
    decision = schedule.decide(_retry(), attempt=attempt)
    assert decision.verdict is RETRY
    assert not decision.deferred
    assert 0.0 <= decision.delay <= ceiling


def test_a_transport_outcome_on_the_error_is_what_counts() -> None:
    said = Classification(verdict=DEAD, reason="HTTP 500; server says should-retry=false")
    error = RemoteRejected("stripe", 500, "api_error", outcome=said, retry_after=None)
    assert classify(error=error) == said
    waited = RemoteRejected(
        "harvest", 429, outcome=Classification(verdict=RETRY, reason="HTTP 429"), retry_after=9.0
    )
    assert classify(error=waited).retry_after == 9.0
