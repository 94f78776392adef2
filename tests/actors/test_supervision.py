"""Supervision: restart strategies, backoff on the clock, escalation, failures in on_start."""

from __future__ import annotations

import asyncio
import random

import pytest

from mediator.actors import (
    Actor,
    Restart,
    RestartWithBackoff,
    Stop,
    SupervisorEscalated,
    open_supervisor,
)
from mediator.testing import FakeClock

from .support import Boom, Recorder, wait_until


class Flaky(Actor[str]):
    """Fails on "boom"; counts its incarnations in a shared list."""

    def __init__(self, starts: list[float], clock: FakeClock | None = None) -> None:
        self.starts = starts
        self.clock = clock
        self.failed: list[tuple[object, str]] = []

    async def on_start(self) -> None:
        self.starts.append(self.clock.monotonic() if self.clock else 0.0)

    async def receive(self, message: str) -> object:
        if message == "boom":
            raise RuntimeError("boom")
        return message


async def test_restart_keeps_the_mailbox_and_calls_on_failure_with_the_message() -> None:
    starts: list[float] = []
    failures: list[tuple[object, str]] = []
    handled: list[object] = []

    class Watched(Flaky):
        async def on_failure(self, message: object, exc: Exception) -> None:
            failures.append((message, str(exc)))

        async def receive(self, message: str) -> object:
            result = await super().receive(message)
            handled.append(result)
            return result

    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Watched(starts), name="w", strategy=Restart())
        for msg in ["a", "boom", "b", "c"]:
            await ref.tell(msg)
        await wait_until(lambda: ref.statistics().processed == 3, what="a, b and c handled")
        stats = ref.statistics()
    assert handled == ["a", "b", "c"]
    assert failures == [("boom", "boom")]
    assert len(starts) == 2
    assert (stats.failures, stats.restarts, stats.processed) == (1, 1, 3)


async def test_restart_with_backoff_waits_the_growing_delays_on_the_clock() -> None:
    clock = FakeClock()
    starts: list[float] = []
    strategy = RestartWithBackoff(
        min_backoff=1, max_backoff=4, jitter=0.0, reset_after=100, rng=random.Random(1)
    )
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Flaky(starts, clock), name="b", strategy=strategy)
        await wait_until(lambda: len(starts) >= 1, what="the actor started")
        for _ in range(4):
            await ref.tell("boom")
        await clock.wait_for_timers()  # the first restart, backing off on the clock
        assert starts == [0.0]
        for expected in (1.0, 3.0, 7.0, 11.0):  # delays 1, 2, 4, then capped at 4
            await clock.advance_to_next()
            assert starts[-1] == expected
        assert ref.statistics().restarts == 4


async def test_backoff_resets_after_a_quiet_period_and_jitter_stays_in_bounds() -> None:
    clock = FakeClock()
    starts: list[float] = []
    strategy = RestartWithBackoff(
        min_backoff=1, max_backoff=8, jitter=0.5, reset_after=50, rng=random.Random(7)
    )
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Flaky(starts, clock), name="j", strategy=strategy)
        await ref.tell("boom")
        await ref.tell("boom")
        await clock.wait_for_timers()  # the first restart, backing off on the clock
        await clock.advance(1.5)
        await clock.advance(3.0)
        first, second = starts[1] - 0.0, starts[2] - starts[1]
        assert 1 <= first <= 1.5
        assert 2 <= second <= 3.0
        await clock.advance(100)
        await ref.tell("boom")
        await clock.wait_for_timers()  # the restart, backing off on the clock
        before = clock.monotonic()
        await clock.advance_to_next()
        assert 1 <= starts[-1] - before <= 1.5  # back to the minimum


async def test_max_restarts_within_window_escalates_to_the_root() -> None:
    starts: list[float] = []
    refs = []

    async def run() -> None:
        async with open_supervisor() as sup:
            fragile = sup.spawn(
                lambda: Flaky(starts), name="fragile", strategy=Restart(max_restarts=2, within=60)
            )
            refs.append(sup.spawn(lambda: Recorder([]), name="sibling"))
            for _ in range(3):
                await fragile.tell("boom")
            await asyncio.Event().wait()  # the escalation cancels the body

    with pytest.raises(SupervisorEscalated) as info:
        await run()
    assert info.value.child == "fragile"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert len(starts) == 3  # first start and two restarts, then the third failure escalates
    assert refs[0].statistics().stopped


