"""Polling Salesforce for changed records into the journal, one poller per object.

Each poll makes one SOQL query for its object from its watermark (``SystemModstamp >=``,
inclusive, paged through ``nextRecordsUrl``; `SalesforceConnector.changed`), maps each record
to its canonical payload and journals them under the CRM kinds of `mediator.flows.kinds`,
in one transaction together with the new watermark, so a crash can neither skip nor lose a
page. The idempotency key is ``salesforce:<sobject>:<Id>:<SystemModstamp>``: the boundary
records read again are duplicates, and a record changed again is a new version.

One bad record never stops the poll (as `mediator.ingress.harvest_time`): a record that
does not decode or map is journaled dead at once with the field path, keyed by its object,
id and version, never dropped; the watermark moves past it. Deleted records are logged and
left out (a query does not return them; ``queryAll`` would).

A corrected opportunity runs by itself: the onboarding flow's won versions are not parked
behind the rejection of an older one (its `unparked_kinds`), and the flow closes that
rejection once the new version passes, so what waited behind it (the deal's milestones and
change orders) goes on after the deal, never before it is judged.

The pollers spend the org's daily API allowance in their own priority class (``crm_poll``,
a lower share than the flows' ``crm_writeback``). When it is spent the poll does not fail:
it journals what it read before the refusal, and its report says until when it waits
(`SalesforcePollReport.waiting_until`), which the `ScheduledPoller` honours and shows.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import msgspec

from mediator.codecs.salesforce import wire
from mediator.codecs.salesforce.deals import contract_from_salesforce, deal_from_salesforce
from mediator.codecs.salesforce.mapping import (
    change_order_from_salesforce,
    client_from_salesforce,
    milestone_from_salesforce,
)
from mediator.flows.kinds import (
    ACCOUNT_CHANGED,
    CHANGE_ORDER_CHANGED,
    CONTRACT_CHANGED,
    FLOW_PAYLOADS,
    MILESTONE_CHANGED,
    OPPORTUNITY_WON,
    account_key,
    contract_key,
    opportunity_key,
)
from mediator.ingress.rejected import Rejected, record_version
from mediator.journal import Dispatcher, Journal, Watermark
from mediator.systems.salesforce import CRM_POLL, ChangedRecords, SalesforceConnector

__all__ = [
    "CRM_POLL",
    "SALESFORCE_POLLERS",
    "SalesforceChangesPoller",
    "SalesforcePollReport",
    "invalid_kind",
    "salesforce_pollers",
]

_SOURCE = "salesforce"
_log = logging.getLogger("mediator.ingress")

_Read = Callable[..., Awaitable[ChangedRecords[Any]]]
_Mapped = tuple[str, msgspec.Struct]  # entity key, canonical payload


class SalesforcePollReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one poll found: records read, newly journaled, already known, rejected, deleted
    (left out), the watermark, and whether it now waits.

    `waiting_until` (epoch seconds) is set when the daily allowance ran out during the poll:
    what was read before is journaled, the rest is read after the reset; `waiting_reason`
    says so in words.
    """

    read: int
    journaled: int
    duplicates: int
    rejected: int
    deleted: int = 0
    watermark: str | None
    waiting_until: float | None = None
    waiting_reason: str | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ObjectSpec:
    """What differs between the objects: the query, the kind and the mapping."""

    name: str
    sobject: str
    kind: str
    read: Callable[[SalesforceConnector], _Read]
    map: Callable[[Any, str, str], _Mapped]


def _account(record: wire.SfAccount, currency: str, path: str) -> _Mapped:
    return account_key(record.Id), client_from_salesforce(record, path=path)


def _deal(record: wire.SfOpportunity, currency: str, path: str) -> _Mapped:
    deal = deal_from_salesforce(record, org_currency=currency, path=path)
    return opportunity_key(record.Id), deal


