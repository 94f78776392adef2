"""Entity actors: per-key order, passivation and eviction, and asks that follow a retired entity."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest

from mediator.actors import Actor, open_entity_registry, open_supervisor
from mediator.testing import FakeClock

from .support import wait_until


class Ledger(Actor[tuple[str, int]]):
    """Appends (key, seq) to a shared per-key log; yields once to interleave with others."""

    def __init__(self, key: str, logs: dict[str, list[int]], lives: list[str]) -> None:
        self.key = key
        self.logs = logs
        lives.append(key)

    async def receive(self, message: tuple[str, int]) -> object:
        key, seq = message
        assert key == self.key
        await asyncio.sleep(0)
        self.logs[key].append(seq)
        return seq


async def test_per_entity_order_holds_for_10000_messages_over_1000_entities() -> None:
    seed = 20261126
    print(f"seed={seed}")
    rng = random.Random(seed)
    logs: dict[str, list[int]] = defaultdict(list)
    expected: dict[str, list[int]] = defaultdict(list)
    async with (
        open_supervisor() as sup,
        open_entity_registry(
            sup, lambda k: Ledger(k, logs, []), idle_timeout=None, mailbox_size=8
        ) as registry,
    ):

        async def producer(part: int) -> None:
            for seq in range(part * 2500, (part + 1) * 2500):
                key = f"project:P-{rng.randrange(1000)}"
                expected[key].append(seq)
                await registry.tell(key, (key, seq))

        async with asyncio.TaskGroup() as tg:
            for part in range(4):
                tg.create_task(producer(part))
        stats = registry.statistics()
    assert sum(len(v) for v in logs.values()) == 10_000
    assert logs == expected
    assert stats.live == len(expected) <= 1000


async def test_idle_entities_passivate_and_come_back_on_the_next_message() -> None:
    clock = FakeClock()
    logs: dict[str, list[int]] = defaultdict(list)
    lives: list[str] = []
    async with (
        open_supervisor(clock=clock) as sup,
        open_entity_registry(sup, lambda k: Ledger(k, logs, lives), idle_timeout=60) as registry,
    ):
        for i in range(10):
            await registry.tell(f"k{i}", (f"k{i}", 0))
        await wait_until(lambda: sum(map(len, logs.values())) == 10, what="10 entities handling 0")
        await clock.advance(30)
        await registry.tell("k0", ("k0", 1))  # k0 stays warm
        await wait_until(lambda: logs["k0"] == [0, 1], what="k0 handling 1")
        await clock.advance(45)  # k1..k9 idle for 75 s; k0 for 45 s
        await wait_until(
            lambda: registry.statistics().retiring == 0, what="passivated entities stopped"
        )
        stats = registry.statistics()
        assert (stats.live, stats.passivated) == (1, 9)
        await registry.tell("k5", ("k5", 1))
        await wait_until(lambda: logs["k5"] == [0, 1], what="k5 back and handling 1")
        assert registry.statistics().live == 2
    assert lives.count("k5") == 2
    assert lives.count("k0") == 1
    assert logs["k5"] == [0, 1]
    assert logs["k0"] == [0, 1]


async def test_passivation_and_eviction_under_load_lose_nothing_and_keep_order() -> None:
    clock = FakeClock()
    seed = 7
    print(f"seed={seed}")
    rng = random.Random(seed)
    logs: dict[str, list[int]] = defaultdict(list)
    expected: dict[str, list[int]] = defaultdict(list)
    lives: list[str] = []
    async with (
        open_supervisor(clock=clock) as sup,
        open_entity_registry(
            sup, lambda k: Ledger(k, logs, lives), idle_timeout=1, max_live=20, mailbox_size=4
        ) as registry,
    ):

        async def producer(part: int) -> None:
            for seq in range(part * 1000, (part + 1) * 1000):
                key = f"e{rng.randrange(100)}"
                expected[key].append(seq)
                await registry.tell(key, (key, seq))
                if seq % 50 == 0:
                    await clock.advance(0.5)  # sweeps run while messages flow

        async with asyncio.TaskGroup() as tg:
            for part in range(3):
                tg.create_task(producer(part))
        await wait_until(
            lambda: sum(map(len, logs.values())) == 3000, what="all 3000 messages handled"
        )
        stats = registry.statistics()
    assert logs == expected
    assert stats.peak_live <= 20
    assert stats.evicted > 0
    assert len(lives) > 100  # entities really were retired and re-activated


async def test_entity_ask_and_a_failed_entity_is_respawned_on_the_next_message() -> None:
    class Picky(Actor[int]):
        async def receive(self, message: int) -> object:
            if message == 13:
                raise ValueError("unlucky")
            return message + 1

    async with (
        open_supervisor() as sup,
        open_entity_registry(sup, lambda k: Picky(), idle_timeout=None) as registry,
    ):
        ref = registry.ref_for("invoice:in_1")
        assert ref.key == "invoice:in_1"
        assert await ref.ask(1) == 2
        with pytest.raises(ValueError, match="unlucky"):
            await ref.ask(13)
        assert await ref.ask(2) == 3


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
        await wait_until(lambda: registry.statistics().depth == 0, what="'block' in receive")
        await a.tell("queued")
        asking = asyncio.create_task(a.ask("asked"))
        await wait_until(
            lambda: registry.statistics().blocked_senders == 1, what="'asked' waiting for room"
        )
        await registry.tell("b", "evicts a")
        gate.set()
        assert await asking == "asked"
    assert handled.index("asked") > handled.index("queued")
