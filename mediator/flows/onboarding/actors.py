"""The onboarding flow's entity actors: one per deal, one per CRM record deals depend on.

`DealOnboarding` (key ``opportunity:<id>``) receives a deal's won versions and its rechecks.
Its saga (`mediator.flows.saga`) is the deal's progress: until the deal passes the rules it
is judged on each delivery (reads from the CRM only), then the steps run in order, each saved
as it finishes, so a retry, a crash or a replay resumes at the first unfinished step and a
finished deal is left as it is. The latest version of the deal is kept in the saga's detail,
for the rechecks, which carry none.

- Rejected: the saga says ``rejected`` with every failed rule, the Opportunity's
  ``Sync_Status__c`` says so, the deal is remembered on its account, parents and contract
  (their changes recheck it) and `DealRejected` makes it a dead letter for sales operations.
- Waiting for its parent account: the saga says ``waiting``, the delivery completes.
- A step failing for good: the saga says ``failed`` at that step, the Opportunity too, and
  the dead letter (`StepFailed`) names the step; a replay resumes there. A failure that will
  be retried leaves the saga ``running`` with a note of what is retried.

A deal's versions and rechecks are delivered even behind its dead letter (the plug-in's
`unparked_kinds`); when one of them gets the deal past the rules, or finishes it, the flow
closes the dead letters that made obsolete (released, audited as ``flow:onboarding``), so
what was parked behind them (the deal's milestones, change orders) goes on.

`RecordWatcher` (keys ``account:<id>``, ``contract:<id>``) rechecks the deals that wait on or
were rejected for the record that changed.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

import msgspec

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.codecs.canonical.deals import Deal
from mediator.codecs.canonical.parties import Client
from mediator.errors import BusinessRejected, MediatorError
from mediator.flows.kinds import OPPORTUNITY_WON, account_key, contract_key
from mediator.flows.onboarding.client_steps import ClientStep
from mediator.flows.onboarding.closing_steps import (
    WRITEBACK_PRIORITY,
    BillingStep,
    WriteBackStep,
)
from mediator.flows.onboarding.context import FLOW, Onboarding
from mediator.flows.onboarding.judging import Verdict, reach_verdict
from mediator.flows.onboarding.links import PAYLOADS, Links, recheck_dependents, update_links
from mediator.flows.onboarding.options import OnboardingOptions
from mediator.flows.onboarding.project_steps import ErpProjectStep, PsaProjectStep
from mediator.flows.onboarding.validation import DealRejected, Terms
from mediator.flows.saga import Saga, SagaConflict, Step
from mediator.journal import Appended, DeadLetterFilter, EntryState, Journal
from mediator.policies.classify import Classifier
from mediator.policies.classify import Verdict as Outcome
from mediator.systems import (
    Command,
    Connector,
    HarvestConnector,
    SalesforceConnector,
    TrytonConnector,
)
from mediator.systems.salesforce import UpdateRecord, Upserted

__all__ = ["VALIDATE", "DealOnboarding", "RecordWatcher", "StepFailed"]

#: The first step's name: the deal passed the rules (its outputs: terms and account).
VALIDATE = "validate"
#: ``Sync_Status__c`` is a 255-character picklist: longer reasons are cut there (the whole
#: reason is in the saga's note and the dead letter)
_STATUS_LENGTH = 255

_C = TypeVar("_C", bound=Connector)
_encode = msgspec.json.Encoder().encode
_deal = msgspec.json.Decoder(Deal).decode
_terms = msgspec.json.Decoder(Terms).decode
_client = msgspec.json.Decoder(Client).decode


class StepFailed(BusinessRejected):
    """A step of a deal's onboarding failed for good: a dead letter naming the deal, the step
    and the system (`system`, as the dead-letter filters read it); a replay resumes there."""

    def __init__(self, deal: str, step: str, why: str, *, system: str | None = None) -> None:
        self.deal = deal
        self.step = step
        self.system = system
        super().__init__(f"deal {deal} onboarding step {step}", why)


class DealOnboarding(Actor[Envelope]):
    """Onboards one won deal: judged, then client, projects, billing terms, write-back."""

    def __init__(
        self,
        key: str,
        *,
        journal: Journal,
        clock: Clock,
        systems: Mapping[str, ActorRef[Command]],
        connectors: Mapping[str, Connector],
        options: OnboardingOptions,
        follow_up: Callable[[Sequence[Envelope]], Awaitable[list[Appended]]],
        release: Callable[[str, str], Awaitable[object]] | None = None,
    ) -> None:
        self.key = key
        self.journal = journal
        self.clock = clock
        self.systems = systems
        self.connectors = connectors
        self.options = options
        self.follow_up = follow_up
        self.release = release

    async def receive(self, message: Envelope) -> object:
        """Judge the deal (unless it passed before) and run its unfinished steps."""
        saga = Saga(self.journal, FLOW, self.key)
        state = await saga.load()
        if state.status == "done":
            return state  # a replay, a later version or a recheck of a finished deal
        deal = await self._latest(saga, message)
        if deal is None:
            return state  # a recheck of a deal never seen: nothing to judge
        if not saga.finished(VALIDATE):
            verdict = await reach_verdict(
                deal, salesforce=self._salesforce(), journal=self.journal, options=self.options
            )
            if verdict.failures:
                raise await self._rejected(saga, deal, verdict, message)
            if verdict.waits_for is not None:
                await saga.mark("waiting", verdict.note, waits_for=verdict.waits_for)
                await self._tell_crm(saga, deal, "waiting", f"Waiting: {verdict.note}")
                return saga.state
            assert verdict.terms is not None
            assert verdict.account is not None
            await self._passed(deal)
            return await self._run(saga, deal, verdict.terms, verdict.account)
        terms = _terms(saga.state.output(VALIDATE, "terms"))
        account = _client(saga.state.output(VALIDATE, "account"))
        return await self._run(saga, deal, terms, account)

    async def _latest(self, saga: Saga, message: Envelope) -> Deal | None:
        saved = saga.state.detail.get("deal")
        known = None if saved is None else _deal(saved)
        if message.kind != OPPORTUNITY_WON:
            return known
        deal = PAYLOADS.decode_as(message, Deal)
        # a replayed older version does not undo a newer one
        if known is not None and _older(deal, known):
            return known
        version = "" if deal.updated_at is None else deal.updated_at.isoformat()
        if saved != _encode(deal).decode():
            await saga.save(
                msgspec.structs.replace(
                    saga.state,
                    version=version,
                    detail={**saga.state.detail, "deal": _encode(deal).decode()},
                )
            )
        return deal

    async def _run(
        self,
        saga: Saga,
        deal: Deal,
        terms: Terms,
        account: Client,
    ) -> object:
        onboarding = Onboarding(
            deal=deal,
            terms=terms,
            account=account,
            options=self.options,
            journal=self.journal,
            systems=self.systems,
            tryton=self._connector("tryton", TrytonConnector),
            harvest=self._connector("harvest", HarvestConnector),
            salesforce=self._salesforce(),
            follow_up=self.follow_up,
            now=self._now,
        )
        steps: list[Step] = [
            _Validated(terms, account),
            ClientStep(onboarding),
            ErpProjectStep(onboarding),
            PsaProjectStep(onboarding),
            BillingStep(onboarding),
            WriteBackStep(onboarding),
        ]
        try:
            done = await saga.run(steps)
        except SagaConflict:
            raise  # retried from what the other save holds
        except MediatorError as exc:
            step = next(s.name for s in steps if not saga.finished(s.name))
            if self._retried(exc):
                await saga.mark("running", f"retrying step {step}: {exc}")
                raise
            reason = f"{type(exc).__name__}: {exc}"
            await saga.mark("failed", f"failed at step {step}: {reason}", failed_step=step)
            await self._tell_crm(saga, deal, f"failed:{step}", f"Failed at {step}: {reason}")
            system = getattr(exc, "system", None)
            raise StepFailed(
                deal.source_id, step, reason, system=system if isinstance(system, str) else None
            ) from exc
        # a failed step that a later delivery finished leaves nothing for people to do
        await self._close_dead(StepFailed.__name__, f"deal {deal.source_id} is onboarded")
        return done

    async def _rejected(
        self, saga: Saga, deal: Deal, verdict: Verdict, message: Envelope
    ) -> DealRejected:
        reason = "; ".join(verdict.failures)
        opportunity = deal.source_id
        records = [account_key(a) for a in (deal.account_id, *verdict.chain) if a]
        if deal.contract_id:
            records.append(contract_key(deal.contract_id))
        for record in records:
            await update_links(self.journal, record, lambda links: _dependent(links, opportunity))
        if deal.account_id:
            await update_links(
                self.journal,
                account_key(deal.account_id),
                lambda links: _rejection(links, opportunity, reason),
            )
            # the subsidiaries waiting on this account say so in their notes
            await recheck_dependents(
                self.journal,
                self.follow_up,
                account_key(deal.account_id),
                cause=f"parent-rejected:{message.idempotency_key}",
                only=("waiting",),
                now=self._now(),
            )
        await saga.mark("rejected", reason)
        await self._tell_crm(saga, deal, "rejected", f"Rejected: {reason}")
        await self._close_dead(
            DealRejected.__name__, f"superseded by the rejection of {message.idempotency_key}"
        )
        return DealRejected(opportunity, verdict.failures)

    async def _passed(self, deal: Deal) -> None:
        # its earlier rejections no longer stand: closed, the entries parked behind them (the
        # deal's milestones, change orders) go on, and the account's waiters stop citing them
        await self._close_dead(DealRejected.__name__, f"deal {deal.source_id} now passes the rules")
        if deal.account_id:
            await update_links(
                self.journal,
                account_key(deal.account_id),
                lambda links: _cleared(links, deal.source_id),
            )

    async def _close_dead(self, error_class: str, reason: str) -> None:
        if self.release is None:
            return
        open_ones = await self.journal.list_dead(
            DeadLetterFilter(entity=self.key, error_class=error_class), limit=1_000
        )
        for dead in open_ones:
            if dead.state is not EntryState.DEAD:
                continue  # quarantined: a person looks at it
            try:
                await self.release(dead.id, reason)
            except LookupError:
                continue  # closed meanwhile (the CRM poller supersedes rejections too)

    async def _tell_crm(self, saga: Saga, deal: Deal, what: str, status: str) -> None:
        text = status if len(status) <= _STATUS_LENGTH else status[: _STATUS_LENGTH - 1] + "…"
        # one key per status and version: the same news is written once, a new one again
        update = UpdateRecord(
            idempotency_key=saga.key("status", f"{what}:{saga.state.version}"),
            sobject="Opportunity",
            id=deal.source_id,
            fields={"Sync_Status__c": text},
            priority=WRITEBACK_PRIORITY,
        )
        result = await self.systems["salesforce"].ask(update, timeout=self.options.timeout)
        if not isinstance(result, Upserted):
            raise TypeError(f"salesforce answered {type(result).__name__} to UpdateRecord")

    def _retried(self, exc: MediatorError) -> bool:
        # the dispatcher decides for real; this names the step in the saga meanwhile
        system = getattr(exc, "system", None)
        connector = self.connectors.get(system) if isinstance(system, str) else None
        codes = None if connector is None else connector.error_codes
        return Classifier(codes=codes).classify(error=exc).verdict is Outcome.RETRY

    def _salesforce(self) -> SalesforceConnector:
        return self._connector("salesforce", SalesforceConnector)

    def _connector(self, name: str, kind: type[_C]) -> _C:
        connector = self.connectors[name]
        if not isinstance(connector, kind):
            raise TypeError(f"the {name} connector is a {type(connector).__name__}")
        return connector

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.clock.time(), datetime.UTC)


class _Validated:
    """The ``validate`` step: the deal passed; its terms and account are its outputs."""

    name = VALIDATE

    def __init__(self, terms: Terms, account: Client) -> None:
        self.terms = terms
        self.account = account

    async def run(self, saga: Saga) -> Mapping[str, str]:
        return {"terms": _encode(self.terms).decode(), "account": _encode(self.account).decode()}


class RecordWatcher(Actor[Envelope]):
    """Rechecks the deals that depend on one CRM record (account or contract) when it changes."""

    def __init__(
        self,
        key: str,
        *,
        journal: Journal,
        clock: Clock,
        follow_up: Callable[[Sequence[Envelope]], Awaitable[list[Appended]]],
    ) -> None:
        self.key = key
        self.journal = journal
        self.clock = clock
        self.follow_up = follow_up

    async def receive(self, message: Envelope) -> object:
        """Journal a recheck of every deal waiting on or rejected for this record."""
        now = datetime.datetime.fromtimestamp(self.clock.time(), datetime.UTC)
        return await recheck_dependents(
            self.journal,
            self.follow_up,
            self.key,
            cause=f"changed:{message.idempotency_key}",
            now=now,
        )


def _older(deal: Deal, known: Deal) -> bool:
    return (
        deal.updated_at is not None
        and known.updated_at is not None
        and deal.updated_at < known.updated_at
    )


def _dependent(links: Links, opportunity: str) -> Links:
    if links.dependents.get(opportunity) == "rejected":
        return links
    return msgspec.structs.replace(links, dependents={**links.dependents, opportunity: "rejected"})


def _rejection(links: Links, opportunity: str, reason: str) -> Links:
    if links.rejections.get(opportunity) == reason:
        return links
    return msgspec.structs.replace(links, rejections={**links.rejections, opportunity: reason})


def _cleared(links: Links, opportunity: str) -> Links:
    if opportunity not in links.rejections:
        return links
    rest = {deal: why for deal, why in links.rejections.items() if deal != opportunity}
    return msgspec.structs.replace(links, rejections=rest)