def _contract(record: wire.SfContract, currency: str, path: str) -> _Mapped:
    return contract_key(record.Id), contract_from_salesforce(record)


def _milestone(record: wire.SfMilestone, currency: str, path: str) -> _Mapped:
    milestone = milestone_from_salesforce(record, org_currency=currency, path=path)
    return opportunity_key(milestone.engagement_id), milestone


def _change_order(record: wire.SfChangeOrder, currency: str, path: str) -> _Mapped:
    order = change_order_from_salesforce(record, org_currency=currency, path=path)
    return opportunity_key(order.engagement_id), order


_SPECS = (
    _ObjectSpec(
        name="salesforce_accounts",
        sobject="Account",
        kind=ACCOUNT_CHANGED,
        read=lambda c: c.accounts,
        map=_account,
    ),
    _ObjectSpec(
        name="salesforce_opportunities",
        sobject="Opportunity",
        kind=OPPORTUNITY_WON,
        read=lambda c: c.won_opportunities,
        map=_deal,
    ),
    _ObjectSpec(
        name="salesforce_contracts",
        sobject="Contract",
        kind=CONTRACT_CHANGED,
        read=lambda c: c.contracts,
        map=_contract,
    ),
    _ObjectSpec(
        name="salesforce_milestones",
        sobject="Milestone__c",
        kind=MILESTONE_CHANGED,
        read=lambda c: c.milestones,
        map=_milestone,
    ),
    _ObjectSpec(
        name="salesforce_change_orders",
        sobject="Change_Order__c",
        kind=CHANGE_ORDER_CHANGED,
        read=lambda c: c.change_orders,
        map=_change_order,
    ),
)
_BY_NAME = {spec.name: spec for spec in _SPECS}

SALESFORCE_POLLERS: tuple[str, ...] = tuple(_BY_NAME)
"""The pollers' names, one per object: what flows list and `[ingress.pollers]` schedules."""


def invalid_kind(sobject: str) -> str:
    """The kind under which records of `sobject` that do not decode or map are dead-lettered
    (``crm.opportunity.invalid``); no flow handles it."""
    return f"crm.{sobject.removesuffix('__c').lower()}.invalid"


def salesforce_pollers(
    connector: SalesforceConnector,
    names: Iterable[str],
    *,
    org_currency: str,
    priority: str = CRM_POLL,
) -> list[SalesforceChangesPoller]:
    """Build the pollers called `names` (of `SALESFORCE_POLLERS`), reading through `connector`.

    `org_currency` is the org's corporate currency (amounts of records without
    ``CurrencyIsoCode``); `priority` the quota class they spend. Raises `KeyError` naming an
    unknown poller.
    """
    pollers = []
    for name in dict.fromkeys(names):
        if name not in _BY_NAME:
            raise KeyError(f"no Salesforce poller {name!r}; there are {', '.join(_BY_NAME)}")
        pollers.append(
            SalesforceChangesPoller(
                connector, _BY_NAME[name], org_currency=org_currency, priority=priority
            )
        )
    return pollers


