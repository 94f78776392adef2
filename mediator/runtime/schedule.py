"""Running a poller on its schedule: every `interval` seconds, or on a cron expression.

The loop is the poller's supervisor: a poll that fails (the system is down, a limit is
reached, or a bug) is logged with its poller's name, counted in its `PollerStatus`, and tried
again at the next tick, backing off while it keeps failing; only a `JournalError` stops the
daemon, since nothing can be acknowledged without the journal. Stopping lets a poll under
way finish (its entries and watermark commit together) and then ends the loop.

A spent allowance is no failure: when a poll reports that it must wait (`WaitingOutcome`, a
daily quota that resets at a known time) or raises `QuotaExhausted`, the loop sleeps on its
clock until that time rather than polling on, and its `PollerStatus` says until when and why.

In a cluster every daemon schedules every poller, but a poller polls only on the daemon that
holds its singleton lease (`runs_here`); elsewhere its ticks pass in standby, so that the
daemon taking the lease over polls from its next tick on.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import zoneinfo
from collections.abc import Callable

import msgspec
from opentelemetry.trace import SpanKind

from mediator.actors import Tracing
from mediator.clock import Clock
from mediator.config import PollerConfig, next_run
from mediator.errors import JournalError, MediatorError, QuotaExhausted
from mediator.journal import Dispatcher, Journal
from mediator.runtime.flow import Poller, PollOutcome, WaitingOutcome

__all__ = ["PollerStatus", "ScheduledPoller", "traced_poll"]

_log = logging.getLogger("mediator.ingress")
_MAX_BACKOFF = 8  # a failing poller waits at most 8 ticks between tries


class PollerStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One poller's schedule and what its polls did: the admin API's view of ingress."""

    name: str
    schedule: str
    polls: int
    failures: int
    read: int
    journaled: int
    last_poll_at: float | None
    next_poll_at: float | None
    last_error: str | None
    #: set while the poller waits for a spent allowance to reset (epoch seconds), and why
    waiting_until: float | None = None
    waiting_reason: str | None = None
    #: in a cluster: another daemon holds this poller's lease and polls it
    standby: bool = False


class ScheduledPoller:
    """One poller and its schedule; `run` loops until `stop` is called."""

    def __init__(
        self,
        poller: Poller,
        config: PollerConfig,
        *,
        zone: zoneinfo.ZoneInfo,
        clock: Clock,
        tracing: Tracing | None = None,
        runs_here: Callable[[], bool] | None = None,
    ) -> None:
        self.poller = poller
        #: in a cluster, whether this daemon holds the poller's singleton lease now
        self.runs_here = runs_here
        #: each poll the root span of a trace that its entries' deliveries continue
        self.tracing = tracing
        self.config = config
        self.zone = zone
        self.clock = clock
        self._stopping = asyncio.Event()
        self._polled = asyncio.Condition()
        self._polls = self._failures = self._read = self._journaled = 0
        self._consecutive_failures = 0
        self._last_poll_at: float | None = None
        self._next_poll_at: float | None = None
        self._last_error: str | None = None
        self._waiting_until: float | None = None
        self._waiting_reason: str | None = None

    def stop(self) -> None:
        """End the loop after the poll under way, if any."""
        self._stopping.set()

    async def run(self, journal: Journal, dispatcher: Dispatcher) -> None:
        """Poll on schedule until stopped (an interval poller polls at once when it starts)."""
        delay = 0.0 if self.config.interval is not None else self._until_next_tick()
        while await self._wait(delay):
            if self.runs_here is not None and not self.runs_here():
                delay = self._until_next_tick()  # another daemon polls it; check again then
                continue
            await self._poll_once(journal, dispatcher)
            if self._waiting_until is not None:
                delay = max(self._waiting_until - self.clock.time(), 0.0)
            else:
                delay = self._until_next_tick() * min(_MAX_BACKOFF, 2**self._consecutive_failures)

    async def wait_polls(self, count: int) -> None:
        """Wait until `count` polls have ended (succeeded or failed) since the start."""
        async with self._polled:
            await self._polled.wait_for(lambda: self._polls >= count)

    def status(self) -> PollerStatus:
        """A snapshot of the schedule and the polls so far."""
        schedule = (
            f"every {self.config.interval:g} s"
            if self.config.interval is not None
            else f"cron {self.config.schedule} ({self.zone.key})"
        )
        return PollerStatus(
            name=self.poller.name,
            schedule=schedule,
            polls=self._polls,
            failures=self._failures,
            read=self._read,
            journaled=self._journaled,
            last_poll_at=self._last_poll_at,
            next_poll_at=self._next_poll_at,
            last_error=self._last_error,
            waiting_until=self._waiting_until,
            waiting_reason=self._waiting_reason,
            standby=self.runs_here is not None and not self.runs_here(),
        )

    async def _poll_once(self, journal: Journal, dispatcher: Dispatcher) -> None:
        self._last_poll_at = self.clock.time()
        try:
            await self._poll(journal, dispatcher)
        finally:
            self._polls += 1
            async with self._polled:
                self._polled.notify_all()

    async def _poll(self, journal: Journal, dispatcher: Dispatcher) -> None:
        try:
            report = await traced_poll(self.poller, journal, dispatcher, self.tracing)
        except JournalError:
            raise
        except QuotaExhausted as exc:  # not a failure: the allowance comes back at a known time
            self._wait_for(exc.resets_at, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 -- this loop supervises the poller: log, retry
            self._failures += 1
            self._consecutive_failures += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            _log.warning(
                "poller %s failed (%d in a row): %s",
                self.poller.name,
                self._consecutive_failures,
                self._last_error,
                # what a system or a policy causes is expected; anything else is our bug
                exc_info=not isinstance(exc, MediatorError | OSError | TimeoutError),
            )
            return
        self._consecutive_failures = 0
        self._last_error = None
        self._read += report.read
        self._journaled += report.journaled
        if isinstance(report, WaitingOutcome) and report.waiting_until is not None:
            self._wait_for(report.waiting_until, report.waiting_reason or "the poller waits")
        else:
            self._waiting_until = self._waiting_reason = None

    def _wait_for(self, until: float, reason: str) -> None:
        self._waiting_until, self._waiting_reason = until, reason
        at = datetime.datetime.fromtimestamp(until, self.zone).isoformat(timespec="seconds")
        _log.info("poller %s waits until %s: %s", self.poller.name, at, reason)

    def _until_next_tick(self) -> float:
        if self.config.interval is not None:
            return self.config.interval
        assert self.config.schedule is not None  # the config check requires one of the two
        now = datetime.datetime.fromtimestamp(self.clock.time(), self.zone)
        return max(0.0, (next_run(self.config.schedule, now) - now).total_seconds())

    async def _wait(self, delay: float) -> bool:
        # True when the delay passed, False when stopped first
        self._next_poll_at = self.clock.time() + delay
        if self._stopping.is_set():
            return False
        if delay <= 0:
            return True
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()
        return not self._stopping.is_set()


async def traced_poll(
    poller: Poller, journal: Journal, dispatcher: Dispatcher, tracing: Tracing | None
) -> PollOutcome:
    """Run one poll of `poller`, as the root span of a trace when `tracing` is on: the
    entries it journals carry that span as their `traceparent`."""
    if tracing is None or not tracing.enabled:
        return await poller.poll(journal, dispatcher)
    with tracing.span(
        f"poll {poller.name}", kind=SpanKind.PRODUCER, attributes={"mediator.poller": poller.name}
    ):
        return await poller.poll(journal, dispatcher)
