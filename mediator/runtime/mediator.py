"""`Mediator`: the composition root the daemon, the demo and host services all use.

``async with Mediator(loaded) as m:`` validates what the configuration file could not (flow
options, the systems each flow needs, pollers that exist), then owns, in this order: the
journal (opened and recovered), the policy registry, one supervised system actor per
configured system, an entity registry per enabled flow, the dispatcher (routing by kind),
the read-only journal reader, the pollers on their schedules, the admin API (with
`/healthz` and `/readyz`) and the webhook listener of `[ingress.webhooks]`; it stops them in
reverse order. Stopping drains first: the pollers stop, the webhook listener answers 503
(requests already being journaled finish), in-flight deliveries get up to
`[journal] drain_timeout` seconds (real time) to finish, and what is left stays in the
journal for the next start. Inside a host's event loop, `accept` hands it an event;
`statistics`, `reader` and `dead_letters` are the operator's reads, and `replay`, `release`,
`discard` and `decide_approval` the operator's actions, each written with its audit record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zoneinfo
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, cast

import msgspec
from opentelemetry.trace import TracerProvider

from mediator._task_group import TaskGroup
from mediator.actors import (
    ActorRef,
    EntityRegistry,
    RegistryStatistics,
    RestartWithBackoff,
    Supervisor,
    Tracing,
    open_entity_registry,
    open_supervisor,
)
from mediator.clock import Clock, SystemClock
from mediator.codecs import Envelope
from mediator.config import (
    LoadedConfig,
    PollerConfig,
    WebhookConfig,
    parse_listen,
    resolve_secrets,
)
from mediator.journal import (
    Appended,
    DeadLetterFilter,
    Dispatcher,
    DispatcherStatistics,
    Entry,
    Journal,
    JournalStatistics,
    KindOutcomes,
    ReleaseReport,
    ReplayReport,
    default_decider,
    open_dispatcher,
)
from mediator.journal.operator import Approval, AuditRecord, OperatorStore
from mediator.journal.reads import JournalReader
from mediator.policies import PolicyRegistry, SharedBudgets
from mediator.reconciliation import POLLER as RECONCILIATION
from mediator.reconciliation import Options as ReconciliationOptions
from mediator.reconciliation import Reconciler, ScheduledReconciliation
from mediator.runtime.approvals import (
    SWEEP_SECONDS,
    FlowApprovals,
    decision_envelope,
    decision_kind,
)
from mediator.runtime.assembly import build_flows, check_pollers
from mediator.runtime.catalog import SHIPPED_FLOWS, FlowFactory
from mediator.runtime.cluster import ClusterMember, ClusterStatus
from mediator.runtime.flow import Flow, FlowContext, Poller, PollOutcome
from mediator.runtime.journals import open_journals
from mediator.runtime.routing import KindRouter
from mediator.runtime.schedule import PollerStatus, ScheduledPoller, traced_poll
from mediator.runtime.systems import build_connectors
from mediator.runtime.throughput import FlowThroughput, ThroughputCounter
from mediator.systems import Command, Connector, ConnectorStatistics, Secret, SystemActor
from mediator.tomlfile import Fail, failing

if TYPE_CHECKING:
    from mediator.journal.postgres import PostgresJournal

__all__ = ["Mediator", "MediatorStatistics"]

_log = logging.getLogger("mediator")
#: a poller of an enabled flow that `[ingress.pollers]` does not mention polls this often
DEFAULT_POLL_INTERVAL = 60.0
#: the dispatcher's ask outlasts the longest inner call by this much (deadlines nest)
_ASK_MARGIN = 5.0


class MediatorStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a status page shows: state, journal, deliveries, flows, systems, pollers."""

    state: str
    journal: JournalStatistics
    dispatcher: DispatcherStatistics
    flows: dict[str, RegistryStatistics]
    systems: dict[str, ConnectorStatistics]
    pollers: list[PollerStatus]
    #: deliveries per flow, in total and over the last minute and 15 minutes
    throughput: dict[str, FlowThroughput] = {}
    #: what became of the entries of each kind (accepted, delivered, retried, dead, latency)
    deliveries: list[KindOutcomes] = []
    #: in a cluster: this daemon, its partitions and singletons
    cluster: ClusterStatus | None = None


