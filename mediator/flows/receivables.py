"""Invoice finalized → ERP receivable: flow 5 of DESIGN §5.

Stripe's ``invoice.finalized`` (journaled by the webhook listener or the events poller, keyed
``invoice:<id>``) becomes a posted Tryton customer invoice for the client's party, with lines
mirroring Stripe's. The event is only the trigger: the invoice is read from Stripe as it is
now (with every line), so a late, repeated or out-of-order event posts the same receivable.

Before posting, in this order:

1. **Approval**: the finance posting policy (`[[policies.approvals.finance]]`, bound to
   ``model.account.invoice.post``) says whether an invoice of this amount needs a person. The
   flow files an approval request (idempotent by invoice) and waits: the saga is ``waiting``
   with the request's id in its note, and the delivery ends. The decision comes back as
   ``receivables.approval.decided`` on the same entity and resumes it; a rejection ends the
   saga as ``rejected`` (a person decided: no dead letter).
2. **Posting window**: outside the finance calendar (`[policies.windows.finance]`) the
   invoice is held, "held by posting window finance until <time>", as a retry due when the
   window opens (`PostingHeld`, never a dead letter for that).

Then one `PostInvoice` (looked up by ``reference`` = the Stripe invoice id, so a retry finds
the invoice it made and continues it from draft or validated). Tryton refusing to post it
(a closed period, a missing sequence) is a `BusinessRejected` for finance naming Tryton's
words. The xref map then holds ``invoice``: canonical id = the Stripe invoice id, ``stripe``
and ``tryton`` (the ``account.invoice`` id), which cash application reads. An invoice billed
in another currency than the ERP company's is refused for finance (a currency mismatch is
never posted at the wrong amount).

Stripe's credit notes (``credit_note.created``, keyed ``credit_note:<id>``) are this flow's
too: `mediator.flows.receivable_credits` posts each as a Tryton credit note.

``invoice.voided`` ends a receivable not posted yet (nothing is posted); one posted already is
a `BusinessRejected` for finance asking for a credit note in Tryton, never a deletion.

Revenue accounts come from the flow's options by service line (the invoice's
``metadata[mediator_service_line]``), else the ERP setup's revenue account. Taxes come from
the client's tax treatment (its Stripe customer's `tax_exempt`: ``standard``, ``reverse``,
``exempt``): every line carries the Tryton ``account.tax`` the options name for it
(`[flows.receivables.options.taxes]`), so Tryton computes the tax Stripe charged, and the
posted total is checked against Stripe's total with its tax (an invoice Stripe did not tax
for a ``standard`` client, billed without a rate, is posted as sent, untaxed; the ``reverse``
and ``exempt`` taxes, zero-rate records for the tax report, always apply). An invoice Stripe
taxed whose treatment names no Tryton tax is refused for finance (never posted without its
tax); a total that still differs (a rate that is not Stripe's, rounding per document rather
than per line) is finance's to correct in Tryton.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Protocol

import msgspec

from mediator.actors import Actor, ActorRef
from mediator.clock import Clock
from mediator.codecs import Envelope
from mediator.codecs.canonical.billing import Invoice
from mediator.codecs.stripe.mapping import invoice_from_stripe
from mediator.codecs.tryton.mapping import invoice_to_tryton
from mediator.codecs.tryton.rpc import decode_response
from mediator.errors import BusinessRejected, DecodeError, PostingWindowClosed, RemoteRejected
from mediator.flows.saga import Saga
from mediator.flows.tax_treatment import treatment_of
from mediator.flows.xref_lookup import translate
from mediator.journal import Journal
from mediator.journal.operator import Approval
from mediator.policies import PolicySet
from mediator.systems import Command
from mediator.systems.stripe import StripeConnector
from mediator.systems.tryton import PostedInvoice, PostInvoice, TrytonConnector

__all__ = [
    "APPROVAL_DECIDED",
    "FLOW",
    "INVOICE_FINALIZED",
    "INVOICE_VOIDED",
    "POST_ENDPOINT",
    "SERVICE_LINE_KEY",
    "ApprovalDesk",
    "PostingHeld",
    "ReceivableOptions",
    "ReceivablePosting",
]

#: The flow's name: its flow state, its approvals and its decisions' kind.
FLOW = "receivables"
#: The kind Stripe's ``invoice.finalized`` is journaled under.
INVOICE_FINALIZED = "stripe.event.invoice.finalized"
#: The kind Stripe's ``invoice.voided`` is journaled under.
INVOICE_VOIDED = "stripe.event.invoice.voided"
#: The kind a decision on this flow's approval requests is journaled under.
APPROVAL_DECIDED = f"{FLOW}.approval.decided"
#: The Tryton endpoint the finance window and approval rules are bound to.
POST_ENDPOINT = "model.account.invoice.post"
#: Where the service line of an invoice travels in Stripe (set by the flows that bill).
SERVICE_LINE_KEY = "mediator_service_line"


class ApprovalDesk(Protocol):
    """What the flow needs of the approvals (`FlowContext.approvals`)."""

    async def request(
        self,
        *,
        entity: str,
        key: str,
        what: str,
        amount: int | None = None,
        currency: str | None = None,
    ) -> Approval:
        """File the request `key` (or return the one filed before, pending or decided)."""
        ...


class ReceivableOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How receivables are posted: revenue accounts by service line, the approval kind the
    finance rules know these postings by, the ERP call's deadline and the taxes by
    treatment."""

    revenue_accounts: dict[str, int] = {}
    approval_kind: str = "customer_invoice"
    erp_timeout: float = 60.0
    #: the Tryton ``account.tax`` id of each tax treatment (`mediator.flows.tax_treatment`)
    taxes: dict[str, int] = {}


