"""Delivering journaled entries to their entity actors: done, retry-at or dead, and parking.

Entries of one entity are delivered one at a time in journal order (a per-key queue drained by
one task), entries of different entities concurrently. A delivery is an `ask` of the entity's
actor; its reply is success, its exception goes through `decide`. While a retry waits, the
entity's later entries wait behind it; while an entity has a dead letter (or a replay of one
is still open), its later entries are parked in the journal, unless `parks(kind)` says that kind
need not wait.

In a cluster (several daemons on one PostgreSQL journal) an `Ownership` says which keys this
daemon delivers: the entries of other keys are journaled (an append is global) but left to the
daemon that holds their partition, whose intake picks them up (see `mediator.cluster.intake`).
Entries of a partition lost are dropped from the queues; a delivery under way finishes, but the
journal refuses its marks (`Fenced`): that is no delivery failure, the entry is the new
owner's. Without an ownership (SQLite, or PostgreSQL without `[cluster]`) nothing of this runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Protocol, TypeVar

import msgspec
from opentelemetry.trace import SpanKind

from mediator._task_group import TaskGroup
from mediator.actors.tracing import Tracing, current_span_context, format_traceparent
from mediator.clock import Clock
from mediator.codecs.canonical.envelope import Envelope
from mediator.errors import Fenced
from mediator.journal.delivery_counts import DeliveryCounts, KindOutcomes
from mediator.journal.protocol import Journal
from mediator.journal.records import (
    Appended,
    DeadLetterFilter,
    Entry,
    EntryState,
    ReleaseReport,
    ReplayReport,
    Watermark,
)
from mediator.journal.retry_or_dead import Decide, default_decider
from mediator.policies.classify import Verdict

__all__ = ["Dispatcher", "DispatcherStatistics", "Ownership", "Recipient", "open_dispatcher"]

_log = logging.getLogger("mediator.dispatch")
_T = TypeVar("_T")


class Recipient(Protocol):
    """What the dispatcher delivers to: an `ActorRef` or an `EntityRef` both are one."""

    async def ask(self, message: Envelope, *, timeout: float) -> object:
        """Deliver the envelope and return the reply; raise what handling it raised."""
        ...


class Ownership(Protocol):
    """Which entity keys this daemon delivers (a cluster's partition leases); see the module."""

    def owns(self, key: str) -> bool:
        """Whether entries of `key` are delivered here now."""
        ...

    def appended(self, keys: Sequence[str]) -> None:
        """Entries of these keys, not this daemon's, were journaled: a hint to their owner."""
        ...


#: entries finished here are remembered this long (in number) so that an intake read begun
#: before they finished does not queue them again
_RECENT = 50_000


class DispatcherStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of a dispatcher: entries queued now and what became of the others."""

    pending: int
    delivered: int
    retried: int
    dead: int
    parked: int
    #: deliveries whose marks the journal refused: their partition had moved on (a cluster)
    fenced: int = 0


class Dispatcher:
    """Delivers entries to entity actors and records the outcome; see `open_dispatcher`."""

    def __init__(
        self,
        journal: Journal,
        route: Callable[[str], Recipient],
        group: asyncio.TaskGroup,
        *,
        clock: Clock,
        decide: Decide,
        parks: Callable[[str], bool],
        timeout: float,
        capacity: int,
        held: set[str],
        poison_after: int = 10,
        tracing: Tracing | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        self._journal = journal
        self._route = route
        self._group = group
        self._clock = clock
        self._decide = decide
        self._parks = parks
        self._timeout = timeout
        self._capacity = capacity
        self._poison_after = poison_after
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._held = held
        self._queues: dict[str, collections.deque[Entry]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = 0  # delivery tasks not asleep until a retry is due
        self._settled = asyncio.Event()
        self._settled.set()
        # Cleared while a release re-reads which keys are held: a delivery task deciding to
        # park meanwhile would park behind a dead letter that is already gone, for good.
        self._steady = asyncio.Event()
        self._steady.set()
        self._releasing = 0
        self._closed = False  # a late write's entries are then left to the next open's recovery
        self._pending = self._delivered = self._retried = self._dead = self._parked = 0
        self._counts = DeliveryCounts()
        self._tracing = tracing if tracing is not None and tracing.enabled else None
        self._ownership = ownership
        # in a cluster: ids queued or being delivered here, ids finished lately, and the keys
        # whose delivery is under way (what a partition being handed over waits for)
        self._live: set[str] = set()
        self._recent: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._asking: collections.Counter[str] = collections.Counter()
        self._fenced = 0

    async def accept(self, envelope: Envelope) -> Appended:
        """Journal the envelope (durably) and queue it for delivery unless it is a duplicate.

        Waits while `capacity` entries are pending. This is the way in for new messages while a
        dispatcher runs: an entry appended to the journal directly is delivered only at the
        next open, by recovery.
        """
        if self._tracing is not None:
            envelope = self._stamped([envelope])[0]
        return (await self._journaled(self._journal.append(envelope), lambda a: [a]))[0]

    async def accept_many(
        self, envelopes: Sequence[Envelope], *, watermark: Watermark | None = None
    ) -> list[Appended]:
        """Journal a batch in one transaction (advancing a poller's `watermark` with it) and
        queue what was new for delivery; duplicates are reported, not queued."""
        if self._tracing is not None:
            envelopes = self._stamped(envelopes)
        write = self._journal.append_many(envelopes, watermark=watermark)
        return await self._journaled(write, lambda a: a)

    async def follow_up(self, envelopes: Sequence[Envelope]) -> list[Appended]:
        """Journal what a delivery causes (a recheck of a waiting deal, a decision) in one
        transaction and queue the new entries at once, over `capacity` if need be.

        For flows, from inside a delivery: waiting for room there could wait on the very
        delivery that holds it. The entries are few per delivery, so the overshoot is bounded.
        """
        if self._tracing is not None:
            envelopes = self._stamped(envelopes)
        appended = await self._journal.append_many(envelopes)
        self._queue_now(appended)
        self._hint(appended)
        return appended

    def _stamped(self, envelopes: Sequence[Envelope]) -> Sequence[Envelope]:
        # The caller's span (a poll, a delivery that follows up) becomes the envelopes'
        # parent, journaled with them: their deliveries continue its trace, after a restart too.
        current = current_span_context()
        if current is None:
            return envelopes
        parent = format_traceparent(current)
        return [
            e if e.traceparent else msgspec.structs.replace(e, traceparent=parent)
            for e in envelopes
        ]

    async def submit(self, entries: Iterable[Entry]) -> None:
        """Queue journaled entries for delivery, waiting while `capacity` entries are pending.

        If the caller is cancelled while it waits, the entries are queued anyway (over capacity):
        they are journaled, and left out they would wait for the next open while later entries
        of their keys overtook them.
        """
        remaining = iter(entries)
        for entry in remaining:
            try:
                while self._pending >= self._capacity:
                    self._room.clear()
                    await self._room.wait()
            except asyncio.CancelledError:
                for late in (entry, *remaining):
                    self._enqueue(late, front=False)
                raise
            self._enqueue(entry, front=False)

    async def _journaled(
        self, write: Awaitable[_T], appended: Callable[[_T], list[Appended]]
    ) -> list[Appended]:
        # A cancelled caller must not strand what its write journals (see `submit`): the write
        # runs on, shielded, and its new entries are queued when it lands.
        writing = asyncio.ensure_future(write)
        try:
            result = appended(await asyncio.shield(writing))
        except asyncio.CancelledError:
            writing.add_done_callback(
                lambda done: (
                    None
                    if done.cancelled() or done.exception() is not None
                    else self._queue_now(appended(done.result()))
                )
            )
            raise
        await self.submit(self._new_entries(result))
        self._hint(result)
        return result

    def _hint(self, appended: list[Appended]) -> None:
        if self._ownership is None:
            return
        others = [
            a.envelope.key
            for a in appended
            if not a.duplicate and not self._ownership.owns(a.envelope.key)
        ]
        if others:
            self._ownership.appended(others)

    def _new_entries(self, appended: list[Appended]) -> list[Entry]:
        now = self._clock.time()
        entries = [
            Entry(envelope=a.envelope, state=EntryState.ACCEPTED, accepted_at=now, updated_at=now)
            for a in appended
            if not a.duplicate
        ]
        for entry in entries:
            self._counts.accepted(entry.envelope.kind)
        return entries

    def _queue_now(self, appended: list[Appended]) -> None:
        if self._closed:
            return
        for entry in self._new_entries(appended):
            self._enqueue(entry, front=False)

    async def replay(
        self, where: DeadLetterFilter, *, dry_run: bool = True, max_replays: int = 3
    ) -> ReplayReport:
        """Replay dead letters through the journal (a dry run by default) and deliver them."""
        report = await self._journal.replay(where, dry_run=dry_run, max_replays=max_replays)
        if not dry_run:
            await self.submit(report.sent)
        return report

    async def release(self, entry_id: str, *, reason: str, by: str) -> ReleaseReport:
        """Release a dead letter and deliver the entries it no longer parks."""
        return await self.close_dead(self._journal.release(entry_id, reason=reason, by=by))

    async def close_dead(self, write: Awaitable[ReleaseReport]) -> ReleaseReport:
        """Await `write`, a journal write that closes a dead letter (a release, an audited
        release or discard), and deliver the entries it no longer parks."""
        self._releasing += 1
        self._steady.clear()
        try:
            report = await write
            await self._resume(report.released.key, report.unparked)
        finally:
            self._releasing -= 1
            if not self._releasing:
                self._steady.set()
        return report

    def cancel_deliveries(self) -> None:
        """Cancel every delivery in progress (their entries stay in flight in the journal)."""
        for task in self._tasks:
            task.cancel()

    async def wait_idle(self) -> None:
        """Wait until no entry is queued, being delivered or waiting for its retry."""
        await self._idle.wait()

    async def wait_settled(self) -> None:
        """Wait until every delivery left is asleep until its retry is due (or none is left):
        what a test awaits before it advances a fake clock."""
        await self._settled.wait()

    def statistics(self) -> DispatcherStatistics:
        """Return the dispatcher's counters."""
        return DispatcherStatistics(
            pending=self._pending,
            delivered=self._delivered,
            retried=self._retried,
            dead=self._dead,
            parked=self._parked,
            fenced=self._fenced,
        )

    # -- in a cluster --------------------------------------------------------------------------

    def admit(self, entries: Iterable[Entry]) -> int:
        """Queue journaled entries another daemon appended (or a lost daemon left open) that
        are not queued here already, over `capacity` if need be (an intake must not wait on
        the deliveries it feeds); return how many were queued."""
        queued = 0
        for entry in entries:
            if entry.id in self._live or entry.id in self._recent:
                continue
            if self._enqueue(entry, front=False):
                queued += 1
        return queued

    def hold(self, keys: Iterable[str]) -> None:
        """Hold these keys' new entries behind their dead letters (a partition's `held_keys`,
        read when this daemon gains it)."""
        self._held.update(keys)

    def drop(self, owns: Callable[[str], bool]) -> int:
        """Drop the queued entries of keys this daemon no longer `owns` (a lost partition);
        deliveries under way finish. Return how many were dropped."""
        dropped = 0
        for key, queue in self._queues.items():
            if queue and not owns(key):
                dropped += len(queue)
                for entry in queue:
                    self._live.discard(entry.id)
                queue.clear()
        self._pending -= dropped
        if dropped:
            self._room.set()
        # forget what finished here of those keys: if the partition comes back, its open
        # entries (read again) are queued again
        self._recent = collections.OrderedDict(
            (entry_id, key) for entry_id, key in self._recent.items() if owns(key)
        )
        return dropped

    def in_use(self) -> set[str]:
        """The keys whose delivery is under way here (an `ask` or a journal mark)."""
        return {key for key, n in self._asking.items() if n}

    def outcomes(self) -> list[KindOutcomes]:
        """Return what became of each kind's entries (for metrics: read when scraped)."""
        return self._counts.outcomes()

    # -- per-key delivery ---------------------------------------------------------------------

    def _enqueue(self, entry: Entry, *, front: bool) -> bool:
        if self._ownership is not None:
            if not self._ownership.owns(entry.key):
                return False  # journaled; the daemon holding its partition delivers it
            self._live.add(entry.id)
        self._pending += 1
        self._idle.clear()
        queue = self._queues.get(entry.key)
        if queue is None:
            queue = self._queues[entry.key] = collections.deque()
            self._awake(+1)  # now, not when the task starts: `wait_settled` must see it
            task = self._group.create_task(self._drain(entry.key, queue), name=entry.key)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if front:
            queue.appendleft(entry)
        else:
            queue.append(entry)
        return True

    async def _resume(self, key: str, unparked: Iterable[Entry]) -> None:
        if key not in await self._journal.held_keys():
            self._held.discard(key)
        # Older than anything queued for the key since: they go first, in their own order. They
        # skip the capacity wait: a delivery task must not wait for room that only it can free.
        for entry in reversed(list(unparked)):
            self._enqueue(entry, front=True)

    async def _drain(self, key: str, queue: collections.deque[Entry]) -> None:
        while queue:
            await self._steady.wait()  # before taking one: a release may put older ones first
            if not queue:
                break  # dropped meanwhile: its partition was lost
            entry = queue.popleft()
            try:
                if self._ownership is None:
                    await self._deliver(entry)
                else:
                    await self._deliver_owned(entry)
            finally:
                self._pending -= 1
                self._room.set()
        del self._queues[key]
        if not self._queues:
            self._idle.set()
        self._awake(-1)

    def _awake(self, change: int) -> None:
        self._busy += change
        if self._busy:
            self._settled.clear()
        else:
            self._settled.set()

    async def _sleep_until(self, due: float, key: str) -> bool:
        # False when, in a cluster, the key is no longer this daemon's once the wait is over
        self._awake(-1)
        if self._ownership is not None:
            self._asking[key] -= 1  # a retry asleep does not hold a hand-over up
        try:
            await self._clock.sleep(due - self._clock.time())
        finally:
            self._awake(+1)
            if self._ownership is not None:
                self._asking[key] += 1
        return self._ownership is None or self._ownership.owns(key)

    async def _deliver_owned(self, entry: Entry) -> None:
        assert self._ownership is not None
        self._asking[entry.key] += 1
        try:
            if self._ownership.owns(entry.key):
                await self._deliver(entry)
        except Fenced as exc:
            # the partition moved on while this delivery ran (a pause, a lost connection):
            # the new owner delivers the entry again; effects are idempotent by key
            self._fenced += 1
            _log.warning(
                "fenced: %s %s is no longer this daemon's: %s", entry.key, entry.id, exc,
                extra={"entity": entry.key, "kind": entry.envelope.kind},
            )  # fmt: skip
        finally:
            self._asking[entry.key] -= 1
            if not self._asking[entry.key]:
                del self._asking[entry.key]
            self._live.discard(entry.id)
            self._recent[entry.id] = entry.key
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)

    async def _deliver(self, entry: Entry) -> None:
        if entry.key in self._held and entry.replay_of is None and self._parks(entry.envelope.kind):
            await self._journal.park([entry.id])
            self._parked += 1
            return
        if entry.state is EntryState.IN_FLIGHT and entry.attempts >= self._poison_after:
            # Recovered in flight again and again: every delivery began and none ended, so the
            # process stopped during each. Deliver it once more and it may stop it again.
            await self._journal.mark_dead(
                entry.id,
                reason=(
                    f"delivery began {entry.attempts} times and never ended (the process "
                    "stopped during each): it may be what stops it; inspect before replaying"
                ),
                error_class="PoisonSuspected",
            )
            self._held.add(entry.key)
            self._dead += 1
            self._counts.dead(entry.envelope.kind, None)
            return
        if (
            entry.state is EntryState.RETRY
            and entry.due_at is not None
            and not await self._sleep_until(entry.due_at, entry.key)
        ):
            return  # the key's partition went to another daemon while the retry waited
        attempts = entry.attempts
        began = self._clock.time()  # what a schedule's deadline counts from
        while True:
            await self._journal.mark_in_flight([entry.id])
            attempts += 1
            envelope = msgspec.structs.replace(entry.envelope, attempt=attempts)
            try:
                if self._tracing is None:
                    await self._route(entry.key).ask(envelope, timeout=self._timeout)
                else:
                    await self._traced_ask(entry, envelope, self._tracing)
            except Exception as exc:  # noqa: BLE001 - not swallowed: recorded as retry or dead
                decision = self._decide(exc, attempts, self._clock.time() - began)
                error = f"{type(exc).__name__}: {exc}"
                # the log's fields (JSON lines) say which entity and kind, and the span's ids
                context = {"entity": entry.key, "kind": entry.envelope.kind}
                named = getattr(exc, "system", None)
                system = named if isinstance(named, str) else None
                if decision.verdict is Verdict.RETRY:
                    _log.info(
                        "retry %s %s in %.1f s (attempt %d): %s", entry.key, entry.id,
                        decision.delay, attempts, error, extra=context,
                    )  # fmt: skip
                    self._retried += 1
                    self._counts.retried(entry.envelope.kind, system)
                    at = self._clock.time() + decision.delay
                    await self._journal.mark_retry(
                        entry.id, at=at, error=error, error_class=type(exc).__name__
                    )
                    if not await self._sleep_until(at, entry.key):
                        return
                    continue
                await self._journal.mark_dead(
                    entry.id,
                    # a classifier that calls an exception a success still leaves it unhandled
                    reason=decision.reason if decision.verdict is Verdict.DEAD else error,
                    error_class=type(exc).__name__,
                    system=system,
                    error=error,
                )
                _log.warning(
                    "dead letter %s %s after %d attempt(s): %s", entry.key, entry.id, attempts,
                    decision.reason if decision.verdict is Verdict.DEAD else error, extra=context,
                )  # fmt: skip
                self._held.add(entry.key)
                self._dead += 1
                self._counts.dead(entry.envelope.kind, system)
                return
            self._delivered += 1
            self._counts.delivered(entry.envelope.kind, self._clock.time() - entry.accepted_at)
            unparked = await self._journal.mark_done([entry.id])
            if entry.replay_of is not None:
                await self._resume(entry.key, unparked)
            return

    async def _traced_ask(self, entry: Entry, envelope: Envelope, tracing: Tracing) -> None:
        with tracing.span(
            f"deliver {envelope.kind}",
            traceparent=envelope.traceparent,  # as journaled: the trace survives a restart
            kind=SpanKind.CONSUMER,
            attributes={
                "mediator.entity": entry.key,
                "mediator.kind": envelope.kind,
                "mediator.entry": entry.id,
                "mediator.attempt": envelope.attempt,
            },
        ):
            await self._route(entry.key).ask(envelope, timeout=self._timeout)


@contextlib.asynccontextmanager
async def open_dispatcher(
    journal: Journal,
    route: Callable[[str], Recipient],
    *,
    clock: Clock,
    decide: Decide | None = None,
    parks: Callable[[str], bool] = lambda kind: True,
    timeout: float = 30.0,
    capacity: int = 10_000,
    poison_after: int = 10,
    tracing: Tracing | None = None,
    ownership: Ownership | None = None,
) -> AsyncIterator[Dispatcher]:
    """Run a dispatcher over `journal` for the block, starting with what the journal recovers.

    `route(key)` returns the recipient of an entity key (e.g. `EntityRegistry.ref_for`).
    `decide` turns a failure and the attempt count into retry or dead (`default_decider()`).
    `parks(kind)` says whether entries of that kind wait behind their entity's dead letter.
    `timeout` bounds each `ask`. On the way out, deliveries still running are cancelled; their
    entries stay in flight in the journal and are recovered at the next open. Opening waits
    until the recovered backlog fits in `capacity`, so that it is queued before anything new.
    An entry recovered in flight after `poison_after` deliveries that never ended becomes a
    dead letter instead of being delivered again (a message that crashes the process).
    With `tracing` on, each delivery is a span continuing its envelope's `traceparent`, and
    envelopes journaled without one get the caller's current span.
    With an `ownership` (a cluster) only the keys it owns are delivered here; see the module.
    An exception raised in the block, or one failure inside, leaves the block as itself;
    an `ExceptionGroup` only when several things failed at once (see `mediator._task_group`).
    """
    async with TaskGroup() as group:
        dispatcher = Dispatcher(
            journal,
            route,
            group,
            clock=clock,
            decide=decide or default_decider(),
            parks=parks,
            timeout=timeout,
            capacity=capacity,
            held=await journal.held_keys(),
            poison_after=poison_after,
            tracing=tracing,
            ownership=ownership,
        )
        await dispatcher.submit(await journal.recover())
        try:
            yield dispatcher
        finally:
            dispatcher._closed = True
            dispatcher.cancel_deliveries()
