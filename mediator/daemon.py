"""`mediator run --config FILE`: the long-lived daemon around one `Mediator`.

Start: the configuration is checked whole (every problem printed, exit 2), logging is set up,
the GIL switch interval is lowered (the daemon's choice for its own process: the journal's
writer thread gets the GIL back sooner, see `mediator.journal._gil`), then the `Mediator`
opens and recovers the journal and starts everything; a "ready" line names the health
address and the webhook listener's. SIGTERM or SIGINT: ingress stops (the webhook listener
answers 503), in-flight deliveries get the drain deadline, the journal closes, exit 0. A
second signal exits at once: deliveries still running are cancelled and stay in flight in
the journal, so nothing acknowledged is lost; the next start recovers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import anyio

from mediator.config import LoadedConfig, check_config
from mediator.errors import ConfigError, MediatorError
from mediator.journal import GIL_SWITCH_INTERVAL
from mediator.logs import configure_logging
from mediator.runtime import Mediator, check_flows

__all__ = ["check_daemon_config", "run_daemon"]

_log = logging.getLogger("mediator.daemon")


def run_daemon(config: Path, *, log_format: Literal["auto", "human", "json"] | None = None) -> int:
    """Run the daemon of the configuration file `config` until a signal; the exit status."""
    loaded, problems = check_daemon_config(config)
    if problems or loaded is None:
        for problem in problems:
            sys.stderr.write(f"mediator: {problem}\n")
        return 2
    logging_config = loaded.config.logging
    configure_logging(level=logging_config.level, format=log_format or logging_config.format)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # the process is ours: give the writer the GIL
    mediator = Mediator(loaded)
    try:
        asyncio.run(_serve(mediator))
    except MediatorError as exc:
        if not mediator.was_ready:  # a start that failed is the operator's one line
            sys.stderr.write(f"mediator: {exc}\n")
        else:
            _log.error("stopped: %s", exc)
        return 2
    return 0


def check_daemon_config(path: Path) -> tuple[LoadedConfig | None, list[ConfigError]]:
    """Every problem `mediator run` would meet in the file at `path`, found offline: the
    file's own checks, its secrets, and the shipped flows' options and pollers."""
    loaded, problems = check_config(path)
    if loaded is not None and not problems:
        problems = check_flows(loaded)
    return loaded, problems


async def _serve(mediator: Mediator) -> None:
    main = asyncio.current_task()
    assert main is not None
    stopping = asyncio.Event()

    async def watch_signals(signals: AsyncIterator[int]) -> None:
        async for number in signals:
            name = signal.Signals(number).name
            if stopping.is_set():
                _log.warning("second %s: stopping now, unfinished work stays in the journal", name)
                main.cancel()
                return
            _log.info("%s: draining, then stopping", name)
            stopping.set()

    # anyio's signal receiver: the handlers are installed for the block and removed after it
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        watcher = asyncio.ensure_future(watch_signals(signals))
        try:
            async with mediator:
                address = mediator.admin_address
                where = (
                    f" admin API and health on http://{address[0]}:{address[1]}, dashboard at "
                    f"http://{address[0]}:{address[1]}/ui/"
                    if address
                    else ""
                )
                hooks = mediator.webhook_address
                if hooks is not None:
                    where += f"; webhooks on http://{hooks[0]}:{hooks[1]}/webhooks/stripe"
                _log.info("ready:%s (journal %s)", where, mediator.loaded.journal_where)
                await stopping.wait()
        except asyncio.CancelledError:
            _log.info("stopped at once")
            return
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    _log.info("stopped cleanly")
