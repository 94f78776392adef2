"""The billing flow's entity actor: books entries onto aggregates, flushes and closes invoices.

One `BillingDesk` per entity key. Under a project key (``billing:project:<id>``) it books each
version of a billable time entry or an approved expense (`book`): a delivery only changes
the durable aggregates and is acknowledged, no Stripe call is made. Under an invoice key
(``invoice:<client>:<period>``) it carries out the flush and close requests the schedules
journal (`Invoicing`), which are what write to Stripe. With `credit_notes` (the option
``corrections = "credit_note"``), a correction that lowers a finalized invoice is booked as a
credit and issued at once as a Stripe credit note on that invoice (`issue_credit_notes`).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.codecs.canonical.time_and_expenses import Expense, TimeEntry
from mediator.flows.billed_periods import period_of
from mediator.flows.billing.credit_notes import CreditNoteLookup, issue_credit_notes
from mediator.flows.billing.invoicing import Invoicing, ItemLookup
from mediator.flows.billing.kinds import (
    ADJUSTMENT_APPROVED,
    APPROVED_EXPENSE,
    BILLABLE_TIME,
    CLOSE_PERIOD,
    FLUSH_INVOICE,
    PAYLOADS,
    Adjustment,
    InvoiceRequest,
)
from mediator.flows.billing.ledger import book, note_key
from mediator.flows.billing.pricing import Resolver, price_time
from mediator.flows.billing.state import Contribution
from mediator.flows.billing.taxes import TaxRates
from mediator.journal import Journal
from mediator.systems import Command

__all__ = ["BillingDesk"]


class BillingDesk(Actor[Envelope]):
    """Books one project's entries, or carries out one invoice's flushes and close."""

    def __init__(
        self,
        key: str,
        *,
        journal: Journal,
        stripe: ActorRef[Command],
        clock: Clock,
        expense_markup: Decimal = Decimal(0),
        payment_terms_days: int = 30,
        timeout: float = 60.0,
        credit_notes: bool = False,
        credit_note_lookup: CreditNoteLookup | None = None,
        item_lookup: ItemLookup | None = None,
        taxes: TaxRates | None = None,
    ) -> None:
        self.key = key
        self.item_lookup = item_lookup
        self.credit_notes = credit_notes
        self.lookup = credit_note_lookup
        self.journal = journal
        self.stripe = stripe
        self.clock = clock
        self.markup = expense_markup
        self.terms = payment_terms_days
        self.timeout = timeout
        self.taxes = taxes
        self.resolver = Resolver(journal)

    async def receive(self, message: Envelope) -> object:
        """Book, flush or close, by the entry's kind; returns what is booked or the invoice."""
        if message.kind == BILLABLE_TIME:
            return await self._time(message, PAYLOADS.decode_as(message, TimeEntry))
        if message.kind == APPROVED_EXPENSE:
            return await self._expense(message, PAYLOADS.decode_as(message, Expense))
        if message.kind == ADJUSTMENT_APPROVED:
            return await self._adjustment(message, PAYLOADS.decode_as(message, Adjustment))
        request = PAYLOADS.decode_as(message, InvoiceRequest)
        invoicing = Invoicing(
            self.journal,
            stripe=self.stripe,
            client_id=request.client_id,
            period=request.period,
            payment_terms_days=self.terms,
            timeout=self.timeout,
            item_lookup=self.item_lookup,
            taxes=self.taxes,
        )
        if message.kind == FLUSH_INVOICE:
            return await invoicing.flush()
        if message.kind == CLOSE_PERIOD:
            return await invoicing.close()
        raise TypeError(f"the billing flow does not handle {message.kind}")

    async def _time(self, message: Envelope, entry: TimeEntry) -> tuple[Contribution, ...]:
        ids = await self.resolver.canonical(
            client_id=entry.client_id,
            project_id=entry.project_id,
            consultant_id=entry.consultant_id,
        )
        entry_id = f"time:{entry.source_id}"
        facts: list[Contribution] = []
        currency = entry.bill_rate.currency if entry.bill_rate is not None else ""
        if entry.billable and entry.approved and entry.hours > 0:
            try:
                price = await price_time(self.journal, entry, ids)
            except Exception:
                # its invoice must not close without it: the close sees this key's dead letter
                await note_key(self.journal, ids.client_id, period_of(entry.spent_on), message.key)
                raise
            currency = price.rate.currency
            facts.append(
                Contribution(
                    id=entry_id,
                    entry_id=entry_id,
                    invoice_period=period_of(entry.spent_on),
                    origin_period=period_of(entry.spent_on),
                    project_id=ids.project_id,
                    consultant_id=ids.consultant_id,
                    what=price.what,
                    unit="hour",
                    unit_rate=price.rate,
                    quantity=entry.hours,
                    amount=price.rate.scale(entry.hours),
                    spent_on=entry.spent_on,
                )
            )
        booked = await book(
            self.journal,
            client_id=ids.client_id,
            entry_id=entry_id,
            facts=facts,
            currency=currency,
            delivery_key=message.key,
            clock_time=self.clock.time(),
            version=_version(entry.updated_at),
            credit_notes=self.credit_notes,
        )
        return await self._credit(booked)

    async def _expense(self, message: Envelope, expense: Expense) -> tuple[Contribution, ...]:
        ids = await self.resolver.canonical(
            client_id=expense.client_id,
            project_id=expense.project_id,
            consultant_id=expense.consultant_id,
        )
        entry_id = f"expense:{expense.source_id}"
        facts: list[Contribution] = []
        if expense.billable and expense.approved:
            # at cost plus the markup, rounded once per expense: what the client sees per item
            amount = expense.amount + expense.amount.scale(self.markup)
            facts.append(
                Contribution(
                    id=entry_id,
                    entry_id=entry_id,
                    invoice_period=period_of(expense.spent_on),
                    origin_period=period_of(expense.spent_on),
                    project_id=ids.project_id,
                    consultant_id=ids.consultant_id,
                    what=expense.category,
                    unit="expense",
                    unit_rate=amount,
                    quantity=Decimal(1),
                    amount=amount,
                    spent_on=expense.spent_on,
                    description=f"{expense.category} expenses",
                )
            )
        booked = await book(
            self.journal,
            client_id=ids.client_id,
            entry_id=entry_id,
            facts=facts,
            currency=expense.amount.currency,
            delivery_key=message.key,
            clock_time=self.clock.time(),
            version=_version(expense.updated_at),
            credit_notes=self.credit_notes,
        )
        return await self._credit(booked)

    async def _credit(self, booked: tuple[Contribution, ...]) -> tuple[Contribution, ...]:
        # the credits booked (now or by a delivery that failed before issuing them) go out
        if self.credit_notes:
            await issue_credit_notes(
                self.journal, booked, stripe=self.stripe, lookup=self.lookup, timeout=self.timeout
            )
        return booked

    async def _adjustment(
        self, message: Envelope, adjustment: Adjustment
    ) -> tuple[Contribution, ...]:
        # one per source and period: a change order back-bills each invoiced month apart
        entry_id = f"adjustment:{adjustment.source}:{adjustment.period}"
        day = _first_day(adjustment.period)
        fact = Contribution(
            id=entry_id,
            entry_id=entry_id,
            invoice_period=adjustment.period,
            origin_period=adjustment.period,
            project_id="adjustments",
            consultant_id="",
            what=adjustment.source,
            unit="adjustment",
            unit_rate=adjustment.amount,
            quantity=Decimal(1),
            amount=adjustment.amount,
            spent_on=day,
            description=adjustment.description,
        )
        return await book(
            self.journal,
            client_id=adjustment.client_id,
            entry_id=entry_id,
            facts=[fact],
            currency=adjustment.amount.currency,
            delivery_key=message.key,
            clock_time=self.clock.time(),
        )


def _version(stamp: datetime.datetime | None) -> str:
    # comparable as text: every stamp in UTC, in one format
    return "" if stamp is None else stamp.astimezone(datetime.UTC).isoformat()


def _first_day(period: str) -> datetime.date:
    return datetime.date(int(period[:4]), int(period[5:]), 1)
