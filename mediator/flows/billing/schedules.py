"""The billing schedules: flush dirty aggregates, and close periods, as journaled requests.

Both are pollers of the flow (run by `ScheduledPoller` on `[ingress.pollers.<name>]`: an
interval or a cron in the firm's time zone). A poll writes nothing to Stripe itself: it
journals one request per invoice that needs it, keyed by the invoice (`invoice_key`), so the
request is durable, retried or dead-lettered like any entry, and one invoice's flushes and its
close never run at once. The flush request's idempotency key names the aggregate's revision (a
revision is flushed once); a close request's names the tick, so a close that waits is asked
again at the next tick.

A period is due for closing from its cut-off: the last business day (Monday to Friday; the
firm's holidays are not known here) of the month at `cutoff` local time. Time approved after
it arrives after the close and goes on the next invoice, as a correction of that period.
"""

from __future__ import annotations

import calendar
import datetime
import zoneinfo

import msgspec

from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.flows.billing.kinds import (
    CLOSE_PERIOD,
    FLUSH_INVOICE,
    PAYLOADS,
    InvoiceRequest,
    invoice_key,
)
from mediator.flows.billing.state import INVOICE, OPEN, InvoiceState, OpenInvoices, load
from mediator.journal import Dispatcher, Journal

__all__ = ["CloseSchedule", "FlushSchedule", "ScheduleReport", "period_cutoff"]

_SOURCE = "mediator"


class ScheduleReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one tick did: invoices looked at, requests journaled (new and already known)."""

    read: int
    journaled: int
    duplicates: int
    rejected: int = 0


def period_cutoff(period: str, cutoff: datetime.time, zone: zoneinfo.ZoneInfo) -> datetime.datetime:
    """The moment `period` (``YYYY-MM``) closes: its last business day at `cutoff`, in `zone`."""
    year, month = int(period[:4]), int(period[5:])
    day = datetime.date(year, month, calendar.monthrange(year, month)[1])
    while day.weekday() >= 5:
        day -= datetime.timedelta(days=1)
    return datetime.datetime.combine(day, cutoff, tzinfo=zone)


async def _open(journal: Journal) -> list[InvoiceState]:
    listed, _ = await load(journal, OPEN, "all", OpenInvoices)
    states = []
    for entity in listed.keys if listed is not None else ():
        state, _ = await load(journal, INVOICE, entity, InvoiceState)
        if state is not None and state.status != "finalized":
            states.append(state)
    return states


async def _journal(
    dispatcher: Dispatcher, kind: str, wanted: list[tuple[InvoiceState, str]], now: float
) -> tuple[int, int]:
    envelopes: list[Envelope] = [
        PAYLOADS.envelope(
            kind,
            InvoiceRequest(client_id=state.client_id, period=state.period),
            key=invoice_key(state.client_id, state.period),
            source=_SOURCE,
            idempotency_key=idempotency_key,
            occurred_at=datetime.datetime.fromtimestamp(now, datetime.UTC),
        )
        for state, idempotency_key in wanted
    ]
    if not envelopes:
        return 0, 0
    appended = await dispatcher.accept_many(envelopes)
    duplicates = sum(a.duplicate for a in appended)
    return len(appended) - duplicates, duplicates


class FlushSchedule:
    """Journals a flush of every draft invoice whose aggregates changed since its last one."""

    def __init__(self, *, clock: Clock, name: str = "billing_flush") -> None:
        self.clock = clock
        self.name = name

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> ScheduleReport:
        """One tick: a flush request per dirty draft (one per revision)."""
        states = await _open(journal)
        wanted = [
            (s, f"billing:flush:{s.client_id}:{s.period}:r{s.revision}")
            for s in states
            if s.status == "draft" and s.dirty
        ]
        journaled, duplicates = await _journal(dispatcher, FLUSH_INVOICE, wanted, self.clock.time())
        return ScheduleReport(read=len(states), journaled=journaled, duplicates=duplicates)


class CloseSchedule:
    """Journals the close of every open invoice whose period's cut-off has passed."""

    def __init__(
        self,
        *,
        clock: Clock,
        zone: zoneinfo.ZoneInfo,
        cutoff: datetime.time,
        name: str = "billing_close",
    ) -> None:
        self.clock = clock
        self.zone = zone
        self.cutoff = cutoff
        self.name = name

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> ScheduleReport:
        """One tick: a close request per invoice past its cut-off (one per tick)."""
        now = self.clock.time()
        moment = datetime.datetime.fromtimestamp(now, self.zone)
        states = await _open(journal)
        wanted = [
            (s, f"billing:close:{s.client_id}:{s.period}:{int(now)}")
            for s in states
            if period_cutoff(s.period, self.cutoff, self.zone) <= moment
        ]
        journaled, duplicates = await _journal(dispatcher, CLOSE_PERIOD, wanted, now)
        return ScheduleReport(read=len(states), journaled=journaled, duplicates=duplicates)