async def test_child_supervisor_escalation_restarts_its_subtree_and_spares_siblings() -> None:
    starts: list[float] = []
    sibling_log: list[object] = []
    async with open_supervisor() as root:
        team = root.spawn_supervisor(name="team", strategy=Restart())
        ref = team.spawn(lambda: Flaky(starts), name="member", strategy=Stop())
        team.spawn(lambda: Flaky(starts), name="other", strategy=Stop())
        sibling = root.spawn(lambda: Recorder(sibling_log), name="sibling")
        await wait_until(lambda: len(starts) >= 2, what="member and other started")
        assert len(starts) == 2
        # Stop() never escalates; a strategy that does: at most 0 restarts.
        crash = team.spawn(
            lambda: Flaky(starts), name="crash", strategy=Restart(max_restarts=0, within=1)
        )
        await crash.tell("boom")
        await wait_until(lambda: len(starts) >= 6, what="crash started, then the team restarted")
        await sibling.tell("still here")
        await wait_until(lambda: len(sibling_log) >= 1, what="the sibling handling its message")
        assert team.statistics().escalations == 1
        assert len(starts) == 2 + 1 + 3  # crash's first start, then the team of three again
        assert ref.statistics().stopped  # old refs point at the stopped incarnation
    assert sibling_log == ["still here"]


async def test_failure_in_on_start_is_supervised_like_a_message_failure() -> None:
    attempts: list[int] = []
    failures: list[object] = []

    class BadStart(Actor[str]):
        async def on_start(self) -> None:
            attempts.append(1)
            if len(attempts) < 3:
                raise ConnectionError("no database yet")

        async def on_failure(self, message: object, exc: Exception) -> None:
            failures.append((message, type(exc).__name__))

        async def receive(self, message: str) -> object:
            return f"ok {message}"

    async with open_supervisor() as sup:
        ref = sup.spawn(BadStart, name="bad-start", strategy=Restart(max_restarts=5))
        assert await ref.ask("x") == "ok x"
    assert len(attempts) == 3
    assert failures == [(None, "ConnectionError"), (None, "ConnectionError")]


async def test_failure_in_on_start_with_stop_strategy_stops_only_that_actor() -> None:
    class NeverStarts(Actor[str]):
        async def on_start(self) -> None:
            raise RuntimeError("misconfigured")

    log: list[object] = []
    async with open_supervisor() as sup:
        broken = sup.spawn(NeverStarts, name="broken")
        healthy = sup.spawn(lambda: Recorder(log), name="healthy")
        await broken.wait_stopped()
        assert await healthy.ask("fine") == "fine"
        assert sup.statistics().failures == 1


async def test_a_bug_is_logged_with_its_traceback_an_expected_failure_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mediator.errors import BusinessRejected

    class Mixed(Actor[str]):
        async def receive(self, message: str) -> object:
            if message == "rejected":
                raise BusinessRejected("invoice", "over the approval limit")
            raise KeyError("bug")

    async with open_supervisor() as sup:
        ref = sup.spawn(Mixed, name="mixed", strategy=Restart())
        await ref.tell("rejected")
        await ref.tell("bug")
        await wait_until(
            lambda: sum("failed" in r.getMessage() for r in caplog.records) >= 2,
            what="both failures logged",
        )
    rejected, bug = (r for r in caplog.records if "failed" in r.getMessage())
    assert rejected.exc_info is None
    assert bug.exc_info is not None
    assert bug.exc_info[0] is KeyError


async def test_escalation_while_the_root_drains_raises_supervisor_escalated() -> None:
    gate = asyncio.Event()
    blocked: list[object] = []

    async def run() -> None:
        async with open_supervisor() as sup:
            ref = sup.spawn(Boom, name="boom", strategy=Restart(max_restarts=0))
            blocker = sup.spawn(lambda: Recorder(blocked, gate), name="blocker")
            await blocker.tell("wait")
            await wait_until(lambda: blocker.statistics().depth == 0, what="'wait' in receive")
            await ref.tell("late")  # fails only once the block is being left
            gate.set()

    with pytest.raises(SupervisorEscalated) as info:
        await run()
    assert info.value.child == "boom"
    assert blocked == ["wait"]


async def test_restarting_an_actor_whose_on_start_keeps_failing_lets_the_loop_run() -> None:
    turns = 0
    seen: list[int] = []  # the loop turn at each attempt to start

    class NeverReady(Actor[str]):
        async def on_start(self) -> None:
            seen.append(turns)
            if len(seen) < 20:
                raise ConnectionError("not yet")

        async def receive(self, message: str) -> object:
            return message

    async def tick() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async with open_supervisor() as sup:
        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0)
        ref = sup.spawn(NeverReady, name="never-ready", strategy=Restart())
        assert await ref.ask("up") == "up"
        ticker.cancel()
    assert len(seen) == 20
    assert seen[-1] > seen[0]  # other tasks ran between the attempts
