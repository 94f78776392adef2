"""Bounded mailboxes push back: senders wait in arrival order, withdraw when cancelled."""

from __future__ import annotations

import asyncio

import pytest

from mediator.actors import open_supervisor
from mediator.errors import ActorStopped, MailboxFull

from .support import Recorder, wait_until


async def test_producer_blocks_exactly_when_full_and_resumes_in_order() -> None:
    handled: list[object] = []
    gate = asyncio.Event()
    sent: list[int] = []
    received: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(
            lambda: Recorder(handled, gate, received=received), name="slow", mailbox_size=4
        )

        async def produce() -> None:
            for i in range(20):
                await ref.tell(i)
                sent.append(i)

        producer = asyncio.create_task(produce())
        await wait_until(
            lambda: received == [0] and ref.statistics().blocked_senders == 1,
            what="0 held in receive and the producer blocked on a full mailbox",
        )
        # The actor holds message 0 in receive (behind the gate); 4 more fill the mailbox.
        stats = ref.statistics()
        assert sent == [0, 1, 2, 3, 4]
        assert (stats.depth, stats.blocked_senders, stats.peak_depth) == (4, 1, 4)
        with pytest.raises(MailboxFull):
            ref.tell_nowait(99)
        gate.set()
        await producer
        await wait_until(lambda: ref.statistics().processed == 20, what="all 20 handled")
    assert handled == list(range(20))
    assert ref.statistics().processed == 20


async def test_waiting_senders_are_admitted_first_come_first_served() -> None:
    handled: list[object] = []
    gate = asyncio.Event()
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="fifo", mailbox_size=1)
        await ref.tell("held")
        await wait_until(lambda: ref.statistics().depth == 0, what="'held' taken into receive")
        await ref.tell("queued")
        senders = [asyncio.create_task(ref.tell(f"waiter{i}")) for i in range(5)]
        await wait_until(lambda: ref.statistics().blocked_senders == 5, what="5 senders blocked")
        assert ref.statistics().blocked_senders == 5
        gate.set()
        await asyncio.gather(*senders)
        await wait_until(lambda: ref.statistics().processed == 7, what="all 7 handled")
    assert handled == ["held", "queued", *(f"waiter{i}" for i in range(5))]


async def test_cancelled_sender_withdraws_its_message() -> None:
    handled: list[object] = []
    gate = asyncio.Event()
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="c", mailbox_size=1)
        await ref.tell(1)
        await wait_until(lambda: ref.statistics().depth == 0, what="1 taken into receive")
        await ref.tell(2)
        blocked = asyncio.create_task(ref.tell(3))
        await wait_until(lambda: ref.statistics().blocked_senders == 1, what="3 blocked")
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        assert ref.statistics().blocked_senders == 0
        gate.set()
    assert handled == [1, 2]


async def test_stop_with_a_full_mailbox_drains_it_and_refuses_new_messages() -> None:
    handled: list[object] = []
    gate = asyncio.Event()
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="full", mailbox_size=3)
        for i in range(4):
            await ref.tell(i)
        blocked = asyncio.create_task(ref.tell("late"))
        await wait_until(lambda: ref.statistics().blocked_senders == 1, what="'late' blocked")
        closing = asyncio.create_task(sup.aclose(timeout=5))
        await wait_until(blocked.done, what="the close to answer the blocked sender")
        with pytest.raises(ActorStopped):
            await blocked  # not admitted before the stop: the sender is told, nothing is lost
        with pytest.raises(ActorStopped):
            await ref.tell("after stop")
        gate.set()
        await closing
    assert handled == [0, 1, 2, 3]
    assert ref.statistics().stopped


async def test_a_sender_cancelled_while_blocked_is_not_admitted_when_room_frees() -> None:
    gate = asyncio.Event()
    handled: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="r", mailbox_size=1)
        await ref.tell(1)
        await wait_until(lambda: ref.statistics().depth == 0, what="1 taken into receive")
        await ref.tell(2)  # queued: the mailbox is full
        sender = asyncio.create_task(ref.tell(3))
        await wait_until(lambda: ref.statistics().blocked_senders == 1, what="3 blocked")
        assert ref.statistics().blocked_senders == 1
        # The actor wakes before the sender's task sees its cancellation.
        gate.set()
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender

        def idle() -> bool:
            stats = ref.statistics()
            return stats.processed >= 2 and stats.depth == stats.blocked_senders == 0

        # Idle after 2, not "2 handled": had 3 been admitted, it is handled before this holds.
        await wait_until(idle, what="1 and 2 handled and nothing left queued")
        assert handled == [1, 2]
        await ref.tell(4)
        await wait_until(lambda: ref.statistics().processed == 3, what="4 handled")
        assert handled == [1, 2, 4]
        assert not ref.statistics().stopped
