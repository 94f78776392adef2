"""Child process of the saga crash tests: a `Mediator` that SIGKILLs itself at a step boundary.

    python -m tests.flows.saga_crash_child CONFIG POLLER... [--crash FLOW:STEP:WHEN]

It runs the `Mediator` of the configuration file CONFIG (as `mediator run` does), runs each
named poller once, waits until nothing is left to deliver, prints ``idle`` and exits 0. With
``--crash``, the process kills itself with SIGKILL (a real kill: no drain, no flush, no
``finally``) the first time the saga of FLOW saves STEP as finished: WHEN ``effect`` kills it
after the step's effect was made but before its save (the harshest moment: the effect exists,
the journal does not know), ``saved`` right after the save.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from mediator.daemon import check_daemon_config
from mediator.flows.saga import Saga, SagaState
from mediator.runtime import Mediator


def _crash_at(flow: str, step: str, when: str) -> None:
    save = Saga.save

    async def crashing_save(self: Saga, state: SagaState) -> SagaState:
        newly = step in state.done and step not in self.state.done and self.flow == flow
        if newly and when == "effect":
            os.kill(os.getpid(), signal.SIGKILL)
        saved = await save(self, state)
        if newly and when == "saved":
            os.kill(os.getpid(), signal.SIGKILL)
        return saved

    Saga.save = crashing_save  # type: ignore[method-assign]  # the crash point, in this child only


async def _run(config: Path, pollers: list[str]) -> None:
    loaded, problems = check_daemon_config(config)
    if problems or loaded is None:
        raise SystemExit("\n".join(str(p) for p in problems))
    async with Mediator(loaded, serve_admin=False) as mediator:
        for name in pollers:
            await mediator.poll(name)
            await mediator.wait_idle()
        await mediator.wait_idle()
    print("idle", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("pollers", nargs="*")
    parser.add_argument("--crash")
    args = parser.parse_args()
    if args.crash:
        flow, step, when = args.crash.split(":")
        _crash_at(flow, step, when)
    asyncio.run(_run(args.config, args.pollers))
    sys.exit(0)


if __name__ == "__main__":
    main()
