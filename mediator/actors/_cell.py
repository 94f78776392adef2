"""The machinery behind one actor: its mailbox, its run loop, and failure handling."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry.trace import Link, SpanContext, SpanKind

from mediator.actors._deadlines import AskDeadlines
from mediator.actors.actor import Actor
from mediator.actors.batch import BatchActor
from mediator.actors.mailbox import Mailbox
from mediator.actors.strategy import Decision, Strategy
from mediator.actors.tracing import Tracing
from mediator.clock import Clock
from mediator.errors import ActorStopped, MediatorError

if TYPE_CHECKING:
    from mediator.actors.strategy import _Tracker

__all__: list[str] = []

log = logging.getLogger("mediator.actors")

# One mailbox slot: the message, the reply future of an `ask` (None for `tell`), the sender's span.
MailboxItem = tuple[Any, "asyncio.Future[object] | None", SpanContext | None]

_HOOK_TIMEOUT = 10.0  # bound on on_stop/on_failure hooks run during shutdown


class _Parent(Protocol):
    def _child_stopped(self, cell: ActorCell) -> None: ...
    def _child_escalated(self, cell: ActorCell, exc: BaseException) -> None: ...


class ActorCell:
    """One actor's mailbox, task and counters; survives restarts of the actor instance."""

    __slots__ = (
        "_instance",
        "_started",
        "_stop_requested",
        "_stopped",
        "_tracker",
        "after",
        "backing_off",
        "clock",
        "deadlines",
        "escalation",
        "factory",
        "failures",
        "is_stopped",
        "last_active",
        "mailbox",
        "mailbox_size",
        "name",
        "observer",
        "parent",
        "processed",
        "restarts",
        "retired",
        "strategy",
        "task",
        "tracing",
    )

    def __init__(
        self,
        *,
        name: str,
        factory: Callable[[], Actor[Any]],
        mailbox_size: int,
        strategy: Strategy,
        parent: _Parent,
        clock: Clock,
        tracing: Tracing,
        after: asyncio.Event | None = None,
        observer: Callable[[ActorCell], None] | None = None,
        last_active: float | None = None,
    ) -> None:
        self.name = name
        self.factory = factory
        self.mailbox_size = mailbox_size
        self.strategy = strategy
        self.parent = parent
        self.clock = clock
        self.tracing = tracing
        self.mailbox: Mailbox[MailboxItem] = Mailbox(mailbox_size, name=name)
        self._tracker: _Tracker | None = None  # made on the first failure
        self._instance: Actor[Any] | None = None
        self._started = False
        self._stop_requested = False
        self.processed = 0
        self.failures = 0
        self.restarts = 0
        self.backing_off = False
        self.retired = False
        self.escalation: BaseException | None = None
        self.last_active = clock.monotonic() if last_active is None else last_active
        self.is_stopped = False
        self._stopped: asyncio.Event | None = None  # made on demand: most are never awaited
        self.task: asyncio.Task[None] | None = None
        self.deadlines: AskDeadlines | None = None  # made by the first ask
        # From the entity registry: a predecessor to outlive, and who to tell when stopped.
        self.after = after
        self.observer = observer

    def ask_deadlines(self) -> AskDeadlines:
        """The deadlines of this actor's asks, made by the first ask (most actors get none)."""
        if self.deadlines is None:
            self.deadlines = AskDeadlines(self.clock, self.name)
        return self.deadlines

    def stopped_event(self) -> asyncio.Event:
        """An event set once the actor has stopped for good."""
        if self._stopped is None:
            self._stopped = asyncio.Event()
            if self.is_stopped:
                self._stopped.set()
        return self._stopped

    def request_stop(self) -> None:
        """Refuse new messages; the loop drains what is inside, then stops."""
        self._stop_requested = True
        self.mailbox.close()

    async def run(self) -> None:
        """The actor's task: start the instance, then handle messages until asked to stop."""
        try:
            if self.after is not None:
                await self.after.wait()  # the same entity's previous actor is still draining
            if not await self._start_instance():
                return
            mailbox = self.mailbox
            traced = self.tracing.enabled
            while True:
                if not mailbox.depth:
                    if self._stop_requested or mailbox.closed:
                        return
                    waiter = mailbox.readable()
                    if waiter is not None:
                        await waiter
                    continue
                message, reply, parent = mailbox.get_nowait()
                instance = self._instance
                assert instance is not None
                if isinstance(instance, BatchActor):
                    if not await self._handle_batch(instance, (message, reply, parent)):
                        return
                    continue
                try:
                    if traced:
                        result = await self._traced_receive(instance, message, parent)
                    else:  # the hot path stays free of extra coroutines (bench/actors.py)
                        result = await instance.receive(message)
                except Exception as exc:  # noqa: BLE001 - the supervisor's catch-all
                    self.failures += 1
                    if reply is not None and not reply.done():
                        reply.set_exception(exc)
                    decision = await self._failed(message, exc)
                    if not (decision.action == "restart" and await self._start_instance()):
                        return
                    continue
                except BaseException:  # cancelled mid-message (stop deadline): tell the asker
                    if reply is not None and not reply.done():
                        reply.set_exception(ActorStopped(self.name))
                    raise
                self.processed += 1
                if reply is not None and not reply.done():
                    reply.set_result(result)
        finally:
            await self._finish()

    async def _handle_batch(self, instance: BatchActor[Any], first: MailboxItem) -> bool:
        if instance.linger > 0 and self.mailbox.depth < instance.max_batch - 1:
            try:
                await self.clock.sleep(instance.linger)
            except BaseException:  # stopped while lingering: `first` is out of the mailbox
                reply = first[1]
                if reply is not None and not reply.done():
                    reply.set_exception(ActorStopped(self.name))
                raise
        batch = [first]
        while len(batch) < instance.max_batch and self.mailbox.depth:
            batch.append(self.mailbox.get_nowait())
        messages = [message for message, _, _ in batch]
        try:
            if self.tracing.enabled:
                results = await self._traced_receive_batch(instance, messages, batch)
            else:
                results = await _receive_batch(instance, messages)
        except Exception as exc:  # noqa: BLE001 - the supervisor's catch-all
            self.failures += len(batch)  # every message failed, as in as many receive() calls
            for _, reply, _ in batch:
                if reply is not None and not reply.done():
                    reply.set_exception(exc)
            decision = await self._failed(messages, exc)  # on_failure sees the whole batch
            return decision.action == "restart" and await self._start_instance()
        except BaseException:
            for _, reply, _ in batch:
                if reply is not None and not reply.done():
                    reply.set_exception(ActorStopped(self.name))
            raise
        failed: list[tuple[object, Exception]] = []
        for (message, reply, _), result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                self.failures += 1
                if reply is not None and not reply.done():
                    reply.set_exception(result)
                if isinstance(result, Exception):
                    failed.append((message, result))
            else:
                self.processed += 1
                if reply is not None and not reply.done():
                    reply.set_result(result)
        # Hooks after every reply: a hook cancelled at the stop deadline must not strand the
        # asks of later messages, which are out of the mailbox and so never failed by _finish.
        for message, error in failed:
            await self._notify_failure(instance, message, error)
        return True

    async def _notify_failure(self, instance: Actor[Any], message: object, exc: Exception) -> None:
        try:
            await instance.on_failure(message, exc)
        except Exception:  # a broken hook must not take the supervisor's decision away
            log.exception("on_failure of %s raised while handling %r", self.name, exc)

    async def _traced_receive(
        self, instance: Actor[Any], message: object, parent: SpanContext | None
    ) -> object:
        with self.tracing.tracer.start_as_current_span(
            f"{self.name} receive",
            context=self.tracing.parent_context(parent),
            kind=SpanKind.CONSUMER,
            attributes={"mediator.actor": self.name, "mediator.message": _kind(message)},
        ):
            return await instance.receive(message)

    async def _traced_receive_batch(
        self, instance: BatchActor[Any], messages: list[Any], batch: list[MailboxItem]
    ) -> Sequence[object]:
        senders: dict[tuple[int, int], SpanContext] = {}
        for _, _, sender in batch:
            if sender is not None and sender.is_valid:
                senders.setdefault((sender.trace_id, sender.span_id), sender)
        # One sender: parented on it, like a message's span. Several: linked to each, as an
        # OpenTelemetry messaging consumer does with a batch (a span has only one parent);
        # and parented on the first when all are of one trace (one poll's entries), so that
        # the trace goes on to the vendor call.
        parent = None
        if senders and len({s.trace_id for s in senders.values()}) == 1:
            parent = next(iter(senders.values()))
        with self.tracing.tracer.start_as_current_span(
            f"{self.name} receive_batch",
            context=self.tracing.parent_context(parent),
            kind=SpanKind.CONSUMER,
            links=[Link(sender) for sender in senders.values()] if len(senders) > 1 else None,
            attributes={"mediator.actor": self.name, "mediator.batch_size": len(batch)},
        ) as span:
            results = await _receive_batch(instance, messages)
            for result in results:
                if isinstance(result, BaseException):  # the item's failure, not the batch's
                    span.record_exception(result)
            return results

    async def _start_instance(self) -> bool:
        while True:
            instance = self.factory()
            instance.name = self.name
            self._instance = instance
            self._started = False
            try:
                await instance.on_start()
            except Exception as exc:  # noqa: BLE001 - supervised like a failed message
                self.failures += 1
                if (await self._failed(None, exc)).action != "restart":
                    return False
                continue
            self._started = True
            return True

    async def _failed(self, message: object, exc: Exception) -> Decision:
        instance = self._instance
        assert instance is not None
        await self._notify_failure(instance, message, exc)
        if self._tracker is None:
            self._tracker = self.strategy.tracker()
        decision = self._tracker.decide(self.clock.monotonic())
        log.warning(
            "actor %s failed (%s: %s); supervisor decides %s%s",
            self.name,
            type(exc).__name__,
            exc,
            decision.action,
            f" after {decision.delay:.3g} s" if decision.delay else "",
            # A MediatorError is an expected kind of failure (a rejection, a system away): one
            # line. Anything else is a bug, and its traceback is what the reader needs.
            exc_info=None if isinstance(exc, MediatorError) else exc,
        )
        await self._stop_instance()
        if decision.action == "escalate":
            self.escalation = exc
        elif decision.action == "restart":
            self.restarts += 1
            if decision.delay > 0:
                self.backing_off = True
                try:
                    await self.clock.sleep(decision.delay)
                finally:
                    self.backing_off = False
            else:
                # Yield even "at once": an on_start that fails without awaiting restarted in
                # a loop that never gave the event loop a turn (the whole process froze).
                await asyncio.sleep(0)
        return decision

    async def _stop_instance(self) -> None:
        instance, started = self._instance, self._started
        self._instance, self._started = None, False
        if instance is not None and started:
            try:
                async with asyncio.timeout(_HOOK_TIMEOUT):
                    await instance.on_stop()
            except Exception:
                log.exception("on_stop of %s raised", self.name)

    async def _finish(self) -> None:
        self.mailbox.close()
        dropped = 0
        for _, reply, _ in self.mailbox.drain():
            if reply is None:
                dropped += 1
            elif not reply.done():
                reply.set_exception(ActorStopped(self.name))
        if dropped:
            # Durable work is journaled and re-dispatched; this only says what was in memory.
            log.warning("actor %s stopped with %d unhandled messages", self.name, dropped)
        try:
            await self._stop_instance()
        finally:
            # Also when cancelled in on_stop (the stop deadline): the parent, the registry and
            # wait_stopped() must still learn that the actor is gone.
            self.is_stopped = True
            if self._stopped is not None:
                self._stopped.set()
            if self.escalation is not None:
                self.parent._child_escalated(self, self.escalation)
            self.parent._child_stopped(self)
            if self.observer is not None:
                self.observer(self)


async def _receive_batch(instance: BatchActor[Any], messages: list[Any]) -> Sequence[object]:
    results = await instance.receive_batch(messages)
    if len(results) != len(messages):
        raise RuntimeError(
            f"receive_batch returned {len(results)} results for {len(messages)} messages"
        )
    return results


def _kind(message: object) -> str:
    kind = getattr(message, "kind", None)
    return kind if isinstance(kind, str) else type(message).__name__
