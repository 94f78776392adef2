"""`mediator demo`: the runtime on its embedded defaults, driven by a burst of business events.

Until the flows land, the demo shows the actor runtime itself: approved time entries routed to
one entity actor per project, a project whose events fail and is restarted with backoff, and
the statistics the dashboard will show (mailbox depth, peaks, restarts, live entities).
"""

from __future__ import annotations

import random
import time

from mediator.actors import (
    Actor,
    RestartWithBackoff,
    open_entity_registry,
    open_supervisor,
)

__all__ = ["run_demo"]


class ProjectLedger(Actor[tuple[str, int]]):
    """Sums approved minutes per project; a negative duration is a bad event and fails."""

    def __init__(self, key: str, totals: dict[str, int]) -> None:
        self.key = key
        self.totals = totals

    async def receive(self, message: tuple[str, int]) -> object:
        _, minutes = message
        if minutes < 0:
            raise ValueError(f"{self.key}: negative duration {minutes} min")
        self.totals[self.key] = self.totals.get(self.key, 0) + minutes
        return self.totals[self.key]


async def run_demo(*, entities: int = 1_000, messages: int = 100_000, seed: int = 42) -> None:
    """Route `messages` time entries to `entities` project actors and print what happened."""
    rng = random.Random(seed)
    totals: dict[str, int] = {}
    keys = [f"project:P-{1000 + i}" for i in range(entities)]
    strategy = RestartWithBackoff(min_backoff=0.001, max_backoff=0.01, rng=rng)
    started = time.perf_counter()
    async with open_supervisor(name="demo") as sup:
        async with open_entity_registry(
            sup,
            lambda key: ProjectLedger(key, totals),
            name="projects",
            idle_timeout=60,
            strategy=strategy,
        ) as projects:
            for i in range(messages):
                minutes = -1 if i % 10_000 == 9_999 else rng.choice((15, 30, 45, 60, 90, 120))
                await projects.tell(keys[rng.randrange(entities)], ("time_entry", minutes))
            # One ask per project: replies come after every earlier message of that project.
            for key in keys:
                await projects.ask(key, ("time_entry", 0))
            registry_stats = projects.statistics()
        elapsed = time.perf_counter() - started
        sup_stats = sup.statistics()
    hours = sum(totals.values()) / 60
    print(f"mediator demo (seed {seed})")
    print(f"  {messages:,} approved time entries routed to {entities:,} project actors")
    print(f"  {elapsed:.2f} s, {messages / elapsed:,.0f} messages/s")
    print(f"  {hours:,.0f} hours booked across {len(totals):,} projects")
    print(
        f"  live entities {registry_stats.live:,} (peak {registry_stats.peak_live:,}), "
        f"processed {sup_stats.processed:,}, failures {sup_stats.failures}, "
        f"restarts {sup_stats.restarts}"
    )