class PostingHeld(PostingWindowClosed):
    """The posting window is closed now: retry when it opens (`retry_after` seconds)."""

    def __init__(self, window: str, opens_at: float, now: float) -> None:
        super().__init__(window, opens_at, retry_after=max(opens_at - now, 0.0))

    def __str__(self) -> str:
        return f"held by posting window {self.window} until {_iso(self.opens_at)}"


class ReceivablePosting(Actor[Envelope]):
    """Posts one Stripe invoice (entity ``invoice:<id>``) as a Tryton customer invoice."""

    def __init__(
        self,
        key: str,
        *,
        stripe: StripeConnector,
        tryton: TrytonConnector,
        erp: ActorRef[Command],
        journal: Journal,
        clock: Clock,
        approvals: ApprovalDesk,
        options: ReceivableOptions,
    ) -> None:
        self.key = key
        self.invoice_id = key.partition(":")[2]
        self.stripe = stripe
        self.tryton = tryton
        self.erp = erp
        self.journal = journal
        self.clock = clock
        self.approvals = approvals
        self.options = options
        self._currency: str | None = None  # the ERP's books currency, read once

    async def receive(self, message: Envelope) -> object:
        """Post the invoice (finalized, or an approval decided); reply with the saga's state."""
        saga = Saga(self.journal, FLOW, self.invoice_id)
        state = await saga.load()
        if message.kind == INVOICE_VOIDED and saga.finished("post"):
            raise BusinessRejected(
                f"receivable {state.output('post', 'number')} of Stripe invoice {self.invoice_id}",
                "voided in Stripe after it was posted: credit it in Tryton (a posted invoice is "
                "corrected by a credit note, never deleted), then release this entry",
            )
        if state.status in ("done", "rejected"):
            return state  # posted (or refused by a person) before: a duplicate or a replay
        found = await self.stripe.get_invoice_with_lines(self.invoice_id)
        if found.status == "draft":  # Stripe never unfinalizes: an event that is not Stripe's
            return await saga.mark("waiting", f"Stripe invoice {found.id} is not finalized")
        if found.status == "void" and not saga.finished("post"):
            return await saga.mark("done", "voided in Stripe before it was posted: no receivable")
        invoice = invoice_from_stripe(found)
        taxes = await self._taxes(invoice, found.customer)
        books = await self._books_currency()
        if invoice.currency != books:
            raise BusinessRejected(
                f"invoice {found.id}",
                f"billed in {invoice.currency}; the ERP company keeps its books in {books}, "
                "and receivables in another currency are not posted automatically",
            )
        _, party = await translate(
            self.journal, "client", "stripe", found.customer, "tryton",
            needed_for=f"the receivable of Stripe invoice {found.id}",
        )  # fmt: skip
        policy = self.tryton.transport.policy_for(POST_ENDPOINT)
        if not await self._approved(saga, policy, invoice):
            return saga.state
        window = policy.window
        now = self.clock.time()
        if window is not None:
            opens = window.next_open(now)
            if opens != now:
                held = PostingHeld(window.name, opens, now) if opens is not None else None
                note = str(held) if held else f"posting window {window.name} never opens"
                await saga.mark("waiting", note)
                raise held or PostingWindowClosed(window.name, None)
        line = found.metadata.get(SERVICE_LINE_KEY)
        await saga.run([_Post(self, invoice, int(party), line, taxes)])
        return saga.state

    async def _taxes(self, invoice: Invoice, customer: str) -> tuple[int, ...]:
        """The Tryton taxes of the invoice's lines: its client's treatment's, from the options."""
        taxed = invoice.tax is not None and invoice.tax.amount != 0
        if not self.options.taxes and not taxed:
            return ()
        found = await self.stripe.get_customer(customer)
        treatment = treatment_of(found.tax_exempt, who=f"Stripe customer {customer}")
        if treatment == "standard" and not taxed:
            return ()  # billed without a rate (a milestone's invoice): posted as it was sent
        tax = self.options.taxes.get(treatment)
        if tax is None and taxed:
            assert invoice.tax is not None
            raise BusinessRejected(
                f"invoice {invoice.source_id}",
                f"Stripe taxed it {invoice.tax.to_decimal()} {invoice.currency}, and "
                f"[flows.receivables.options.taxes] names no Tryton tax for its client's "
                f"treatment {treatment!r}: name one, then release this entry (a receivable is "
                "never posted without the tax Stripe charged)",
            )
        return () if tax is None else (tax,)

    async def _approved(self, saga: Saga, policy: PolicySet, invoice: Invoice) -> bool:
        rules = policy.approvals
        why = (
            None
            if rules is None
            else rules.hold_reason(
                kind=self.options.approval_kind,
                amount=invoice.total.amount,
                currency=invoice.currency,
            )
        )
        if why is None:
            return True
        label = invoice.number or invoice.source_id
        approval = await self.approvals.request(
            entity=self.key,
            key=f"post:{invoice.source_id}",
            what=f"post Stripe invoice {label} ({invoice.source_id}) to the ledger",
            amount=invoice.total.amount,
            currency=invoice.currency,
        )
        if approval.state == "approved":
            return True
        if approval.state == "rejected":
            await saga.mark(
                "rejected",
                f"approval {approval.id} rejected by {approval.decided_by}: {approval.reason}",
                approval=approval.id,
            )
            return False
        await saga.mark(
            "waiting", f"waiting for approval {approval.id}: {why}", approval=approval.id
        )
        return False

    async def post(
        self,
        saga: Saga,
        invoice: Invoice,
        party: int,
        service_line: str | None,
        taxes: tuple[int, ...] = (),
    ) -> PostedInvoice:
        """Create, validate and post the Tryton invoice; Tryton's refusal is finance's."""
        address = await self._address(party)
        setup = self.tryton.setup
        if setup is None:
            raise ValueError("the receivables flow needs TrytonConnector(setup=)")
        account = self.options.revenue_accounts.get(service_line or "", setup.revenue_account)
        values = invoice_to_tryton(
            invoice,
            party=party,
            invoice_address=address,
            setup=msgspec.structs.replace(setup, revenue_account=account),
            taxes=taxes,
        )
        values = {**values, "reference": invoice.source_id, "description": invoice.number}
        command = PostInvoice(
            idempotency_key=saga.key("post"), values=values, reference=invoice.source_id
        )
        try:
            result = await self.erp.ask(command, timeout=self.options.erp_timeout)
        except RemoteRejected as exc:
            if exc.code != "UserError":
                raise
            raise BusinessRejected(
                f"receivable of Stripe invoice {invoice.source_id}",
                f"Tryton refused to post it: {_words(exc.detail)}",
            ) from exc
        if not isinstance(result, PostedInvoice):
            raise TypeError(f"the ERP actor answered {type(result).__name__}, not PostedInvoice")
        return result

    async def _books_currency(self) -> str:
        setup = self.tryton.setup
        if setup is None:
            raise ValueError("the receivables flow needs TrytonConnector(setup=)")
        if self._currency is None:
            rows = await self.tryton.read("currency.currency", [setup.currency], ["code"])
            code = rows[0].get("code") if rows else None
            if not isinstance(code, str):
                raise BusinessRejected(
                    f"Tryton currency {setup.currency}", "not found ([systems.tryton.erp])"
                )
            self._currency = code
        return self._currency

    async def _address(self, party: int) -> int:
        rows = await self.tryton.read("party.party", [party], ["addresses"])
        addresses = rows[0].get("addresses") if rows else None
        if not (isinstance(addresses, list) and addresses and isinstance(addresses[0], int)):
            raise BusinessRejected(
                f"Tryton party {party}", "has no address, which a customer invoice needs"
            )
        return addresses[0]


