"""Races found in review: cancelled senders, stops mid-batch, escalation while closing."""

from __future__ import annotations

import asyncio

import pytest

from mediator.actors import (
    open_supervisor,
)

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
