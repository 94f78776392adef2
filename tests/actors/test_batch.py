"""Batch actors: queued messages taken as batches, lingering, failures per item and per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from mediator.actors import BatchActor, Restart, open_supervisor
from mediator.errors import ActorStopped
from mediator.testing import FakeClock

from .support import wait_until


class BulkWriter(BatchActor[int]):
    """Writes ints in bulk; odd ones are rejected item by item, 666 breaks the whole batch."""

    max_batch = 5

    def __init__(self, batches: list[list[int]], failed: list[object]) -> None:
        self.batches = batches
        self.failed = failed

    async def receive_batch(self, messages: Sequence[int]) -> Sequence[object]:
        if 666 in messages:
            raise ConnectionError("bulk endpoint down")
        self.batches.append(list(messages))
        return [ValueError(f"odd {m}") if m % 2 else m * 10 for m in messages]

    async def on_failure(self, message: object, exc: Exception) -> None:
        self.failed.append((message, str(exc)))


async def test_queued_messages_are_taken_as_batches_up_to_the_limit() -> None:
    batches: list[list[int]] = []
    failed: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: BulkWriter(batches, failed), name="bulk", mailbox_size=100)
        first = asyncio.create_task(ref.ask(0))
        # The first message is handled alone: nothing else was queued.
        await wait_until(lambda: batches == [[0]], what="0 taken as a batch of its own")
        asks = [asyncio.create_task(ref.ask(i)) for i in range(2, 14, 2)]
        odd = asyncio.create_task(ref.ask(7))
        assert await first == 0
        assert [await a for a in asks] == [i * 10 for i in range(2, 14, 2)]
        with pytest.raises(ValueError, match="odd 7"):
            await odd
    assert batches == [[0], [2, 4, 6, 8, 10], [12, 7]]
    assert failed == [(7, "odd 7")]
    assert ref.statistics().processed == 7
    assert ref.statistics().failures == 1


async def test_linger_waits_on_the_clock_for_a_fuller_batch() -> None:
    clock = FakeClock()
    batches: list[list[int]] = []

    class Lingering(BulkWriter):
        linger = 0.5

    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Lingering(batches, []), name="linger")
        await ref.tell(2)
        await clock.wait_for_timers()
        await ref.tell(4)
        assert batches == []
        await clock.advance(0.5)
        assert batches == [[2, 4]]


async def test_a_batch_that_raises_fails_every_ask_and_is_supervised() -> None:
    batches: list[list[int]] = []
    failed: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(
            lambda: BulkWriter(batches, failed), name="flaky", strategy=Restart(max_restarts=3)
        )
        gate_task = asyncio.create_task(ref.ask(2))
        await gate_task
        asks = [asyncio.create_task(ref.ask(m)) for m in (4, 666, 6)]
        results = await asyncio.gather(*asks, return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        assert await ref.ask(8) == 80
    assert failed == [([4, 666, 6], "bulk endpoint down")]
    assert ref.statistics().restarts == 1


async def test_failed_items_count_as_failures_like_failed_messages() -> None:
    failed: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(
            lambda: BulkWriter([], failed), name="bulk", strategy=Restart(max_restarts=3)
        )
        results = await asyncio.gather(*(ref.ask(m) for m in (1, 2, 3)), return_exceptions=True)
        assert [type(r) for r in results] == [ValueError, int, ValueError]
        assert (ref.statistics().processed, ref.statistics().failures) == (1, 2)
        # A batch that raises fails each of its messages, as that many receive() calls would.
        results = await asyncio.gather(*(ref.ask(m) for m in (4, 666)), return_exceptions=True)
        assert [type(r) for r in results] == [ConnectionError, ConnectionError]
        stats = ref.statistics()
        assert (stats.processed, stats.failures, stats.restarts) == (1, 4, 1)
        assert sup.statistics().failures == 4


class LingeringEcho(BatchActor[int]):
    linger = 5.0

    async def receive_batch(self, messages: Sequence[int]) -> Sequence[object]:
        return list(messages)


async def test_an_ask_taken_into_a_lingering_batch_fails_when_the_actor_is_stopped() -> None:
    clock = FakeClock()
    async with open_supervisor(clock=clock, stop_timeout=0.01) as sup:
        ref = sup.spawn(LingeringEcho, name="linger")
        asking = asyncio.create_task(ref.ask(1, timeout=60))
        await clock.wait_for_timers(2)  # the ask's deadline and the linger
    await wait_until(asking.done, what="the ask to end once the actor stopped")
    assert asking.done()
    with pytest.raises(ActorStopped):
        await asking


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
