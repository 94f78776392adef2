"""The `Stripe-Signature` check: Stripe's own signing (the sandbox's `sign`) passes, with any
of several secrets and several `v1` values; each way a header can be wrong is named, and the
reason never carries a secret or a digest."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from mediator.ingress.stripe_signature import SignatureError, verify_stripe_signature
from mediator.sandbox.stripe.webhooks import sign
from mediator.systems import Secret
from mediator.testing import FakeClock

OLD = "whsec_old_7d1e9a3c5b2f4860"
NEW = "whsec_new_0b8c6e4a2d1f3957"
BODY = b'{"id":"evt_1","type":"invoice.paid"}'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _now(clock: FakeClock) -> int:
    return int(clock.time())


def _reason(header: str | None, clock: FakeClock, body: bytes = BODY, *secrets: str) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_stripe_signature(
            header, body, [Secret(s) for s in (secrets or (NEW,))], clock=clock, tolerance=300
        )
    reason = caught.value.reason
    assert OLD not in reason
    assert NEW not in reason
    return reason


def _v1(secret: str, timestamp: int, body: bytes = BODY) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def test_stripes_signature_is_accepted(clock: FakeClock) -> None:
    header = sign(NEW, BODY, _now(clock))
    assert verify_stripe_signature(header, BODY, [Secret(NEW)], clock=clock) == _now(clock)


def test_either_secret_is_accepted_during_rotation(clock: FakeClock) -> None:
    secrets = [Secret(OLD), Secret(NEW)]
    for secret in (OLD, NEW):
        header = sign(secret, BODY, _now(clock))
        assert verify_stripe_signature(header, BODY, secrets, clock=clock) == _now(clock)


def test_several_v1_values_and_other_schemes_are_read(clock: FakeClock) -> None:
    t = _now(clock)
    # what Stripe sends while an endpoint's secret is rolled: a v1 for each, plus a v0
    header = f"t={t}, v1={_v1('whsec_someone_else', t)}, v1={_v1(NEW, t)}, v0={'0' * 64}"
    assert verify_stripe_signature(header, BODY, [Secret(NEW)], clock=clock) == t


def test_a_signature_within_the_tolerance_either_way_is_accepted(clock: FakeClock) -> None:
    for skew in (-299, 299):
        header = sign(NEW, BODY, _now(clock) + skew)
        verify_stripe_signature(header, BODY, [Secret(NEW)], clock=clock, tolerance=300)


def test_a_missing_header_is_named(clock: FakeClock) -> None:
    assert "missing" in _reason(None, clock)
    assert "missing" in _reason("  ", clock)


@pytest.mark.parametrize(
    "header",
    ["garbage", "t", "=1", "t=1,v1", "t=1,,v1=ab", "v1=" + "a" * 64 + ",=x"],
)
def test_a_malformed_header_is_named(clock: FakeClock, header: str) -> None:
    assert "malformed" in _reason(header, clock)


def test_a_header_without_a_timestamp_is_named(clock: FakeClock) -> None:
    assert "no timestamp" in _reason(f"v1={_v1(NEW, _now(clock))}", clock)


@pytest.mark.parametrize("t", ["abc", "-5", "1.5", "９９", "1" * 40])
def test_a_timestamp_that_is_not_unix_seconds_is_named(clock: FakeClock, t: str) -> None:
    assert "not unix seconds" in _reason(f"t={t},v1={'a' * 64}", clock)


def test_two_timestamps_are_refused(clock: FakeClock) -> None:
    t = _now(clock)
    assert "more than one timestamp" in _reason(f"t={t},t={t},v1={_v1(NEW, t)}", clock)


def test_a_stale_signature_says_by_how_much(clock: FakeClock) -> None:
    header = sign(NEW, BODY, _now(clock))
    later = FakeClock(wall=clock.time() + 301)
    reason = _reason(header, later)
    assert reason == "the signature's timestamp is 301 s old (the tolerance is 300 s)"


def test_a_signature_from_the_future_is_refused(clock: FakeClock) -> None:
    reason = _reason(sign(NEW, BODY, _now(clock) + 3600), clock)
    assert "3600 s in the future" in reason


def test_no_matching_signature(clock: FakeClock) -> None:
    t = _now(clock)
    assert "no v1 signature matches" in _reason(sign("whsec_wrong", BODY, t), clock)
    # the right secret, another body: the check is on the bytes as received
    assert "no v1 signature matches" in _reason(sign(NEW, BODY + b" ", t), clock)
    # a signature by the old secret once only the new one is configured
    assert "no v1 signature matches" in _reason(sign(OLD, BODY, t), clock, BODY, NEW)


def test_no_v1_at_all(clock: FakeClock) -> None:
    assert "no v1 signature" in _reason(f"t={_now(clock)},v0={'0' * 64}", clock)


def test_a_v1_that_is_not_a_hex_digest_is_named(clock: FakeClock) -> None:
    assert "64 hex digits" in _reason(f"t={_now(clock)},v1=xyz", clock)


def test_an_endless_header_is_refused(clock: FakeClock) -> None:
    assert "longer than" in _reason("t=1," + "v1=" + "a" * 64 + "," * 5000, clock)


def test_no_secret_configured_refuses_everything(clock: FakeClock) -> None:
    with pytest.raises(SignatureError, match="no signing secret"):
        verify_stripe_signature(sign(NEW, BODY, _now(clock)), BODY, [], clock=clock)