class _Post:
    """The saga's one step: the posted invoice, its number and total, and the xref."""

    name = "post"

    def __init__(
        self,
        actor: ReceivablePosting,
        invoice: Invoice,
        party: int,
        service_line: str | None,
        taxes: tuple[int, ...],
    ) -> None:
        self.actor = actor
        self.invoice = invoice
        self.party = party
        self.service_line = service_line
        self.taxes = taxes

    async def run(self, saga: Saga) -> Mapping[str, str]:
        posted = await self.actor.post(
            saga, self.invoice, self.party, self.service_line, self.taxes
        )
        total = self.invoice.total
        if posted.total_amount != total.to_decimal():
            raise BusinessRejected(
                f"receivable {posted.number} of Stripe invoice {self.invoice.source_id}",
                f"Tryton totals {posted.total_amount}, Stripe {total.to_decimal()} "
                f"{total.currency} (tax included): correct it in Tryton, then release this "
                "entry",
            )
        journal = self.actor.journal
        await journal.record_xref(
            "invoice", self.invoice.source_id, "stripe", self.invoice.source_id
        )
        await journal.record_xref("invoice", self.invoice.source_id, "tryton", str(posted.id))
        return {
            "tryton_invoice": str(posted.id),
            "number": posted.number,
            "total": str(total.amount),
            "currency": total.currency,
        }


def _words(detail: str) -> str:
    # the connector keeps Tryton's whole error envelope; finance reads its message
    try:
        fault = decode_response(detail.encode()).error
    except DecodeError:
        return detail
    return fault.message if fault is not None and fault.message else detail


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")
