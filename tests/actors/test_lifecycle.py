from __future__ import annotations

import asyncio

from mediator.actors import Actor, Restart, open_entity_registry, open_supervisor

from .support import Recorder, settle


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
            await settle()
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
        await settle()
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
