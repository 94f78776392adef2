"""Payment → cash application: flow 6 of DESIGN §5.

A payment on a Stripe invoice (``invoice.paid``, and ``invoice.updated`` when a partial
payment raised its amount paid) becomes a payment applied to the posted Tryton receivable,
and the CRM learns it. The event is only the trigger: the invoice is read from Stripe as it is
now, and what it says has been paid (``amount_paid``) is what Tryton must show as paid. The
connector reads what Tryton has applied already and pays only the difference
(`ApplyPayment`), so a duplicate, a replay, or ``invoice.paid`` after the partial payment it
completes applies nothing twice, and a partial payment then the rest are two applications.

The invoice's saga (entity: the Stripe invoice id) has two steps per level of amount paid
(``apply:<cents>``, ``crm:<cents>``): apply the payment, then write the invoice's payment
status to the CRM (the Opportunity of the invoice's engagement and the client's Account) with
Salesforce `UpdateRecord`, which the system actor batches. A currency that differs from the
receivable's, or more paid than it totals, is a `BusinessRejected` for finance.

Events arrive in any order, and the payment may be made before the receivable is posted: the
invoice held by the posting window, waiting for an approval, or its ``invoice.finalized``
still behind. Both flows' entries share the key ``invoice:<id>``, so a retry here would hold
the finalized event queued behind it; instead the payment is remembered as waiting (flow
state `PENDING`), the delivery ends, and the flow's sweep (`WaitingPayments`, a poller named
``cash_application_waiting``) journals a `RECEIVABLE_POSTED` entry for the invoice once the
xref map has its Tryton invoice, which applies it. Nothing fails for ordering.

Credit notes count against what is due. Stripe's credit note issued before payment lowers
the invoice's amount due (`pre_payment_credit_notes_amount`); the receivables flow posts it as
a Tryton credit note and tells this flow (`CREDIT_NOTE_POSTED` on the invoice's key). Each
such credit note posted in Tryton is settled against the receivable with the payment method:
the Tryton credit note paid with its (negative) amount (step ``settle:<credit note>``) and the
receivable paid the same amount on top of the cash (``apply:<cash>+<credited>``), which nets to
nothing in the payment journal and leaves both paid once the rest of the cash is in. A credit
note issued after payment is a refund owed to the client: the receivables flow posts it and
hands it to finance (`mediator.flows.receivable_credits`).

Refunds (``charge.refunded``) are not consumed: the Stripe sandbox has no charges, so it can
emit none, and the flows never refund. A refund made in Stripe's dashboard reaches the books
only as finance records it; a credit note with `refund_amount` comes as the post-payment
credit note above, an exception for finance, never silent.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping

import msgspec

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope, new_id
from mediator.codecs.stripe import wire
from mediator.codecs.stripe.mapping import from_stripe_amount
from mediator.errors import BusinessRejected
from mediator.flows.saga import Saga, Step
from mediator.flows.xref_lookup import translate
from mediator.journal import Dispatcher, Journal
from mediator.systems import Command
from mediator.systems.salesforce import UpdateRecord
from mediator.systems.stripe import StripeConnector
from mediator.systems.tryton import AppliedPayment, ApplyPayment

__all__ = [
    "FLOW",
    "INVOICE_PAID",
    "INVOICE_UPDATED",
    "PENDING",
    "RECEIVABLE_POSTED",
    "CashApplication",
    "CashOptions",
    "SweepReport",
    "WaitingPayments",
]

#: The flow's name (its saga's flow state).
FLOW = "cash_application"
#: Stripe's invoice paid in full.
INVOICE_PAID = "stripe.event.invoice.paid"
#: Stripe's invoice changed (among others: a partial payment raised ``amount_paid``).
INVOICE_UPDATED = "stripe.event.invoice.updated"
#: The sweep's wake-up: the receivable of a waiting payment is posted now.
RECEIVABLE_POSTED = f"{FLOW}.receivable.posted"
#: The flow state (one entity, `_WAITING`) of the invoices whose payment waits for its
#: receivable: invoice id → when it began waiting (epoch seconds).
PENDING = f"{FLOW}.pending"
_WAITING = "invoices"


class CashOptions(msgspec.Struct, frozen=True, kw_only=True):
    """The Tryton payment method payments are applied with, the CRM's quota class, and the
    ERP and CRM calls' deadline."""

    payment_method: int
    crm_priority: str = "crm_writeback"
    timeout: float = 60.0


