"""`ask`: replies, the receiver's errors, deadlines on the runtime clock, and cancelled asks."""

from __future__ import annotations

import asyncio

import pytest

from mediator.actors import Actor, open_supervisor
from mediator.errors import ActorStopped, AskTimeout
from mediator.testing import FakeClock

from .support import Recorder, wait_until


class Doubler(Actor[int]):
    async def receive(self, message: int) -> object:
        if message < 0:
            raise ValueError(f"negative: {message}")
        return message * 2


async def test_ask_returns_the_reply_and_raises_what_receive_raised() -> None:
    async with open_supervisor() as sup:
        ref = sup.spawn(Doubler, name="doubler")
        assert await ref.ask(21) == 42
        with pytest.raises(ValueError, match="negative"):
            await ref.ask(-1)
        # The default strategy stops a failed actor; later asks are refused.
        await ref.wait_stopped()
        with pytest.raises(ActorStopped):
            await ref.ask(1)


async def test_ask_times_out_on_the_runtime_clock() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    handled: list[object] = []
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="stuck")
        asking = asyncio.create_task(ref.ask("hello", timeout=5))
        await clock.wait_for_timers()
        await clock.advance(4.9)
        assert not asking.done()
        await clock.advance(0.2)
        with pytest.raises(AskTimeout) as info:
            await asking
        assert info.value.timeout == 5
        assert isinstance(info.value, TimeoutError)
        gate.set()
        await wait_until(lambda: ref.statistics().processed == 1, what="'hello' handled")
    assert handled == ["hello"]  # the message itself was still handled


async def test_ask_times_out_while_waiting_for_room() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Recorder([], gate), name="full", mailbox_size=1)
        await ref.tell(1)
        await wait_until(lambda: ref.statistics().depth == 0, what="1 taken into receive")
        await ref.tell(2)
        asking = asyncio.create_task(ref.ask(3, timeout=1))
        await clock.wait_for_timers()
        await clock.advance(1)
        with pytest.raises(AskTimeout):
            await asking
        assert ref.statistics().blocked_senders == 0
        gate.set()


async def test_pending_asks_fail_with_actor_stopped_at_the_stop_deadline() -> None:
    gate = asyncio.Event()
    received: list[object] = []
    async with open_supervisor(stop_timeout=0.01) as sup:
        ref = sup.spawn(lambda: Recorder([], gate, received=received), name="never")
        first = asyncio.create_task(ref.ask("in receive"))
        second = asyncio.create_task(ref.ask("queued"))
        await wait_until(
            lambda: received == ["in receive"] and ref.statistics().depth == 1,
            what="'in receive' held in receive and 'queued' in the mailbox",
        )
    with pytest.raises(ActorStopped):
        await second
    with pytest.raises(ActorStopped):
        await first


async def test_asks_with_different_timeouts_each_expire_on_time() -> None:
    clock = FakeClock()
    gate = asyncio.Event()
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Recorder([], gate), name="stuck")
        slow = asyncio.create_task(ref.ask("long", timeout=10))
        quick = asyncio.create_task(ref.ask("short", timeout=1))
        await clock.wait_for_timers()
        await clock.advance(1)
        with pytest.raises(AskTimeout):
            await quick
        assert not slow.done()
        await clock.advance(9)
        with pytest.raises(AskTimeout):
            await slow
        gate.set()


async def test_answered_asks_leave_no_deadline_behind() -> None:
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder([]), name="quick")
        for i in range(1_000):
            assert await ref.ask(i, timeout=30) == i
        assert ref.statistics().watched_asks <= 1


async def test_a_cancelled_ask_waiting_for_room_leaves_nothing_behind() -> None:
    gate = asyncio.Event()
    handled: list[object] = []
    async with open_supervisor() as sup:
        ref = sup.spawn(lambda: Recorder(handled, gate), name="r", mailbox_size=1)
        await ref.tell(1)
        await wait_until(lambda: ref.statistics().depth == 0, what="1 taken into receive")
        await ref.tell(2)
        asking = asyncio.create_task(ref.ask(3))
        await wait_until(lambda: ref.statistics().blocked_senders == 1, what="3 waiting for room")
        asking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asking
        # The ask's put withdraws in a task of its own, which may run after the ask has ended:
        # the withdrawal is the state to wait for (a put left behind fails this wait).
        await wait_until(
            lambda: ref.statistics().blocked_senders == 0, what="the cancelled ask's put withdrawn"
        )
        assert ref.statistics().blocked_senders == 0
        gate.set()
        # 3, had it been admitted, would be handled by the drain on leaving the block.
        await wait_until(lambda: ref.statistics().processed == 2, what="1 and 2 handled")
    assert handled == [1, 2]


async def _ask_cancelled_after(turns: int) -> tuple[bool, BaseException | object]:
    """Cancel an ask waiting for room `turns` loop turns into advancing past its deadline."""
    clock = FakeClock()
    gate = asyncio.Event()
    async with open_supervisor(clock=clock) as sup:
        ref = sup.spawn(lambda: Recorder([], gate), name="full", mailbox_size=1)
        await ref.tell(1)
        await wait_until(lambda: ref.statistics().depth == 0, what="1 taken into receive")
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
