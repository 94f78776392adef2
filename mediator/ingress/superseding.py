"""A corrected deal runs by itself: its new version supersedes the rejections of older ones.

The onboarding flow rejects a deal that breaks its rules with a business exception (a dead
letter of error class ``DealRejected``), which parks every later entry of that opportunity.
Sales fix the opportunity in Salesforce; the poller reads the new version. Without this, the
new version would wait behind the old rejection until an operator released it.

The opportunities poller remembers the newest version it has journaled of each opportunity
(journal flow state, `remember_versions`) and, at every poll, releases each open
``DealRejected`` dead letter whose opportunity has a newer version than the rejected one
(`release_superseded`), by ``mediator`` and with the reason "superseded by version <stamp>
read from Salesforce"; the journal then delivers what it parked, in order, the new version
last. Checking every poll, not only when a new version is read, also covers a version
journaled while the older one was still being judged (it is parked when that older one
dies, after the poll that read it).

Remembered first, released next, journaled last: a crash in between leaves the watermark
where it was, so the next poll reads the version again and journals it.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence

import msgspec

from mediator._task_group import TaskGroup
from mediator.codecs import Envelope
from mediator.journal import DeadLetterFilter, Dispatcher, Journal

__all__ = ["DEAL_REJECTED", "release_superseded", "remember_versions"]

#: The error class of the onboarding flow's business rejection of a deal.
DEAL_REJECTED = "DealRejected"
#: The flow-state name under which the newest journaled version of each opportunity is kept.
_VERSIONS = "salesforce_opportunities.versions"
_BY = "mediator"
_DEAD_PAGE = 10_000  # open rejections of deals: a few; more is a backlog a person must see
_log = logging.getLogger("mediator.ingress")


class _Version(msgspec.Struct, frozen=True, kw_only=True):
    """A version of an opportunity: its ``SystemModstamp`` and its entry's idempotency key."""

    stamp: datetime.datetime
    idempotency_key: str


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Version).decode


async def remember_versions(journal: Journal, envelopes: Sequence[Envelope]) -> None:
    """Keep, per opportunity key, the newest of `envelopes` (by ``occurred_at``, its stamp)
    unless a newer one is kept already. Concurrently: a page's saves share transactions."""
    async with TaskGroup() as group:
        for envelope in envelopes:
            group.create_task(_remember(journal, envelope))


async def _remember(journal: Journal, envelope: Envelope) -> None:
    version = _Version(stamp=envelope.occurred_at, idempotency_key=envelope.idempotency_key)
    while True:  # a conflicting save lost to another save of the same key: look again
        saved = await journal.load_flow(_VERSIONS, envelope.key)
        if saved is not None and _decode(saved.state).stamp >= version.stamp:
            return
        expected = 0 if saved is None else saved.version
        state = _encode(version)
        if await journal.save_flow(_VERSIONS, envelope.key, state, expected_version=expected):
            return


async def release_superseded(journal: Journal, dispatcher: Dispatcher) -> int:
    """Release every open ``DealRejected`` dead letter of an opportunity whose newest
    remembered version is newer than the rejected one; return how many were released.

    A rejection of the newest version itself (the same idempotency key), or of a recheck made
    after it, stays.
    """
    released = 0
    rejections = await journal.list_dead(
        DeadLetterFilter(error_class=DEAL_REJECTED), limit=_DEAD_PAGE
    )
    for dead in rejections:
        saved = await journal.load_flow(_VERSIONS, dead.key)
        if saved is None:
            continue
        newest = _decode(saved.state)
        if newest.idempotency_key == dead.envelope.idempotency_key:
            continue
        if newest.stamp <= dead.envelope.occurred_at:
            continue
        stamp = newest.stamp.isoformat()
        try:
            await dispatcher.release(
                dead.id, reason=f"superseded by version {stamp} read from Salesforce", by=_BY
            )
        except LookupError:  # an operator closed it meanwhile: nothing left to do
            continue
        released += 1
        _log.info("%s: the rejection %s is superseded by version %s", dead.key, dead.id, stamp)
    return released
