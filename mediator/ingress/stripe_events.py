"""Catching up on Stripe's events feed (``/v1/events``): what a missed webhook would have said.

Stripe retries a webhook for three days and keeps its events for thirty. While the daemon is
down, or a delivery is lost, the poller reads the events after the last one it saw (the
watermark, an event id) and journals each exactly as the webhook listener does
(`stripe_event_envelope`: same kind, key and idempotency key ``stripe:event:<id>``), so an
event that arrives both ways is journaled once, whichever came first.

The feed is read a page at a time, oldest first (`StripeConnector.event_pages` walks towards
the newest with ``ending_before``), and each page is journaled in one transaction together
with the watermark moved to its newest event: a crash can neither skip a page nor lose one.
Only the kinds some flow handles are journaled (the others are read and passed over, as the
listener acknowledges and drops them).

One bad event never stops the feed: an event that does not decode, as Stripe's event or as
the head the listener reads (an object without an id), is journaled as a dead letter of kind
`INVALID_EVENT` naming the field, keyed by its id so that reading it again is a duplicate.
"""

from __future__ import annotations

import hashlib
import logging

import msgspec

from mediator.codecs import Envelope
from mediator.codecs.validation import WireDecoder
from mediator.errors import DecodeError
from mediator.ingress.rejected import Rejected, as_json
from mediator.ingress.webhooks import StripeEventHead, stripe_event_envelope
from mediator.journal import Dispatcher, Journal, Watermark
from mediator.systems.stripe import StripeConnector

__all__ = ["INVALID_EVENT", "StripeEventsPoller", "StripePollReport"]

#: The kind under which events that could not be decoded are dead-lettered.
INVALID_EVENT = "stripe.event.invalid"
_SOURCE = "stripe"
_heads = WireDecoder("stripe", StripeEventHead)
_log = logging.getLogger("mediator.ingress")


class StripePollReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one poll found: events read, newly journaled, already journaled (by the webhook
    or an earlier poll), passed over (no flow handles their kind), rejected, and the new
    watermark."""

    read: int
    journaled: int
    duplicates: int
    ignored: int
    rejected: int
    watermark: str | None


class StripeEventsPoller:
    """Reads Stripe's events since the watermark and journals those of `kinds` durably."""

    def __init__(
        self,
        stripe: StripeConnector,
        *,
        kinds: frozenset[str],
        name: str = "stripe_events",
        page_size: int = 100,
    ) -> None:
        self.stripe = stripe
        self.kinds = kinds
        self.name = name
        self.page_size = page_size

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> StripePollReport:
        """Run one poll to the newest event; return once everything read is durable.

        Raises only for the poll as a whole (Stripe or the journal failing); the pages
        journaled before that keep their watermark, so the next poll goes on from there.
        """
        mark = await journal.get_watermark(self.name)
        since = None if mark is None else mark.value
        read = journaled = duplicates = ignored = rejected = 0
        async for page in self.stripe.event_pages(since=since, page_size=self.page_size):
            read += len(page.events) + len(page.rejected)
            bad = [Rejected.of(undecodable) for undecodable in page.rejected]
            envelopes: list[Envelope] = []
            for event, raw in page.events:
                try:
                    head = _heads.decode(raw)
                except DecodeError as exc:
                    bad.append(_head(event.id, raw, exc))
                    continue
                envelope = stripe_event_envelope(head, bytes(raw))
                if envelope.kind in self.kinds:
                    envelopes.append(envelope)
                else:
                    ignored += 1
            for rejection in bad:
                await self._reject(journal, rejection)
            rejected += len(bad)
            assert page.newest is not None  # the connector hands out no page without an id
            since = page.newest
            appended = await dispatcher.accept_many(
                envelopes, watermark=Watermark(name=self.name, value=since)
            )
            new = sum(not a.duplicate for a in appended)
            journaled += new
            duplicates += len(appended) - new
        return StripePollReport(
            read=read,
            journaled=journaled,
            duplicates=duplicates,
            ignored=ignored,
            rejected=rejected,
            watermark=since,
        )

    async def _reject(self, journal: Journal, rejected: Rejected) -> None:
        _log.warning("Stripe event %s not journaled: %s", rejected.source_id, rejected.reason)
        # without an id, its bytes' digest (its version) tells the event apart
        await rejected.dead_letter(
            journal,
            key=f"event:{rejected.source_id or 'unidentified'}",
            kind=INVALID_EVENT,
            source=_SOURCE,
            idempotency_key=f"stripe:event:{rejected.source_id or rejected.version}:invalid",
        )


def _head(event_id: str, raw: msgspec.Raw, exc: DecodeError) -> Rejected:
    # an event whose envelope (id, type, object) decoded but whose head did not
    body = bytes(raw)
    return Rejected(
        payload=as_json(body),
        source_id=event_id,
        version="sha256:" + hashlib.sha256(body).hexdigest()[:32],
        reason=f"event {event_id}: {exc}"[:2000],
    )