class CashApplication(Actor[Envelope]):
    """Applies the payments of one Stripe invoice (entity ``invoice:<id>``) in Tryton."""

    def __init__(
        self,
        key: str,
        *,
        stripe: StripeConnector,
        erp: ActorRef[Command],
        crm: ActorRef[Command],
        journal: Journal,
        clock: Clock,
        options: CashOptions,
    ) -> None:
        self.key = key
        self.invoice_id = key.partition(":")[2]
        self.stripe = stripe
        self.erp = erp
        self.crm = crm
        self.journal = journal
        self.clock = clock
        self.options = options

    async def receive(self, message: Envelope) -> object:
        """Apply what Stripe says is paid on the invoice now (or remember it as waiting)."""
        if message.kind == INVOICE_UPDATED and not _pays(message):
            return None  # most updates are drafts being edited: not worth a read of Stripe
        invoice = await self.stripe.get_invoice(self.invoice_id)
        paid = from_stripe_amount(invoice.amount_paid, invoice.currency, field="amount_paid")
        if paid.amount <= 0 and not invoice.pre_payment_credit_notes_amount:
            return None  # an update that paid nothing (a draft edited, a reminder sent)
        saga = Saga(self.journal, FLOW, invoice.id)
        await saga.load()
        receivable = await self.journal.xref_to("invoice", invoice.id, "tryton")
        if receivable is None:
            await _update_waiting(self.journal, lambda w: {invoice.id: self.clock.time(), **w})
            if not saga.finished(f"apply:{paid.amount}"):
                await saga.mark(
                    "waiting",
                    f"paid {paid.to_decimal()} {paid.currency}; waiting for the receivable of "
                    f"Stripe invoice {invoice.id} to be posted in Tryton",
                )
            return saga.state
        credits = await self._posted_credits(invoice)
        credited = sum(amount for _, _, amount in credits)
        steps: list[Step] = [_Settle(self, invoice, *credit) for credit in credits]
        if paid.amount > 0 or credited:
            steps.append(_Apply(self, invoice, int(receivable.system_id), credited))
        if paid.amount > 0:
            steps.append(_TellCrm(self, invoice, credited))
        await saga.run(steps)
        await _update_waiting(
            self.journal, lambda w: {k: v for k, v in w.items() if k != invoice.id}
        )
        return saga.state

    async def _posted_credits(self, invoice: wire.StInvoice) -> list[tuple[str, int, int]]:
        # the invoice's credit notes issued before payment and posted in Tryton: (Stripe id,
        # Tryton id, the amount they lowered what is due by), oldest first
        if not invoice.pre_payment_credit_notes_amount:
            return []
        found = []
        for note in reversed(await self.stripe.list_credit_notes(invoice=invoice.id)):
            if note.status == "void" or not note.pre_payment_amount:
                continue
            posted = await self.journal.xref_to("credit_note", note.id, "tryton")
            if posted is not None:
                found.append((note.id, int(posted.system_id), note.pre_payment_amount))
        return found

    async def settle(
        self, saga: Saga, invoice: wire.StInvoice, note: str, credit: int, amount: int
    ) -> AppliedPayment:
        """Settle the Tryton credit note `credit` (of Stripe's `note`) for `amount`, what it
        took off the receivable: it is paid with that negative amount."""
        settled = from_stripe_amount(-amount, invoice.currency, field="pre_payment_amount")
        command = ApplyPayment(
            idempotency_key=saga.key("settle", note),
            invoice=credit,
            paid_total=settled.to_decimal(),
            currency=settled.currency,
            payment_method=self.options.payment_method,
            received_on=datetime.datetime.fromtimestamp(self.clock.time(), datetime.UTC).date(),
            description=f"Stripe credit note {note} against {invoice.number or invoice.id}",
        )
        result = await self.erp.ask(command, timeout=self.options.timeout)
        if not isinstance(result, AppliedPayment):
            raise TypeError(f"the ERP actor answered {type(result).__name__}, not AppliedPayment")
        return result

    async def apply(
        self, saga: Saga, invoice: wire.StInvoice, receivable: int, credited: int = 0
    ) -> AppliedPayment:
        """Bring Tryton's paid amount on `receivable` up to what Stripe says is paid, plus
        what credit notes settled in Tryton took off it (`credited`, Stripe's units)."""
        paid = from_stripe_amount(
            invoice.amount_paid + credited, invoice.currency, field="amount_paid"
        )
        total = from_stripe_amount(invoice.total, invoice.currency, field="total")
        if paid > total:
            raise BusinessRejected(
                f"payment of Stripe invoice {invoice.id}",
                f"overpaid: {paid.to_decimal()} {paid.currency} on a total of "
                f"{total.to_decimal()}: refund or credit the difference in Stripe",
            )
        paid_at = invoice.status_transitions.paid_at
        received = datetime.datetime.fromtimestamp(
            paid_at if paid_at is not None else self.clock.time(), datetime.UTC
        ).date()
        command = ApplyPayment(
            idempotency_key=saga.key("apply", _level(invoice.amount_paid, credited)),
            invoice=receivable,
            paid_total=paid.to_decimal(),
            currency=paid.currency,
            payment_method=self.options.payment_method,
            received_on=received,
            description=f"Stripe {invoice.number or invoice.id}",
        )
        result = await self.erp.ask(command, timeout=self.options.timeout)
        if not isinstance(result, AppliedPayment):
            raise TypeError(f"the ERP actor answered {type(result).__name__}, not AppliedPayment")
        return result

    async def tell_crm(self, saga: Saga, invoice: wire.StInvoice, status: str) -> list[str]:
        """Write the invoice's payment status to its Opportunity and its client's Account."""
        paid = from_stripe_amount(invoice.amount_paid, invoice.currency, field="amount_paid")
        fields: dict[str, object] = {
            "Invoice_Number__c": invoice.number or invoice.id,
            "Invoice_Status__c": status,
            "Amount_Paid__c": float(paid.to_decimal()),  # a Salesforce currency field is JSON
        }
        account, _ = await translate(
            self.journal, "client", "stripe", invoice.customer, "salesforce",
            needed_for=f"the CRM status of Stripe invoice {invoice.id}",
        )  # fmt: skip
        day = datetime.datetime.fromtimestamp(self.clock.time(), datetime.UTC).date()
        updates = [("Account", account, {"Last_Payment_Date__c": day.isoformat(), **fields})]
        engagement = invoice.metadata.get("mediator_engagement")
        if engagement:
            updates.append(("Opportunity", engagement, fields))
        written = []
        for sobject, record, values in updates:
            command = UpdateRecord(
                idempotency_key=saga.key("crm", f"{invoice.amount_paid}:{sobject}"),
                sobject=sobject,
                id=record,
                fields=values,
                priority=self.options.crm_priority,
            )
            await self.crm.ask(command, timeout=self.options.timeout)
            written.append(f"{sobject}:{record}")
        return written


