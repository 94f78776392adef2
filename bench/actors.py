"""Actor runtime throughput, against same-run baselines; prints JSON.

  (a) one producer -> 1,000 entity actors routed by key: messages/s
      baseline: raw asyncio.Queue fan-out to 1,000 consumer tasks routed by key
  (b) ask round trips/s (one asker, and 100 concurrent askers)
  (c) pykka ThreadingActor tell to 1,000 actors (the library a Python team might reach for)
  (d) peak RSS with 100,000 live entities (child process, so the figure is its own)
  (e) the mailbox against an anyio memory object stream, one producer and one consumer: why
      the hot path uses plain asyncio futures rather than anyio streams
Each figure runs on the standard asyncio loop and, when installed, on uvloop.

    python bench/actors.py            # full run
    python bench/actors.py --quick    # a tenth of the volume
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from _machine import machine  # a bench/ sibling

from mediator.actors import Actor, open_entity_registry, open_supervisor

ENTITIES = 1_000
MAILBOX = 100


class Tally:
    """Counts handled messages and wakes a waiter when a target is reached."""

    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = asyncio.Event()

    def add(self) -> None:
        self.count += 1
        if self.count == self.target:
            self.reached.set()

    async def wait_for(self, target: int) -> None:
        self.target = target
        self.reached.clear()
        if self.count < target:
            await self.reached.wait()


class Counter(Actor[int]):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def receive(self, message: int) -> object:
        self.tally.add()
        return message


async def entity_fanout(messages: int) -> float:
    keys = [f"project:P-{i}" for i in range(ENTITIES)]
    tally = Tally()
    async with (
        open_supervisor() as sup,
        open_entity_registry(
            sup, lambda key: Counter(tally), idle_timeout=None, mailbox_size=MAILBOX
        ) as registry,
    ):
        for key in keys:  # spawn outside the timed part, as the baseline starts its tasks
            await registry.tell(key, 0)
        await tally.wait_for(ENTITIES)
        tell = registry.tell
        start = time.perf_counter()
        for i in range(messages):
            await tell(keys[i % ENTITIES], i)
        await tally.wait_for(messages + ENTITIES)
        elapsed = time.perf_counter() - start
    return messages / elapsed


async def queue_fanout(messages: int) -> float:
    keys = [f"project:P-{i}" for i in range(ENTITIES)]
    queues: dict[str, asyncio.Queue[int | None]] = {k: asyncio.Queue(MAILBOX) for k in keys}
    tally = Tally()

    async def consume(queue: asyncio.Queue[int | None]) -> None:
        while await queue.get() is not None:
            tally.add()

    async with asyncio.TaskGroup() as tg:
        for q in queues.values():
            tg.create_task(consume(q))
        await asyncio.sleep(0)
        start = time.perf_counter()
        for i in range(messages):
            await queues[keys[i % ENTITIES]].put(i)
        await tally.wait_for(messages)
        elapsed = time.perf_counter() - start
        for q in queues.values():
            await q.put(None)
    return messages / elapsed


async def ask_round_trips(count: int, concurrency: int) -> float:
    tally = Tally()
    async with open_supervisor() as sup:
        refs = [sup.spawn(lambda: Counter(tally), name=f"a{i}") for i in range(concurrency)]

        async def asker(ref: Any, n: int) -> None:
            ask = ref.ask
            for i in range(n):
                await ask(i)

        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for ref in refs:
                tg.create_task(asker(ref, count // concurrency))
        elapsed = time.perf_counter() - start
    return (count // concurrency) * concurrency / elapsed


async def anyio_stream_pair(items: int) -> float:
    import anyio

    send, receive = anyio.create_memory_object_stream[int](MAILBOX)

    async def consume() -> None:
        async with receive:
            async for _ in receive:
                pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(consume)
        start = time.perf_counter()
        async with send:
            for i in range(items):
                await send.send(i)
    return items / (time.perf_counter() - start)


async def mailbox_pair(items: int) -> float:
    from mediator.actors import Mailbox

    box: Mailbox[int] = Mailbox(MAILBOX)
    done = asyncio.Event()

    async def consume() -> None:
        taken = 0
        while taken < items:
            if not box.depth:
                waiter = box.readable()
                if waiter is not None:
                    await waiter
                continue
            box.get_nowait()
            taken += 1
        done.set()

    async with asyncio.TaskGroup() as tg:
        tg.create_task(consume())
        start = time.perf_counter()
        for i in range(items):
            if not box.offer(i):
                await box.put(i)
        await done.wait()
        return items / (time.perf_counter() - start)


def pykka_tell(messages: int) -> float:
    import pykka

    class PCounter(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_receive(self, message: Any) -> Any:
            self.count += 1
            if message == "done?":
                return self.count
            return None

    refs = [PCounter.start() for _ in range(ENTITIES)]
    try:
        start = time.perf_counter()
        for i in range(messages):
            refs[i % ENTITIES].tell(i)
        for ref in refs:
            ref.ask("done?")
        return messages / (time.perf_counter() - start)
    finally:
        pykka.ActorRegistry.stop_all()


async def live_entities(count: int) -> int:
    tally = Tally()
    async with (
        open_supervisor() as sup,
        open_entity_registry(
            sup, lambda key: Counter(tally), idle_timeout=None, mailbox_size=MAILBOX
        ) as registry,
    ):
        for i in range(count):
            await registry.tell(f"client:C-{i}", i)
            if i % 100 == 99:
                # A real producer (a webhook, a poller) yields between messages; one that never
                # does would count 100,000 first messages queued at once in the peak.
                await asyncio.sleep(0)
        await tally.wait_for(count)
        assert registry.statistics().live == count
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def run_on(loop: str, coro: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(coro())
    return asyncio.run(coro())


def child(part: str, loop: str, n: int) -> None:
    if part == "rss":
        baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = run_on(loop, lambda: live_entities(n))
        print(json.dumps({"peak_rss_mb": peak / 1024, "interpreter_rss_mb": baseline / 1024}))


def measure_rss(loop: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "rss", "--loop", loop, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child")
    parser.add_argument("--loop", default="asyncio")
    parser.add_argument("--n", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.loop, args.n)
        return
    scale = 10 if args.quick else 1
    messages, asks, live = 1_000_000 // scale, 200_000 // scale, 100_000
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError:
        pass
    result: dict[str, Any] = {
        "bench": "actors",
        "machine": machine(),
        "quick": args.quick,
        "messages": messages,
        "entities": ENTITIES,
    }
    for loop in loops:
        fan = run_on(loop, lambda: entity_fanout(messages))
        raw = run_on(loop, lambda: queue_fanout(messages))
        ask1 = run_on(loop, lambda: ask_round_trips(asks, 1))
        ask100 = run_on(loop, lambda: ask_round_trips(asks, 100))
        rss = measure_rss(loop, live)
        stream = run_on(loop, lambda: anyio_stream_pair(asks))
        box = run_on(loop, lambda: mailbox_pair(asks))
        result[loop] = {
            "entity_fanout_msgs_per_s": round(fan),
            "baseline_queue_fanout_msgs_per_s": round(raw),
            "ratio_to_queue_fanout": round(fan / raw, 3),
            "ask_round_trips_per_s_1_asker": round(ask1),
            "ask_round_trips_per_s_100_askers": round(ask100),
            "live_entities": live,
            "mailbox_items_per_s": round(box),
            "baseline_anyio_stream_items_per_s": round(stream),
            "ratio_mailbox_to_anyio_stream": round(box / stream, 1),
            "peak_rss_mb": round(rss["peak_rss_mb"], 1),
            "interpreter_rss_mb": round(rss["interpreter_rss_mb"], 1),
        }
    pykka_rate = pykka_tell(messages // 10)
    result["pykka_threading_tell_msgs_per_s"] = round(pykka_rate)
    result["ratio_entity_fanout_to_pykka"] = round(
        result["asyncio"]["entity_fanout_msgs_per_s"] / pykka_rate, 1
    )
    result["targets"] = {
        "fanout_ratio_min": 0.5,
        "ask_round_trips_per_s_min": 100_000,
        "peak_rss_mb_max": 300,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