class SalesforceChangesPoller:
    """Reads one Salesforce object's changes into the journal (a `mediator.runtime.Poller`).

    Built by `salesforce_pollers`; `name` is the poller's (and its watermark's) name.
    """

    def __init__(
        self,
        connector: SalesforceConnector,
        spec: _ObjectSpec,
        *,
        org_currency: str,
        priority: str = CRM_POLL,
    ) -> None:
        self.connector = connector
        self.org_currency = org_currency
        self.priority = priority
        self._spec = spec

    @property
    def name(self) -> str:
        """The poller's name, e.g. ``salesforce_opportunities``."""
        return self._spec.name

    @property
    def sobject(self) -> str:
        """The object it reads, e.g. ``Opportunity``."""
        return self._spec.sobject

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> SalesforcePollReport:
        """Run one poll; return once everything it read is durable (and queued for delivery).

        Raises only for the poll as a whole (Salesforce or the journal failing); a spent
        allowance is no failure (see `SalesforcePollReport.waiting_until`), and what is wrong
        with one record becomes that record's dead letter.
        """
        spec = self._spec
        mark = await journal.get_watermark(spec.name)
        since = datetime.datetime.fromisoformat(mark.value) if mark is not None else None
        changed = await spec.read(self.connector)(since=since, priority=self.priority)
        for bad in changed.rejected:
            await self._reject(journal, Rejected.of(bad))
        versions: list[tuple[msgspec.Struct, str, str, datetime.datetime | None]] = []
        # (payload, entity key, idempotency key, version stamp)
        deleted = 0
        for record in changed.records:
            # named by its Id: an index would count in the read, not in the page it came on
            path = f"$.records[?(@.Id=='{record.Id}')]"
            if record.IsDeleted:
                deleted += 1
                _log.info("%s: %s %s is deleted; left out", spec.name, spec.sobject, record.Id)
                continue
            version = record_version(record.SystemModstamp, record)
            try:
                key, payload = spec.map(record, self.org_currency, path)
            # One record's failure, whatever it is, is that record's dead letter: a bug in a
            # mapping must not stop every later poll. Not swallowed: journaled, and logged
            # with its traceback when it is not a DecodeError.
            except Exception as exc:  # noqa: BLE001
                failed = Rejected.failed(
                    record, exc, path=path, source_id=str(record.Id), version=version,
                    what=f"Salesforce {spec.sobject}",
                )  # fmt: skip
                await self._reject(journal, failed)
                continue
            idempotency_key = f"salesforce:{spec.sobject}:{record.Id}:{version}"
            versions.append((payload, key, idempotency_key, record.SystemModstamp))
        envelopes = [
            FLOW_PAYLOADS.envelope(
                spec.kind,
                payload,
                key=key,
                source=_SOURCE,
                idempotency_key=idempotency_key,
                occurred_at=stamp or self._now(),
            )
            for payload, key, idempotency_key, stamp in versions
        ]
        watermark = (
            None
            if changed.watermark is None
            else Watermark(name=spec.name, value=changed.watermark.isoformat())
        )
        appended = await dispatcher.accept_many(envelopes, watermark=watermark)
        duplicates = sum(a.duplicate for a in appended)
        read = len(changed.records) + len(changed.rejected)
        waiting_reason = None
        if changed.resets_at is not None:
            at = datetime.datetime.fromtimestamp(changed.resets_at, datetime.UTC)
            waiting_reason = (
                f"the Salesforce API allowance for {self.priority} is spent; {spec.sobject} "
                f"changes after {watermark.value if watermark else 'the start'} are read "
                f"when it resets at {at.isoformat(timespec='seconds')}"
            )
            _log.warning("%s: %s", spec.name, waiting_reason)
        return SalesforcePollReport(
            read=read,
            journaled=len(appended) - duplicates,
            duplicates=duplicates,
            rejected=read - len(envelopes) - deleted,
            deleted=deleted,
            watermark=None if watermark is None else watermark.value,
            waiting_until=changed.resets_at,
            waiting_reason=waiting_reason,
        )

    def _now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.connector.clock.time(), datetime.UTC)

    async def _reject(self, journal: Journal, rejected: Rejected) -> None:
        sobject = self._spec.sobject
        source_id = rejected.source_id or "unidentified"
        # Keyed by the record's version, not by its place in this poll's page: the record at
        # the watermark is read again by the next poll, maybe at another index. The entity
        # key is the record's own, not the flows' (``opportunity:``), so that a bad version
        # parks nothing: its corrected version runs when it comes.
        await rejected.dead_letter(
            journal,
            key=f"salesforce:{sobject}:{source_id}",
            kind=invalid_kind(sobject),
            source=_SOURCE,
            idempotency_key=f"salesforce:{sobject}:{source_id}:{rejected.version}:invalid",
            occurred_at=self._now(),
        )