class _Snapshot(msgspec.Struct, frozen=True):
    amount_paid: int = 0


class _SnapshotData(msgspec.Struct, frozen=True):
    object: _Snapshot = _Snapshot()


class _Event(msgspec.Struct, frozen=True):
    data: _SnapshotData = _SnapshotData()


_event = msgspec.json.Decoder(_Event)


def _pays(message: Envelope) -> bool:
    # The event's snapshot of the invoice: an update with nothing paid needs no application.
    # Undecodable, it is read from Stripe as any other event (the snapshot is only a filter).
    try:
        return _event.decode(message.payload).data.object.amount_paid > 0
    except msgspec.DecodeError:
        return True


def _level(paid: int, credited: int) -> str:
    # a step's level: the amount paid, and what credit notes settled (named only when any, so
    # the steps of invoices without credit notes keep their names)
    return f"{paid}+{credited}" if credited else str(paid)


class _Settle:
    """A credit note issued before payment, settled against the receivable in Tryton."""

    def __init__(
        self, actor: CashApplication, invoice: wire.StInvoice, note: str, credit: int, amount: int
    ) -> None:
        self.actor = actor
        self.invoice = invoice
        self.note = note
        self.credit = credit
        self.amount = amount
        self.name = f"settle:{note}"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        settled = await self.actor.settle(saga, self.invoice, self.note, self.credit, self.amount)
        return {
            "tryton_credit_note": str(settled.invoice),
            "applied": str(settled.applied),
            "state": settled.state,
        }


