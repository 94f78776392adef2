"""Lifetimes nest: on_stop runs, and nothing outlives or starts after its supervisor or registry."""

from __future__ import annotations

import asyncio

import pytest

from mediator.actors import (
    Actor,
    Restart,
    RestartWithBackoff,
    open_entity_registry,
    open_supervisor,
)
from mediator.errors import ActorStopped
from mediator.testing import FakeClock

from .support import Boom, Recorder, wait_until


def _runtime_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_no_task_of_the_runtime_outlives_the_supervisor() -> None:
    before = _runtime_tasks()
    stops: list[str] = []

    class Noted(Recorder):
        async def on_stop(self) -> None:
            stops.append(self.name)

    async with open_supervisor() as sup:
        refs = [sup.spawn(lambda: Noted([]), name=f"a{i}") for i in range(50)]
        team = sup.spawn_supervisor(name="team")
        refs.append(team.spawn(lambda: Noted([]), name="nested"))
        async with open_entity_registry(sup, lambda key: Noted([]), idle_timeout=60) as reg:
            for i in range(100):
                await reg.tell(f"k{i}", i)
            await wait_until(
                lambda: sup.statistics().processed == 100, what="each entity handling its message"
            )
            assert len(_runtime_tasks() - before) > 150
    assert _runtime_tasks() - before == set()
    assert len(stops) == 50 + 1 + 100
    assert all(r.statistics().stopped for r in refs)


async def test_on_stop_runs_on_restart_and_at_the_end() -> None:
    events: list[str] = []

    class Life(Actor[str]):
        async def on_start(self) -> None:
            events.append("start")

        async def receive(self, message: str) -> object:
            if message == "boom":
                raise RuntimeError(message)
            events.append(message)
            return None

        async def on_stop(self) -> None:
            events.append("stop")

    async with open_supervisor() as sup:
        ref = sup.spawn(Life, name="life", strategy=Restart())
        await ref.tell("a")
        await ref.tell("boom")
        await ref.tell("b")
        await wait_until(lambda: ref.statistics().processed == 2, what="a and b handled")
    assert events == ["start", "a", "stop", "start", "b", "stop"]


async def test_leaving_the_registry_block_stops_its_entities_first() -> None:
    stopped: list[str] = []

    class Noted(Recorder):
        async def on_stop(self) -> None:
            stopped.append(self.name)

    async with open_supervisor() as sup:
        async with open_entity_registry(sup, lambda key: Noted([]), idle_timeout=None) as reg:
            for i in range(5):
                await reg.tell(f"k{i}", i)
        assert sorted(stopped) == [f"entity:k{i}" for i in range(5)]
        assert (reg.statistics().live, reg.statistics().peak_live) == (0, 5)
        assert sup.statistics().children == 0


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
            await clock.wait_for_timers()  # the child's restart, backing off on the clock

    await asyncio.wait_for(scenario(), timeout=5)  # a guard: a leftover task hangs the exit


async def test_no_entity_is_spawned_after_the_registry_block_is_left() -> None:
    handled: list[object] = []
    async with open_supervisor() as sup:
        async with open_entity_registry(
            sup, lambda key: Recorder(handled), idle_timeout=None
        ) as registry:
            await registry.tell("a", 1)
            await wait_until(lambda: handled == [1], what="entity a handling 1")
        with pytest.raises(ActorStopped):
            await registry.tell("a", 2)
        assert sup.statistics().children == 0
    assert handled == [1]


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
            await wait_until(lambda: blocker.statistics().depth == 0, what="'hold' in receive")
            await spawner.tell("spawn while draining")
            gate.set()

    await asyncio.wait_for(scenario(), timeout=5)  # a guard: an unowned actor hangs the exit
    assert outcome == ["refused"]