class Mediator:
    """The running mediator of one configuration; enter it with ``async with``.

    `flows` maps flow names to their factories (the shipped ones by default): a host service
    adds its own. `clock` is the runtime's time (a `FakeClock` in tests). `serve_admin`
    starts the admin API (with `/healthz` and `/readyz`) on `[admin] listen`.
    `tracer_provider` is where spans go (a host's own pipeline, a test's in-memory
    exporter); by default the `[telemetry]` OTLP exporter when configured, else the
    process-global provider (a no-op unless the host installed an SDK). `shared_budgets`,
    given by the cluster's wiring when `[cluster]` is on (`open_shared_budgets` over the
    PostgreSQL journal's `PostgresBuckets`), makes every rate limit and quota the cluster's.
    """

    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        flows: Mapping[str, FlowFactory] = SHIPPED_FLOWS,
        clock: Clock | None = None,
        serve_admin: bool = True,
        tracer_provider: TracerProvider | None = None,
        shared_budgets: SharedBudgets | None = None,
    ) -> None:
        self.loaded = loaded
        self._shared_budgets = shared_budgets
        self._given_provider = tracer_provider
        self._tracer_provider = tracer_provider
        self._tracing = Tracing(tracer_provider)
        self.clock: Clock = clock or SystemClock()
        self.state = "stopped"
        #: the address the admin API is bound to (its port when `listen` gave 0)
        self.admin_address: tuple[str, int] | None = None
        #: the address the webhook listener is bound to, if `[ingress.webhooks]` is configured
        self.webhook_address: tuple[str, int] | None = None
        self._factories = dict(flows)
        self._serve_admin = serve_admin
        self._flows: list[Flow] = []
        self._counters: dict[str, ThroughputCounter] = {}
        self._operator: OperatorStore | None = None
        self._reader: JournalReader | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._journal: Journal | None = None
        self._dispatcher: Dispatcher | None = None
        self._connectors: dict[str, Connector] = {}
        self._registries: dict[str, EntityRegistry[Envelope]] = {}
        self._pollers: list[ScheduledPoller] = []
        self._poller_tasks: list[asyncio.Task[None]] = []
        #: whether this mediator ever got to ready (a failed start is reported otherwise)
        self.was_ready = False
        self._offered: dict[str, Poller] = {}
        self._reconciler: Reconciler | None = None
        self._cluster: ClusterMember | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Mediator:
        self.state = "starting"
        stack = contextlib.AsyncExitStack()
        await stack.__aenter__()
        try:
            await self._start(stack)
        except BaseException:
            self.state = "stopped"
            await self._stop_pollers()
            await stack.aclose()
            raise
        self._stack = stack
        self.state = "ready"
        self.was_ready = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        self.state = "stopping"
        try:
            if exc is None:
                await self._drain()
        finally:
            await self._stop_pollers()
            await stack.aclose()
            self.state = "stopped"

    async def _start(self, stack: contextlib.AsyncExitStack) -> None:
        config = self.loaded.config
        fail = failing(self.loaded.text, file=self.loaded.file)
        secrets = resolve_secrets(self.loaded)  # every reference, before anything opens
        flows = build_flows(self.loaded, self._factories, fail)
        check_pollers(flows, self.loaded.config.ingress.pollers.keys(), fail)
        # the dispatcher's log lines carry the entity and kind; this adds the flow's name
        naming = _FlowNames({kind: flow.name for flow in flows for kind in flow.kinds})
        logging.getLogger("mediator.dispatch").addFilter(naming)
        stack.callback(logging.getLogger("mediator.dispatch").removeFilter, naming)
        zone = zoneinfo.ZoneInfo(config.time_zone)
        journals = await stack.enter_async_context(
            open_journals(self.loaded, clock=self.clock, secrets=secrets, fail=fail)
        )
        journal, self._reader, operator = journals.journal, journals.reader, journals.operator
        self._journal, self._operator, self._cluster = journal, operator, journals.cluster
        await self._open_traces(stack, fail)
        self._flows = flows
        policies = PolicyRegistry(
            self.loaded.policies, clock=self.clock, shared=self._shared_budgets
        )
        supervisor = await stack.enter_async_context(
            open_supervisor(
                name="mediator", clock=self.clock, tracer_provider=self._tracer_provider
            )
        )
        self._connectors = build_connectors(self.loaded, policies=policies, clock=self.clock)
        for connector in self._connectors.values():
            connector.transport.tracing = self._tracing
        actors = {
            name: self._spawn_system(supervisor, name, connector)
            for name, connector in self._connectors.items()
        }
        registries: dict[str, EntityRegistry[Envelope]] = {}
        counters: dict[str, ThroughputCounter] = {}
        contexts: dict[str, FlowContext] = {}
        for flow in flows:
            context = FlowContext(
                journal=journal,
                clock=self.clock,
                systems={name: actors[name] for name in flow.systems},
                connectors={name: self._connectors[name] for name in flow.systems},
                approvals=FlowApprovals(operator, flow.name),
                follow_up=self._follow_up,
                enabled_flows=frozenset(f.name for f in flows),
                time_zone=config.time_zone,
                release=self._release_for(flow.name),
            )
            contexts[flow.name] = context
            registry = await stack.enter_async_context(
                open_entity_registry(
                    supervisor,
                    lambda key, flow=flow, context=context: flow.entity(key, context),  # type: ignore[misc]  # default args bind this iteration's flow
                    name=f"flow:{flow.name}",
                )
            )
            self._registries[flow.name] = registry
            self._counters[flow.name] = counter = ThroughputCounter(self.clock)
            for kind in flow.kinds:
                registries[kind] = registry
                counters[kind] = counter
        timeout = max((f.delivery_timeout for f in flows), default=30.0) + _ASK_MARGIN
        self._dispatcher = await stack.enter_async_context(
            open_dispatcher(
                journal,
                KindRouter(registries, counters=counters).route,
                clock=self.clock,
                timeout=timeout,
                decide=default_decider(classifier_for=policies.classifier),
                parks=_parking(flows),
                tracing=self._tracing,
                ownership=self._cluster.ownership if self._cluster is not None else None,
            )
        )
        if self._cluster is not None:
            self._cluster.intake = await stack.enter_async_context(
                self._cluster.intake_for(cast("PostgresJournal", journal), self._dispatcher)
            )
            guard = self._cluster.guard(self._dispatcher)
            for connector in self._connectors.values():
                connector.transport.guard = guard
        await self._journal_recent_decisions()
        self._reconciler = self._build_reconciler(journal)
        self._schedule_pollers(flows, contexts, zone)
        group = await stack.enter_async_context(TaskGroup())
        self._poller_tasks = [
            group.create_task(p.run(journal, self._dispatcher), name=f"poller:{p.poller.name}")
            for p in self._pollers
        ]
        if self._serve_admin:
            from mediator.admin import TokenTable, open_admin_listener  # the edge: imports us

            host, port = parse_listen(config.admin.listen)
            with _listening(fail, "admin.listen", config.admin.listen):
                self.admin_address = await stack.enter_async_context(
                    open_admin_listener(
                        self, TokenTable.from_config(self.loaded), host=host, port=port
                    )
                )
        if config.telemetry.otlp_endpoint is not None and config.telemetry.metrics:
            from mediator.telemetry import collect, open_otlp_metrics  # the edge: imports us

            await stack.enter_async_context(
                open_otlp_metrics(config.telemetry, lambda: collect(self), clock=self.clock)
            )
        if config.ingress.webhooks is not None:  # entered last: it stops first, after the drain
            with _listening(fail, "ingress.webhooks.listen", config.ingress.webhooks.listen):
                self.webhook_address = await stack.enter_async_context(
                    _webhook_listener(self, config.ingress.webhooks, secrets)
                )

    async def _open_traces(self, stack: contextlib.AsyncExitStack, fail: Fail) -> None:
        telemetry = self.loaded.config.telemetry
        self._tracer_provider = self._given_provider
        self._tracing = Tracing(self._tracer_provider)
        if telemetry.otlp_endpoint is None:
            return
        from mediator.telemetry import check_otlp_extra, open_otlp_traces  # the edge: imports us

        try:
            check_otlp_extra()
        except ImportError as exc:
            raise fail("telemetry.otlp_endpoint", str(exc)) from None
        if telemetry.traces and self._tracer_provider is None:
            # entered right after the journal: left after every part that makes spans
            self._tracer_provider = await stack.enter_async_context(open_otlp_traces(telemetry))
            self._tracing = Tracing(self._tracer_provider)

    def _spawn_system(
        self, supervisor: Supervisor, name: str, connector: Connector
    ) -> ActorRef[Command]:
        return supervisor.spawn(
            lambda: SystemActor(connector, max_batch=100, linger=0.01),
            name=f"system:{name}",
            mailbox_size=1_000,
            strategy=RestartWithBackoff(min_backoff=0.1, max_backoff=30.0),
        )

    def _schedule_pollers(
        self,
        flows: list[Flow],
        contexts: dict[str, FlowContext],
        zone: zoneinfo.ZoneInfo,
    ) -> None:
        configured = self.loaded.config.ingress.pollers
        offered: dict[str, Poller] = {
            p.name: p for flow in flows for p in flow.pollers(contexts[flow.name])
        }
        offered[RECONCILIATION] = ScheduledReconciliation(
            self.reconciliation, clock=self.clock, zone=zone
        )
        self._offered = offered
        for name, poller in offered.items():
            default = (
                None if name == RECONCILIATION else PollerConfig(interval=DEFAULT_POLL_INTERVAL)
            )
            schedule = configured.get(name, default)  # the reconciliation: off unless configured
            if schedule is not None and schedule.enabled:
                self._pollers.append(
                    ScheduledPoller(
                        poller,
                        schedule,
                        zone=zone,
                        clock=self.clock,
                        tracing=self._tracing,
                        runs_here=self._singleton(name),
                    )
                )
        if self._cluster is not None:
            self._cluster.run_singletons([p.poller.name for p in self._pollers])

    def _singleton(self, name: str) -> Callable[[], bool] | None:
        # in a cluster a poller (a schedule) runs only where its singleton lease is held
        cluster = self._cluster
        return None if cluster is None else lambda: cluster.keeper.holds_singleton(name)

    def _build_reconciler(self, journal: Journal) -> Reconciler:
        settings = self.loaded.config.reconciliation

        async def replay(
            ids: Sequence[str], by: str, role: str, reason: str | None
        ) -> ReplayReport:
            where = DeadLetterFilter(ids=tuple(ids))
            return await self.replay(where, dry_run=False, by=by, role=role, reason=reason)

        async def note(
            action: str, target: str, by: str, role: str, reason: str | None, detail: str | None
        ) -> None:
            audit = AuditRecord(
                who=by, role=role, action=action, target=target, reason=reason, detail=detail
            )
            await self._running_operator().note(audit)
            _log_action(audit, detail or "")

        return Reconciler(
            journal=journal,
            reader=self.reader,
            connectors=self._connectors,
            clock=self.clock,
            replay=replay,
            redrive=self._redrive,
            note=note,
            options=ReconciliationOptions(
                lag=settings.lag,
                tolerance=dict(settings.tolerance),
                default_tolerance=settings.default_tolerance,
            ),
        )

    async def _redrive(self, entry_id: str, by: str, role: str, reason: str | None) -> Entry:
        """Deliver a delivered entry again with its original idempotency key (a repair),
        audited, and queue it."""
        audit = AuditRecord(who=by, role=role, action="redrive", target=entry_id, reason=reason)
        entry = await self._running_operator().redrive(entry_id, audit=audit)
        _log_action(audit, f"sent {entry.id}")
        await self._running_dispatcher().submit([entry])
        return entry

    @property
    def reconciliation(self) -> Reconciler:
        """The reconciliation of this mediator's systems (runs, repairs, sign-offs)."""
        if self._reconciler is None:
            raise RuntimeError("the Mediator is not running: use `async with Mediator(...)`")
        return self._reconciler

    async def _drain(self) -> None:
        for poller in self._pollers:
            poller.stop()
        if self._dispatcher is None:
            return
        deadline = self.loaded.config.journal.drain_timeout
        try:
            async with asyncio.timeout(deadline):
                if self._poller_tasks:
                    await asyncio.wait(self._poller_tasks)
                await self._dispatcher.wait_settled()  # retries due later stay journaled
        except TimeoutError:
            _log.warning(
                "drain deadline of %g s passed; %d entries stay in the journal for the next start",
                deadline,
                self._dispatcher.statistics().pending,
            )

    async def _stop_pollers(self) -> None:
        for poller in self._pollers:
            poller.stop()
        for task in self._poller_tasks:
            task.cancel()

    # -- what a host service and the admin API use -------------------------------------------

    @property
    def handled_kinds(self) -> frozenset[str]:
        """The journal kinds some enabled flow handles (what ingress journals; the rest it
        acknowledges and drops)."""
        return frozenset(kind for flow in self._flows for kind in flow.kinds)

    @property
    def flows(self) -> tuple[Flow, ...]:
        """The enabled flows."""
        return tuple(self._flows)

    @property
    def reader(self) -> JournalReader:
        """The journal's read-only connection: reads that never queue behind the writer."""
        if self._reader is None:
            raise RuntimeError("the Mediator is not running: use `async with Mediator(...)`")
        return self._reader

    @property
    def journal(self) -> Journal:
        """The running journal (a host's xrefs, watermarks and reads go through it)."""
        return self._running_journal()

    async def poll(self, name: str) -> PollOutcome:
        """Run the poller `name` once now, scheduled or not; return what it read.

        Raises `KeyError` when no enabled flow has a poller of that name.
        """
        return await traced_poll(
            self._offered[name], self._running_journal(), self._running_dispatcher(), self._tracing
        )

    @property
    def pollers(self) -> tuple[ScheduledPoller, ...]:
        """The scheduled pollers, in the order of the enabled flows."""
        return tuple(self._pollers)

    async def wait_idle(self) -> None:
        """Wait until nothing is queued, being delivered or waiting for a retry."""
        await self._running_dispatcher().wait_idle()

    async def accept(self, envelope: Envelope) -> Appended:
        """Journal `envelope` durably and queue it for its flow; a duplicate key is reported.

        Waits while the dispatcher's backlog is full (back-pressure reaches the caller).
        """
        return await self._running_dispatcher().accept(envelope)

    async def dead_letters(self, where: DeadLetterFilter, *, limit: int = 100) -> list[Entry]:
        """Dead letters matching `where`, oldest first."""
        return await self._running_journal().list_dead(where, limit=limit)

    async def replay(
        self,
        where: DeadLetterFilter,
        *,
        dry_run: bool = True,
        by: str = "host",
        role: str = "host",
        reason: str | None = None,
    ) -> ReplayReport:
        """Send matching dead letters again with their original idempotency keys (dry run
        by default: the report says what would be sent). A real replay is written with its
        audit record (`by`, `role`, `reason`) and then queued for delivery."""
        dispatcher = self._running_dispatcher()
        if dry_run:
            return await dispatcher.replay(where, dry_run=True)
        target = ",".join(where.ids) or _describe(where)
        audit = AuditRecord(who=by, role=role, action="replay", target=target, reason=reason)
        report = await self._running_operator().replay(where, audit=audit)
        _log_action(audit, f"sent {len(report.sent)}, quarantined {len(report.quarantined)}")
        await dispatcher.submit(report.sent)
        return report

    async def release(
        self, entry_id: str, *, reason: str, by: str, role: str = "host"
    ) -> ReleaseReport:
        """Close a dead letter without sending it, recording who and why (in the entry and
        the audit log); its entity's parked entries go on. `LookupError` if no dead letter."""
        audit = AuditRecord(who=by, role=role, action="release", target=entry_id, reason=reason)
        write = self._running_operator().release(entry_id, reason=reason, audit=audit)
        report = await self._running_dispatcher().close_dead(write)
        _log_action(audit, f"{len(report.unparked)} parked entries go on")
        return report

    async def discard(
        self, entry_id: str, *, reason: str, by: str, role: str = "host"
    ) -> ReleaseReport:
        """Close a dead letter for good as discarded (see `OperatorStore.discard`), audited;
        its entity's parked entries go on. `LookupError` if no dead letter."""
        audit = AuditRecord(who=by, role=role, action="discard", target=entry_id, reason=reason)
        write = self._running_operator().discard(entry_id, reason=reason, audit=audit)
        report = await self._running_dispatcher().close_dead(write)
        _log_action(audit, f"{len(report.unparked)} parked entries go on")
        return report

    async def request_approval(
        self,
        *,
        flow: str,
        entity: str,
        what: str,
        amount: int | None = None,
        currency: str | None = None,
    ) -> Approval:
        """File a flow's request for a person's approval (pending until decided)."""
        return await self._running_operator().request_approval(
            flow=flow, entity=entity, what=what, amount=amount, currency=currency
        )

    async def decide_approval(
        self, approval_id: str, *, approve: bool, reason: str, by: str, role: str = "host"
    ) -> Approval:
        """Approve or reject a pending request, audited; `LookupError` if none is pending."""
        audit = AuditRecord(
            who=by, role=role, action="approve" if approve else "reject",
            target=approval_id, reason=reason,
        )  # fmt: skip
        decided = await self._running_operator().decide(
            approval_id, approve=approve, reason=reason, audit=audit
        )
        _log_action(audit, f"{decided.flow} {decided.entity}")
        await self._journal_decision(decided)
        return decided

    async def _follow_up(self, envelopes: Sequence[Envelope]) -> list[Appended]:
        return await self._running_dispatcher().follow_up(envelopes)

    async def _journal_decision(self, decided: Approval) -> None:
        # The flow that asked resumes through its entity's order; a flow that is not enabled
        # (or never lists decisions: an approval filed by a host) has nothing to wake.
        if decision_kind(decided.flow) in self.handled_kinds:
            await self._running_dispatcher().accept(decision_envelope(decided))

    async def _journal_recent_decisions(self) -> None:
        # A crash between a decision and its envelope would leave the flow waiting forever:
        # decisions of the last SWEEP_SECONDS are journaled again (duplicates are no-ops).
        assert self._reader is not None
        since = self.clock.time() - SWEEP_SECONDS
        kinds = self.handled_kinds
        decisions = [
            decision_envelope(decided)
            for state in ("approved", "rejected")
            for decided in await self._reader.approvals(
                state=state, decided_since=since, limit=100_000
            )
            if decision_kind(decided.flow) in kinds
        ]
        if decisions:  # one transaction; those journaled before are duplicates
            await self._running_dispatcher().accept_many(decisions)

    def _release_for(self, flow: str) -> Callable[[str, str], Awaitable[ReleaseReport]]:
        async def release(entry_id: str, reason: str) -> ReleaseReport:
            return await self.release(entry_id, reason=reason, by=f"flow:{flow}", role="flow")

        return release

    def statistics(self) -> MediatorStatistics:
        """A snapshot of every part (in-memory counters only: cheap to call often)."""
        journal = self._running_journal()
        dispatcher = self._running_dispatcher()
        return MediatorStatistics(
            state=self.state,
            journal=journal.statistics(),
            dispatcher=dispatcher.statistics(),
            flows={name: r.statistics() for name, r in self._registries.items()},
            systems={name: c.statistics() for name, c in self._connectors.items()},
            pollers=[p.status() for p in self._pollers],
            throughput={name: c.statistics() for name, c in self._counters.items()},
            deliveries=dispatcher.outcomes(),
            cluster=self._cluster.status() if self._cluster is not None else None,
        )

    def _running_journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("the Mediator is not running: use `async with Mediator(...)`")
        return self._journal

    def _running_operator(self) -> OperatorStore:
        if self._operator is None:
            raise RuntimeError("the Mediator is not running: use `async with Mediator(...)`")
        return self._operator

    def _running_dispatcher(self) -> Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("the Mediator is not running: use `async with Mediator(...)`")
        return self._dispatcher


