"""Races found in review: cancelled senders, stops mid-batch, escalation while closing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from mediator.actors import (
    Actor,
    BatchActor,
    Restart,
    RestartWithBackoff,
    SupervisorEscalated,
    open_entity_registry,
    open_supervisor,
)
from mediator.errors import ActorStopped
from mediator.testing import FakeClock

from .support import Recorder, settle


async def test_a_sender_cancelled_while_blocked_is_not_admitted_when_room_frees() -> None:
    gate = asyncio.Event()
    handled: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="r", mailbox_size=1)
        await ref.tell(1)
        await settle()  # 1 is in receive
        await ref.tell(2)  # queued: the mailbox is full
        sender = asyncio.create_task(ref.tell(3))
        await settle()
        assert ref.statistics().blocked_senders == 1
        # The actor wakes before the sender's task sees its cancellation.
        gate.set()
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender
        await settle()
        assert handled == [1, 2]
        await ref.tell(4)
        await settle()
        assert handled == [1, 2, 4]
        assert not ref.statistics().stopped


async def test_a_cancelled_ask_waiting_for_room_leaves_nothing_behind() -> None:
    gate = asyncio.Event()
    handled: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="r", mailbox_size=1)
        await ref.tell(1)
        await settle()
        await ref.tell(2)
        asking = asyncio.create_task(ref.ask(3))
        await settle()
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        await settle()
        assert ref.statistics().blocked_senders == 0
        gate.set()
        await settle()
    assert handled == [1, 2]


class Lingering(BatchActor[int]):
    linger = 5.0

    async def receive_batch(self, messages: Sequence[int]) -> Sequence[object]:
        return list(messages)


async def test_an_ask_taken_into_a_lingering_batch_fails_when_the_actor_is_stopped() -> None:
    clock = FakeClock()
    async with open_supervisor(clock=clock, stop_timeout=0.01) as sup:
        ref = sup.spawn(Lingering, name="linger")
        asking = asyncio.create_task(ref.ask(1, timeout=60))
        await clock.wait_for_timers(2)  # the ask's deadline and the linger
    await settle()
    assert asking.done()
    with pytest.raises(ActorStopped):
        await asking


class Boom(Actor[str]):
    async def receive(self, message: str) -> object:
        raise RuntimeError(message)


async def test_escalation_while_the_root_drains_raises_supervisor_escalated() -> None:
    # Boom is referenced here so that this test keeps its actor class.
    gate = asyncio.Event()
    blocked: list[object] = []

    async def run() -> None:
        async with open_supervisor() as sup:
            ref = sup.spawn(Boom, name="boom", strategy=Restart(max_restarts=0))
            blocker = sup.spawn(lambda: Recorder(blocked, gate), name="blocker")
            await blocker.tell("wait")
            await settle()
            await ref.tell("late")  # fails only once the block is being left
            gate.set()

    with pytest.raises(SupervisorEscalated) as info:
        await run()
    assert info.value.child == "boom"
    assert blocked == ["wait"]


async def test_a_child_supervisor_restart_pending_at_close_does_not_outlive_the_root() -> None:
    clock = FakeClock()

    async def scenario() -> None:
        async with open_supervisor(clock=clock) as sup:
            child = sup.spawn_supervisor(
                name="child", strategy=RestartWithBackoff(min_backoff=5, jitter=0)
            )
            ref = child.spawn(Boom, name="boom", strategy=Restart(max_restarts=0))
            await ref.tell("fail")
            await ref.wait_stopped()
            await settle()

    await asyncio.wait_for(scenario(), timeout=5)  # a guard: a leftover task hangs the exit


async def test_no_entity_is_spawned_after_the_registry_block_is_left() -> None:
    handled: list[object] = []
    async with open_supervisor() as sup:
        async with open_entity_registry(
            sup, lambda key: Recorder(handled), idle_timeout=None
        ) as registry:
            await registry.tell("a", 1)
            await settle()
        with pytest.raises(ActorStopped):
            await registry.tell("a", 2)
        assert sup.statistics().children == 0
    assert handled == [1]


class Gated(Actor[str]):
    def __init__(self, handled: list[str], gate: asyncio.Event) -> None:
        self.handled = handled
        self.gate = gate

    async def receive(self, message: str) -> object:
        if message == "block":
            await self.gate.wait()
        self.handled.append(message)
        return message


async def test_an_ask_waiting_for_room_in_an_evicted_entity_goes_to_its_successor() -> None:
    gate = asyncio.Event()
    handled: list[str] = []
    async with (
        open_supervisor() as sup,
        open_entity_registry(
            sup, lambda key: Gated(handled, gate), idle_timeout=None, max_live=1, mailbox_size=1
        ) as registry,
    ):
        a = registry.ref_for("a")
        assert await a.ask("first") == "first"
        await a.tell("block")
        await settle()
        await a.tell("queued")
        asking = asyncio.create_task(a.ask("asked"))
        await settle()
        await registry.tell("b", "evicts a")
        gate.set()
        assert await asking == "asked"
    assert handled.index("asked") > handled.index("queued")


class SlowToStop(Actor[str]):
    def __init__(self, never: asyncio.Event) -> None:
        self.never = never

    async def receive(self, message: str) -> object:
        return message

    async def on_stop(self) -> None:
        await self.never.wait()


async def test_an_actor_cancelled_in_on_stop_at_the_deadline_is_still_reported_stopped() -> None:
    async with open_supervisor(stop_timeout=0.01) as sup:
        ref = sup.spawn(lambda: SlowToStop(asyncio.Event()), name="slow")
        assert await ref.ask("hi") == "hi"
    assert ref.statistics().stopped
    await asyncio.wait_for(ref.wait_stopped(), timeout=1)  # a guard, not a wait for state
    assert sup.statistics().children == 0
    assert sup.statistics().processed == 1


class StuckOnFailure(BatchActor[int]):
    async def receive_batch(self, messages: Sequence[int]) -> Sequence[object]:
        return [ValueError(f"bad {m}") if m < 0 else m for m in messages]

    async def on_failure(self, message: object, exc: Exception) -> None:
        await asyncio.Event().wait()  # a hook that never returns: cancelled at the stop deadline


async def test_replies_in_a_batch_do_not_wait_for_on_failure_of_an_earlier_item() -> None:
    clock = FakeClock()
    async with open_supervisor(clock=clock, stop_timeout=0.01) as sup:
        ref = sup.spawn(StuckOnFailure, name="stuck")
        failing = asyncio.create_task(ref.ask(-1, timeout=60))
        fine = asyncio.create_task(ref.ask(2, timeout=60))  # queued with -1: one batch
        with pytest.raises(ValueError, match="bad -1"):
            await failing
        assert await asyncio.wait_for(fine, timeout=1) == 2  # a guard, the reply is due now


async def _ask_cancelled_after(turns: int) -> tuple[bool, BaseException | object]:
    """Cancel an ask waiting for room `turns` loop turns into advancing past its deadline."""
    clock = FakeClock()
    gate = asyncio.Event()
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Recorder([], gate), name="full", mailbox_size=1)
        await ref.tell(1)
        await settle()
        await ref.tell(2)
        asking = asyncio.create_task(ref.ask(3, timeout=1))
        await clock.wait_for_timers()

        async def cancel_later() -> bool:
            for _ in range(turns):
                await asyncio.sleep(0)
            return asking.cancel()

        canceller = asyncio.create_task(cancel_later())
        await clock.advance(1)
        (outcome,) = await asyncio.gather(asking, return_exceptions=True)
        gate.set()
        return await canceller, outcome


async def test_an_ask_cancelled_as_its_wait_for_room_times_out_raises_cancelled_error() -> None:
    # At each loop turn around the deadline: whenever the cancel lands before the ask has
    # finished, the ask must end cancelled (a swallowed cancel came back as AskTimeout).
    for turns in range(40):
        cancelled, outcome = await _ask_cancelled_after(turns)
        if cancelled:
            assert isinstance(outcome, asyncio.CancelledError), (turns, outcome)


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


async def test_a_child_supervisor_made_while_the_root_closes_spawns_nothing() -> None:
    outcome: list[str] = []

    async def scenario() -> None:
        async with open_supervisor() as sup:

            class Spawner(Actor[str]):
                async def receive(self, message: str) -> object:
                    try:
                        team = sup.spawn_supervisor(name="late")
                        team.spawn(lambda: Recorder([]), name="late-member")
                    except ActorStopped:
                        outcome.append("refused")
                    return message

            gate = asyncio.Event()
            blocker = sup.spawn(lambda: Recorder([], gate), name="blocker")
            spawner = sup.spawn(Spawner, name="spawner")
            await blocker.tell("hold")
            await settle()
            await spawner.tell("spawn while draining")
            gate.set()

    await asyncio.wait_for(scenario(), timeout=5)  # a guard: an unowned actor hangs the exit
    assert outcome == ["refused"]
