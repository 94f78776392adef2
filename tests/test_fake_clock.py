import asyncio

from mediator.testing import FakeClock


async def test_sleepers_wake_in_deadline_order_and_time_stops_at_target() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, delay: float) -> None:
        await clock.sleep(delay)
        woke.append((name, clock.monotonic()))

    async with asyncio.TaskGroup() as tg:
        tg.create_task(sleeper("late", 5))
        tg.create_task(sleeper("early", 2))
        await clock.wait_for_timers(2)
        await clock.advance(3)
        assert woke == [("early", 2.0)]
        assert clock.monotonic() == 3.0
        await clock.advance(2)
    assert woke == [("early", 2.0), ("late", 5.0)]


async def test_chained_sleeps_play_out_within_one_advance() -> None:
    clock = FakeClock()
    times: list[float] = []

    async def backoff() -> None:
        for delay in (1, 2, 4):
            await clock.sleep(delay)
            times.append(clock.monotonic())

    async with asyncio.TaskGroup() as tg:
        tg.create_task(backoff())
        await clock.wait_for_timers()
        await clock.advance(10)
    assert times == [1.0, 3.0, 7.0]


async def test_cancelled_timer_never_fires_and_wall_time_follows() -> None:
    clock = FakeClock(wall=1_000.0)
    fired: list[int] = []
    timer = clock.call_later(1, lambda: fired.append(1))
    timer.cancel()
    await clock.advance(2)
    assert fired == []
    assert clock.time() == 1_002.0