class _Apply:
    """The payment applied in Tryton (or found applied), for one level of amount paid (and of
    credit notes settled)."""

    def __init__(
        self, actor: CashApplication, invoice: wire.StInvoice, receivable: int, credited: int = 0
    ) -> None:
        self.actor = actor
        self.invoice = invoice
        self.receivable = receivable
        self.credited = credited
        self.name = f"apply:{_level(invoice.amount_paid, credited)}"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        applied = await self.actor.apply(saga, self.invoice, self.receivable, self.credited)
        return {
            "tryton_invoice": str(applied.invoice),
            "applied": str(applied.applied),
            "paid_before": str(applied.paid_before),
            "state": applied.state,
        }


class _TellCrm:
    """The CRM told: the invoice paid, or partially paid (at one level of amount paid)."""

    def __init__(self, actor: CashApplication, invoice: wire.StInvoice, credited: int = 0) -> None:
        self.actor = actor
        self.invoice = invoice
        self.credited = credited
        self.name = f"crm:{_level(invoice.amount_paid, credited)}"

    async def run(self, saga: Saga) -> Mapping[str, str]:
        credited = self.invoice.pre_payment_credit_notes_amount
        full = self.invoice.amount_paid + credited >= self.invoice.total
        status = "paid" if full else "partially paid"
        written = await self.actor.tell_crm(saga, self.invoice, status)
        return {"status": status, "records": ",".join(written)}


class SweepReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one sweep found: invoices waiting, woken (their receivable is posted), already
    woken (journaled before), and still waiting."""

    read: int
    journaled: int
    duplicates: int
    rejected: int = 0


class WaitingPayments:
    """The sweep: for each payment waiting on its receivable, once the xref map has the Tryton
    invoice, journal a `RECEIVABLE_POSTED` entry on the invoice's key (idempotent by the
    invoice and its Tryton id), which the flow's actor applies."""

    def __init__(self, *, name: str = "cash_application_waiting") -> None:
        self.name = name

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> SweepReport:
        """Wake the waiting payments whose receivable is posted; return what it found."""
        waiting = await _load_waiting(journal)
        envelopes = []
        for invoice_id in sorted(waiting):
            posted = await journal.xref_to("invoice", invoice_id, "tryton")
            if posted is None:
                continue
            envelopes.append(
                Envelope(
                    id=new_id(),
                    key=f"invoice:{invoice_id}",
                    kind=RECEIVABLE_POSTED,
                    source="mediator",
                    idempotency_key=f"{FLOW}:posted:{invoice_id}:{posted.system_id}",
                    occurred_at=datetime.datetime.now(datetime.UTC),
                    payload=msgspec.Raw(msgspec.json.encode({"invoice": invoice_id})),
                )
            )
        appended = await dispatcher.accept_many(envelopes)
        new = sum(not a.duplicate for a in appended)
        return SweepReport(read=len(waiting), journaled=new, duplicates=len(appended) - new)


_Change = Callable[[dict[str, float]], dict[str, float]]
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, float]).decode


async def _load_waiting(journal: Journal) -> dict[str, float]:
    saved = await journal.load_flow(PENDING, _WAITING)
    return {} if saved is None else _decode(saved.state)


async def _update_waiting(journal: Journal, change: _Change) -> None:
    # one flow state shared by every invoice's actor: saved again on a concurrent save
    while True:
        saved = await journal.load_flow(PENDING, _WAITING)
        current = {} if saved is None else _decode(saved.state)
        updated = change(current)
        if updated == current:
            return
        version = 0 if saved is None else saved.version
        if await journal.save_flow(PENDING, _WAITING, _encode(updated), expected_version=version):
            return
