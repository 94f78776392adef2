"""Stripe credit note → ERP credit note: the receivables flow's second entity (DESIGN §5 flow 5).

Stripe's ``credit_note.created`` (journaled as ``stripe.event.credit_note.created``, keyed
``credit_note:<id>``) becomes a posted Tryton credit note for the receivable it credits: an
``account.invoice`` of type ``out`` for the same party whose lines mirror the credit note's
with negative quantities (a customer invoice with a negative total is how Tryton keeps a
credit note), its ``reference`` the credit note's id — looked up first by `PostInvoice`, so a
retry or replay never posts a second. The credit note is read from Stripe as it is now (the
event is only the trigger). It is posted inside the finance posting window like an invoice
(`PostingHeld` until it opens, a retry, not a dead letter); it needs no approval (it lowers
what the client owes). The xref map then has ``credit_note``: Stripe id → Tryton id.

Its receivable must be posted first (the invoice's own events arrive on another key, in any
order): until the xref map has it, the delivery is retried (`ReceivableNotPosted`).

A credit note issued before anything was paid (`pre_payment_amount`) lowers what the client
owes: cash application settles it against the receivable (see `mediator.flows.cash_application`),
which is told at once (`CREDIT_NOTE_POSTED` on the invoice's key). One issued after payment
(`post_payment_amount`: the client paid more than it now owes) is money owed back to the
client: after posting, it is a `BusinessRejected` for finance, "refund <amount> to <customer>:
pay it out in the ERP" — a refund leaves the company's bank, which no flow does by itself. The
saga is then ``rejected`` with that note, so a replay does not raise it again.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal

import msgspec

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope, new_id
from mediator.codecs.canonical.billing import Invoice, InvoiceLine
from mediator.codecs.stripe import wire
from mediator.codecs.stripe.mapping import from_stripe_amount
from mediator.errors import ActorError, BusinessRejected, PostingWindowClosed
from mediator.flows.receivables import (
    POST_ENDPOINT,
    SERVICE_LINE_KEY,
    PostingHeld,
    ReceivablePosting,
)
from mediator.flows.saga import Saga
from mediator.flows.xref_lookup import translate
from mediator.journal import Appended, Journal
from mediator.systems import Command
from mediator.systems.stripe import StripeConnector
from mediator.systems.tryton import TrytonConnector

__all__ = [
    "CREDIT_NOTES",
    "CREDIT_NOTE_CREATED",
    "CREDIT_NOTE_POSTED",
    "CreditNotePosting",
    "ReceivableNotPosted",
    "credit_note_invoice",
]

#: The kind Stripe's ``credit_note.created`` is journaled under (key ``credit_note:<id>``).
CREDIT_NOTE_CREATED = "stripe.event.credit_note.created"
#: What cash application is told (on the invoice's key) once a credit note is posted.
CREDIT_NOTE_POSTED = "cash_application.credit_note.posted"
#: The saga flow of the credit notes (entity: the Stripe credit note id).
CREDIT_NOTES = "receivables.credit_note"

FollowUp = Callable[[Sequence[Envelope]], Awaitable[list[Appended]]]


class ReceivableNotPosted(ActorError):
    """The receivable a credit note credits is not posted in Tryton yet: retried later."""

    def __init__(self, credit_note: str, invoice: str) -> None:
        super().__init__(
            f"credit note {credit_note}: the receivable of Stripe invoice {invoice} is not "
            "posted in Tryton yet; retried"
        )


class CreditNotePosting(Actor[Envelope]):
    """Posts one Stripe credit note (entity ``credit_note:<id>``) as a Tryton credit note.

    Posting itself is `ReceivablePosting.post` (the same invoice values, revenue accounts and
    Tryton checks); `follow_up`, when cash application is enabled, tells it.
    """

    def __init__(
        self,
        key: str,
        *,
        posting: ReceivablePosting,
        stripe: StripeConnector,
        tryton: TrytonConnector,
        erp: ActorRef[Command],
        journal: Journal,
        clock: Clock,
        follow_up: FollowUp | None,
    ) -> None:
        self.key = key
        self.note_id = key.partition(":")[2]
        self.posting = posting
        self.stripe = stripe
        self.tryton = tryton
        self.erp = erp
        self.journal = journal
        self.clock = clock
        self.follow_up = follow_up

    async def receive(self, message: Envelope) -> object:
        """Post the credit note (once), then tell cash application or flag the refund."""
        saga = Saga(self.journal, CREDIT_NOTES, self.note_id)
        state = await saga.load()
        if state.status in ("done", "rejected"):
            return state
        note = await self.stripe.get_credit_note(self.note_id)
        if note.status == "void":
            return await saga.mark("done", "voided in Stripe: nothing to post")
        receivable = await self.journal.xref_to("invoice", note.invoice, "tryton")
        if receivable is None:
            raise ReceivableNotPosted(note.id, note.invoice)
        credit = credit_note_invoice(note)  # in its invoice's currency, checked when posted
        _, party = await translate(
            self.journal, "client", "stripe", note.customer, "tryton",
            needed_for=f"the ERP credit note of Stripe credit note {note.id}",
        )  # fmt: skip
        if not saga.finished("post"):
            await self._check_window(saga)
        invoice = await self.stripe.get_invoice(note.invoice)
        line = invoice.metadata.get(SERVICE_LINE_KEY)
        await saga.run([_Post(self, credit, int(party), line, note)])
        if note.pre_payment_amount and self.follow_up is not None:
            await self.follow_up([_posted(note)])
        if note.post_payment_amount:
            refund = from_stripe_amount(note.post_payment_amount, note.currency)
            customer = invoice.customer_name or note.customer
            why = (
                f"refund {refund.to_decimal()} {refund.currency} to {customer}: pay it out in "
                f"the ERP (credit note {note.number or note.id} of Stripe invoice "
                f"{invoice.number or invoice.id}, posted as {saga.state.output('post', 'number')},"
                " was issued after payment)"
            )
            await saga.mark("rejected", why)
            raise BusinessRejected(f"credit note {note.number or note.id}", why)
        return saga.state

    async def _check_window(self, saga: Saga) -> None:
        window = self.tryton.transport.policy_for(POST_ENDPOINT).window
        if window is None:
            return
        now = self.clock.time()
        opens = window.next_open(now)
        if opens == now:
            return
        held = PostingHeld(window.name, opens, now) if opens is not None else None
        await saga.mark(
            "waiting", str(held) if held else f"posting window {window.name} never opens"
        )
        raise held or PostingWindowClosed(window.name, None)


def credit_note_invoice(note: wire.StCreditNote) -> Invoice:
    """The credit note as a canonical invoice with negative quantities and total (what Tryton
    posts as a credit note): one line per credit note line, at its unit amount."""
    total = from_stripe_amount(note.total, note.currency, field="total")
    lines = []
    for index, line in enumerate([] if note.lines is None else note.lines.data):
        path = f"$.lines.data[{index}]"
        amount = from_stripe_amount(line.amount, note.currency, path=path)
        quantity = line.quantity or 1
        unit = (
            amount
            if line.unit_amount is None
            else from_stripe_amount(line.unit_amount, note.currency, path=path, field="unit_amount")
        )
        lines.append(
            InvoiceLine(
                description=line.description or f"Credit note {note.number or note.id}",
                quantity=Decimal(-quantity),
                unit_amount=unit if line.unit_amount is not None else amount,
                amount=-amount,
                origin_id=line.id,
            )
        )
    if not lines:  # a credit note of an amount only: one line of that amount
        lines.append(
            InvoiceLine(
                description=note.memo or f"Credit note {note.number or note.id}",
                quantity=Decimal(-1),
                unit_amount=total,
                amount=-total,
                origin_id=note.id,
            )
        )
    if sum(line.amount.amount for line in lines) != -total.amount:
        raise BusinessRejected(
            f"credit note {note.id}",
            f"its lines do not add up to its total {total.to_decimal()} {total.currency}",
        )
    day = datetime.datetime.fromtimestamp(note.created, datetime.UTC).date()
    return Invoice(
        source_system="stripe",
        source_id=note.id,
        client_id=note.customer,
        number=note.number,
        status="open",
        currency=total.currency,
        lines=tuple(lines),
        subtotal=-total,
        tax=None,
        total=-total,
        amount_due=-total,
        issued_on=day,
        credit_note_of=note.invoice,
    )


class _Post:
    """The saga's first step: the Tryton credit note posted, its number and total, the xref."""

    name = "post"

    def __init__(
        self,
        actor: CreditNotePosting,
        credit: Invoice,
        party: int,
        service_line: str | None,
        note: wire.StCreditNote,
    ) -> None:
        self.actor = actor
        self.credit = credit
        self.party = party
        self.service_line = service_line
        self.note = note

    async def run(self, saga: Saga) -> Mapping[str, str]:
        posted = await self.actor.posting.post(saga, self.credit, self.party, self.service_line)
        total = self.credit.total
        if posted.total_amount != total.to_decimal():
            raise BusinessRejected(
                f"ERP credit note {posted.number} of Stripe credit note {self.note.id}",
                f"Tryton totals {posted.total_amount}, Stripe {total.to_decimal()} "
                f"{total.currency}: correct it in Tryton, then release this entry",
            )
        journal = self.actor.journal
        await journal.record_xref("credit_note", self.note.id, "stripe", self.note.id)
        await journal.record_xref("credit_note", self.note.id, "tryton", str(posted.id))
        return {
            "tryton_invoice": str(posted.id),
            "number": posted.number,
            "total": str(total.amount),
            "invoice": self.note.invoice,
        }


def _posted(note: wire.StCreditNote) -> Envelope:
    return Envelope(
        id=new_id(),
        key=f"invoice:{note.invoice}",
        kind=CREDIT_NOTE_POSTED,
        source="mediator",
        idempotency_key=f"{CREDIT_NOTES}:posted:{note.id}",
        occurred_at=datetime.datetime.now(datetime.UTC),
        payload=msgspec.Raw(msgspec.json.encode({"invoice": note.invoice, "credit_note": note.id})),
    )