class _FlowNames(logging.Filter):
    """Name the flow of a log record that carries a journal kind (as `flow`, a JSON field)."""

    def __init__(self, flows: Mapping[str, str]) -> None:
        super().__init__()
        self._flows = dict(flows)

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `flow` when the record's `kind` is one an enabled flow handles; keep it."""
        kind = getattr(record, "kind", None)
        if isinstance(kind, str) and kind in self._flows and not hasattr(record, "flow"):
            record.flow = self._flows[kind]
        return True


def _parking(flows: list[Flow]) -> Callable[[str], bool]:
    # A flow may list kinds that are not held behind its entity's dead letter (its optional
    # `unparked_kinds`): a corrected deal must be judged again although its rejection is
    # still a dead letter, while the milestones behind that deal stay parked.
    free = frozenset(kind for flow in flows for kind in getattr(flow, "unparked_kinds", ()))
    return lambda kind: kind not in free


@contextlib.contextmanager
def _listening(fail: Fail, key: str, address: str) -> Iterator[None]:
    # a listener that cannot bind is the configuration's problem: name its key and line
    try:
        yield
    except OSError as exc:
        raise fail(key, f"cannot listen on {address}: {exc.strerror or exc}") from exc


def _webhook_listener(
    mediator: Mediator, config: WebhookConfig, secrets: Mapping[str, Secret]
) -> contextlib.AbstractAsyncContextManager[tuple[str, int]]:
    from mediator.ingress.webhooks import open_webhook_listener  # the edge: imports aiohttp

    # resolved once at start: to rotate, configure the old and the new secret, then restart
    stripe = [secrets[f"ingress.webhooks.stripe_secrets[{i}]"]
              for i in range(len(config.stripe_secrets))]  # fmt: skip
    host, port = parse_listen(config.listen)
    return open_webhook_listener(mediator, config, stripe, host=host, port=port)


def _log_action(audit: AuditRecord, outcome: str) -> None:
    # the daemon's log says what operators did too (the audit log is the record of it)
    _log.info(
        "%s %s (%s) %s: %s; reason: %s",
        audit.who, audit.action, audit.role, audit.target, outcome, audit.reason,
    )  # fmt: skip


def _describe(where: DeadLetterFilter) -> str:
    # the audit log's target of a replay by filter: the filter's set fields
    fields = msgspec.structs.asdict(where)
    return " ".join(f"{k}={v}" for k, v in fields.items() if v not in (None, ())) or "all"
