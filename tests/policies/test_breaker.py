"""The circuit breaker: trips, growing open times, probes, and only legal transitions."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.errors import CircuitOpen
from mediator.policies import BreakerState, CircuitBreaker, Classifier
from mediator.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
classify = Classifier().classify


def _breaker(clock: FakeClock, **kwargs: object) -> CircuitBreaker:
    options: dict[str, object] = {"consecutive_failures": 3, "min_calls": 10, "open_for": 5.0}
    options.update(kwargs)
    return CircuitBreaker("tryton", clock=clock, **options)  # type: ignore[arg-type]  # test helper forwards keywords


async def test_trips_on_consecutive_failures_and_refuses_with_the_time_left() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.allow()
        breaker.record(classify(status=503))
    assert breaker.state is OPEN
    await clock.advance(2.0)
    with pytest.raises(CircuitOpen) as caught:
        breaker.allow()
    assert (caught.value.system, caught.value.retry_after) == ("tryton", 3.0)


async def test_trips_on_failure_rate_once_the_window_has_min_calls() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, consecutive_failures=100, failure_rate=0.5, min_calls=6)
    for failed in (True, False, True, False, True):
        breaker.record_failure() if failed else breaker.record_success()
    assert breaker.state is CLOSED  # 3 of 5, below min_calls
    breaker.record_failure()
    assert breaker.state is OPEN
    assert breaker.statistics().trips == 1


async def test_old_calls_leave_the_sliding_window() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, consecutive_failures=100, min_calls=4, window=10.0)
    for _ in range(3):
        breaker.record_failure()
    await clock.advance(11.0)
    breaker.record_failure()
    assert breaker.state is CLOSED
    assert breaker.statistics().window_calls == 1


async def test_validation_errors_and_locks_do_not_trip_it() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    for _ in range(10):
        breaker.record(classify(status=422))
        breaker.record(classify(status=403, code="UNABLE_TO_LOCK_ROW"))
        breaker.record(classify(status=429))
    assert breaker.state is CLOSED


async def test_half_open_allows_limited_probes_and_closes_after_they_succeed() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, half_open_probes=2)
    breaker.force_open(5.0)
    await clock.advance(5.0)
    assert breaker.state is HALF_OPEN
    breaker.allow()
    breaker.allow()
    with pytest.raises(CircuitOpen):
        breaker.allow()
    breaker.record_success()
    assert breaker.state is HALF_OPEN
    breaker.record_success()
    assert breaker.state is CLOSED


async def test_open_time_grows_on_repeated_trips_up_to_the_cap() -> None:
    clock = FakeClock()
    breaker = _breaker(clock, open_for=5.0, max_open_for=30.0, growth=2.0)
    for _ in range(3):
        breaker.record_failure()
    opened = []
    for _ in range(4):
        opened.append(breaker.statistics().open_for)
        await clock.advance(breaker.statistics().retry_after)
        breaker.allow()  # the probe
        breaker.record_failure()
    assert opened == [5.0, 10.0, 20.0, 30.0]


async def test_a_released_probe_frees_its_slot() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    breaker.force_open(1.0)
    await clock.advance(1.0)
    breaker.allow()
    breaker.release()
    breaker.allow()
    assert breaker.statistics().probes_in_flight == 1


_LEGAL = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}
_OPS = st.sampled_from(["allow", "success", "failure", "release", "force", "wait"])


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(_OPS, st.floats(0.0, 20.0)), max_size=60))
def test_only_legal_transitions(steps: list[tuple[str, float]]) -> None:
    asyncio.run(_walk(steps))


async def _walk(steps: list[tuple[str, float]]) -> None:
    clock = FakeClock()
    moves: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(
        "p",
        clock=clock,
        consecutive_failures=2,
        min_calls=3,
        open_for=2.0,
        max_open_for=10.0,
        half_open_probes=2,
        on_change=lambda old, new: moves.append((old, new)),
    )
    for op, amount in steps:
        before = breaker.state
        if op == "allow":
            refused = _refusal(breaker)
            if refused is not None:
                assert breaker.state is not CLOSED
                assert refused.retry_after > 0
        elif op == "success":
            breaker.record_success()
        elif op == "failure":
            breaker.record_failure()
        elif op == "release":
            breaker.release()
        elif op == "force":
            breaker.force_open(amount + 0.1)
            assert breaker.state is OPEN
        else:
            await clock.advance(amount)
        stats = breaker.statistics()
        assert 0 <= stats.probes_in_flight <= 2
        assert stats.state is breaker.state
        assert before is breaker.state or (before, breaker.state) in _LEGAL
    assert all(move in _LEGAL for move in moves), moves


def _refusal(breaker: CircuitBreaker) -> CircuitOpen | None:
    try:
        breaker.allow()
    except CircuitOpen as refused:
        return refused
    return None
