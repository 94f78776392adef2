"""Credits of finalized invoices issued as Stripe credit notes (``corrections = "credit_note"``).

The ledger books a correction that lowers a finalized invoice's line as a *credit* (see
`mediator.flows.billing.ledger.is_credit`) in the entry's record: durable before any Stripe
call. `issue_credit_notes` then issues each credit not issued yet as one credit note on that
finalized invoice, through a saga per credit (flow ``billing.credit_note``, entity the credit's
id): a finished credit is never issued again, whatever is redelivered or replayed. Before it
issues one, it looks for it on the invoice (``metadata[mediator_origin]`` = the credit's id),
so a crash after Stripe answered and before the saga saved finds the credit note instead of
making a second; the command's Idempotency-Key (the saga's key) makes a retry Stripe's replay.

Stripe refusing it (the invoice was voided, or credited by hand meanwhile so less is left to
credit) is a `BusinessRejected` for finance naming the invoice and Stripe's words; the credit
stays booked, so replaying the entry once it is sorted issues it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol

from mediator.actors import ActorRef
from mediator.codecs.canonical.billing import InvoiceLine
from mediator.codecs.stripe import wire
from mediator.codecs.stripe.mapping import ORIGIN_KEY
from mediator.errors import BusinessRejected, RemoteRejected
from mediator.flows.billing.invoicing import invoice_lines
from mediator.flows.billing.ledger import invoice_entity, is_credit
from mediator.flows.billing.periods import record_finalized
from mediator.flows.billing.state import INVOICE, Contribution, InvoiceState, load
from mediator.flows.saga import Saga
from mediator.journal import Journal
from mediator.systems import Command
from mediator.systems.stripe import CreateCreditNote

__all__ = ["CREDIT_NOTES", "CreditNoteLookup", "issue_credit_notes"]

#: The saga flow of the credits: one entity per credit (its contribution id).
CREDIT_NOTES = "billing.credit_note"


class CreditNoteLookup(Protocol):
    """Reads the credit notes Stripe has on an invoice (`StripeConnector.list_credit_notes`)."""

    def __call__(self, invoice: str) -> Awaitable[Sequence[wire.StCreditNote]]:
        """The credit notes of `invoice`."""
        ...


async def issue_credit_notes(
    journal: Journal,
    booked: Sequence[Contribution],
    *,
    stripe: ActorRef[Command],
    lookup: CreditNoteLookup | None,
    timeout: float,
) -> list[str]:
    """Issue every credit in `booked` not issued yet; return the credit notes' ids (all of
    them, issued now or before)."""
    issued = []
    for credit in booked:
        if not is_credit(credit):
            continue
        saga = Saga(journal, CREDIT_NOTES, credit.id)
        await saga.load()
        step = _Issue(journal, credit, stripe=stripe, lookup=lookup, timeout=timeout)
        state = await saga.run([step])
        issued.append(state.output("issue", "credit_note"))
        # what other flows read of the finalized period (back-billing) is net of the credit
        await record_finalized(journal, credit.client_id, credit.invoice_period)
    return issued


class _Issue:
    """The saga's one step: the credit note on the finalized invoice, found or made."""

    name = "issue"

    def __init__(
        self,
        journal: Journal,
        credit: Contribution,
        *,
        stripe: ActorRef[Command],
        lookup: CreditNoteLookup | None,
        timeout: float,
    ) -> None:
        self.journal = journal
        self.credit = credit
        self.stripe = stripe
        self.lookup = lookup
        self.timeout = timeout

    async def run(self, saga: Saga) -> Mapping[str, str]:
        credit = self.credit
        entity = invoice_entity(credit.client_id, credit.invoice_period)
        state, _ = await load(self.journal, INVOICE, entity, InvoiceState)
        if state is None or not state.invoice_id:
            raise BusinessRejected(
                f"credit {credit.id}", f"the invoice {entity} it credits was never sent to Stripe"
            )
        if self.lookup is not None:
            for found in await self.lookup(state.invoice_id):
                if found.metadata.get(ORIGIN_KEY) == credit.id:
                    return _outputs(found)
        line = _credited_line(credit, state.period)
        command = CreateCreditNote(
            idempotency_key=saga.key("issue"),
            invoice=state.invoice_id,
            lines=(line,),
            memo=f"Correction of {credit.entry_id}: {line.description}",
            origin=credit.id,
        )
        try:
            note: object = await self.stripe.ask(command, timeout=self.timeout)
        except RemoteRejected as exc:
            if exc.status >= 500 or exc.status == 429:
                raise
            raise BusinessRejected(
                f"credit note on Stripe invoice {state.number or state.invoice_id}",
                f"Stripe refused to credit {line.amount.to_decimal()} {line.amount.currency} "
                f"for {credit.entry_id}: {exc.detail[:300]}",
            ) from exc
        if not isinstance(note, wire.StCreditNote):
            raise TypeError(f"the Stripe actor answered {type(note).__name__}, not StCreditNote")
        return _outputs(note)


def _credited_line(credit: Contribution, period: str) -> InvoiceLine:
    # the credit as an invoice line would show it, with positive amounts: what is taken back
    [line] = invoice_lines([credit], period).values()
    hours = credit.unit == "hour"  # hours less at the unit rate; else one unit of the amount
    return InvoiceLine(
        description=line.description,
        quantity=-line.quantity if hours else line.quantity,
        unit_amount=line.unit_amount if hours else -line.unit_amount,
        amount=-line.amount,
        origin_id=credit.id,
    )


def _outputs(note: wire.StCreditNote) -> dict[str, str]:
    return {"credit_note": note.id, "invoice": note.invoice, "total": str(note.total)}
