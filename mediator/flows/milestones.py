"""Milestone approved → invoice: flow 3 of DESIGN §5.

A fixed-fee ``Milestone__c`` that becomes approved in the CRM (journaled by the
``salesforce_milestones`` poller as ``crm.milestone.changed``, keyed by its deal, so it waits
behind the deal's onboarding) becomes one Stripe invoice for its amount, then the milestone is
marked ``Status__c = Invoiced`` in Salesforce.

The saga (entity: the milestone's id) has four steps, each with its own idempotency key
(`Saga.key`), which the Stripe connector sends as the ``Idempotency-Key``: a draft invoice for
the client's Stripe customer, due after the engagement's payment terms (the Opportunity's
``Payment_Terms_Days__c``) and carrying its service line and its period (the month it was
approved in, ``metadata[mediator_period]``); the milestone's item on it; the
invoice finalized (Stripe numbers it, and its ``invoice.finalized`` starts the receivable);
the milestone marked invoiced. A crash resumes at the first unfinished step; a replay, or the
milestone read again (its own ``Invoiced`` echo included), changes nothing.

The customer is the ``client`` xref of the deal's Account (onboarding records it): until it is
there the milestone is a `MissingReference` dead letter naming the Account. A milestone whose
amount changes after it was invoiced is refused for finance (a credit note and a new invoice
are a person's decision), never invoiced twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from mediator.actors import Actor, ActorRef
from mediator.codecs import Envelope
from mediator.codecs.canonical.billing import InvoiceLine
from mediator.codecs.canonical.engagements import Milestone
from mediator.codecs.salesforce import wire as sf_wire
from mediator.codecs.stripe import wire as stripe_wire
from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.kinds import FLOW_PAYLOADS
from mediator.flows.saga import Saga, Step
from mediator.flows.xref_lookup import system_id_for
from mediator.journal import Journal
from mediator.systems import Command
from mediator.systems.salesforce import SalesforceConnector, UpdateRecord
from mediator.systems.stripe import AddInvoiceItem, CreateDraftInvoice, FinalizeInvoice

__all__ = ["FLOW", "MilestoneInvoicing", "MilestoneOptions"]

#: The flow's name (its saga's flow state).
FLOW = "milestones"
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_DEAL_FIELDS = "Id, Name, CloseDate, StageName, AccountId, Payment_Terms_Days__c, Service_Line__c"


class MilestoneOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Payment terms when the deal names none, the CRM's quota class, the calls' deadline."""

    payment_terms_days: int = 30
    crm_priority: str = "crm_writeback"
    timeout: float = 60.0


class MilestoneInvoicing(Actor[Envelope]):
    """Invoices the approved milestones of one deal (entity ``opportunity:<id>``)."""

    def __init__(
        self,
        key: str,
        *,
        salesforce: SalesforceConnector,
        billing: ActorRef[Command],
        crm: ActorRef[Command],
        journal: Journal,
        options: MilestoneOptions,
    ) -> None:
        self.key = key
        self.salesforce = salesforce
        self.billing = billing
        self.crm = crm
        self.journal = journal
        self.options = options

    async def receive(self, message: Envelope) -> object:
        """Invoice the milestone if it is approved (once); reply with its saga's state."""
        milestone = FLOW_PAYLOADS.decode_as(message, Milestone)
        saga = Saga(self.journal, FLOW, milestone.source_id)
        state = await saga.load()
        # Its amount counts once it is on an invoice (the item made): before that, a corrected
        # amount is simply the one invoiced.
        invoiced = state.detail.get("amount") if saga.finished("item") else None
        if invoiced is not None and invoiced != _amount(milestone):
            raise BusinessRejected(
                f"milestone {milestone.source_id}",
                f"its amount changed to {_amount(milestone)} after it was invoiced for "
                f"{invoiced} (Stripe invoice {state.done.get('draft', {}).get('invoice')}): "
                "credit or "
                "re-invoice in Stripe, then release this entry",
            )
        if milestone.status != "approved" or state.status == "done":
            return state  # planned, cancelled, our own "Invoiced" echo, or invoiced before
        customer, deal = await self._customer(milestone)
        await saga.mark("running", "", amount=_amount(milestone))
        steps: list[Step] = [
            _Draft(self, milestone, customer, deal),
            _Item(self, milestone, customer),
            _Finalize(self),
            _MarkInvoiced(self, milestone),
        ]
        await saga.run(steps)
        await self.journal.record_xref(
            "milestone", milestone.source_id, "stripe", saga.state.output("draft", "invoice")
        )
        return saga.state

    async def _customer(self, milestone: Milestone) -> tuple[str, sf_wire.SfOpportunity]:
        deal_id = milestone.engagement_id
        if not _SF_ID.match(deal_id):
            raise BusinessRejected(f"milestone {milestone.source_id}", f"deal id {deal_id!r}")
        soql = f"SELECT {_DEAL_FIELDS} FROM Opportunity WHERE Id = '{deal_id}'"
        found = await self.salesforce.query_all(
            soql, sf_wire.SfOpportunity, priority=self.options.crm_priority
        )
        if not found or found[0].AccountId is None:
            raise MissingReference(
                f"opportunity {deal_id}", "not in the CRM, or without an Account to invoice"
            )
        deal = found[0]
        customer = await system_id_for(
            self.journal, "client", str(deal.AccountId), "stripe",
            needed_for=f"the invoice of milestone {milestone.source_id}",
        )  # fmt: skip
        return customer, deal

    async def bill(self, command: Command) -> stripe_wire.StInvoice | stripe_wire.StInvoiceItem:
        """Send `command` to Stripe; its invoice or item."""
        result = await self.billing.ask(command, timeout=self.options.timeout)
        if not isinstance(result, stripe_wire.StInvoice | stripe_wire.StInvoiceItem):
            raise TypeError(f"the billing actor answered {type(result).__name__}")
        return result


class _Draft:
    """A draft invoice for the client, due after the deal's payment terms."""

    name = "draft"

    def __init__(
        self,
        actor: MilestoneInvoicing,
        milestone: Milestone,
        customer: str,
        deal: sf_wire.SfOpportunity,
    ) -> None:
        self.actor, self.milestone, self.customer, self.deal = actor, milestone, customer, deal

    async def run(self, saga: Saga) -> Mapping[str, str]:
        terms = self.deal.Payment_Terms_Days__c
        days = int(terms) if terms is not None else self.actor.options.payment_terms_days
        draft = await self.actor.bill(
            CreateDraftInvoice(
                idempotency_key=saga.key(self.name),
                customer=self.customer,
                currency=self.milestone.amount.currency,
                days_until_due=days,
                engagement_id=self.milestone.engagement_id,
                period=_period(self.milestone),
                service_line=self.deal.Service_Line__c,
            )
        )
        return {"invoice": draft.id}


def _period(milestone: Milestone) -> str | None:
    # the month the milestone was approved (earned) in: its invoice is that month's, for the
    # reconciliation and the month-end close, whenever the draft is made
    day = milestone.approved_on or milestone.due_on
    return None if day is None else f"{day:%Y-%m}"


class _Item:
    """The milestone's fee on the draft."""

    name = "item"

    def __init__(self, actor: MilestoneInvoicing, milestone: Milestone, customer: str) -> None:
        self.actor, self.milestone, self.customer = actor, milestone, customer

    async def run(self, saga: Saga) -> Mapping[str, str]:
        amount = self.milestone.amount
        line = InvoiceLine(
            description=self.milestone.name,
            unit_amount=amount,
            amount=amount,
            origin_id=f"milestone:{self.milestone.source_id}",
        )
        item = await self.actor.bill(
            AddInvoiceItem(
                idempotency_key=saga.key(self.name),
                customer=self.customer,
                line=line,
                invoice=saga.state.output("draft", "invoice"),
            )
        )
        return {"item": item.id}


class _Finalize:
    """The invoice finalized: Stripe numbers it and tells the receivables flow."""

    name = "finalize"

    def __init__(self, actor: MilestoneInvoicing) -> None:
        self.actor = actor

    async def run(self, saga: Saga) -> Mapping[str, str]:
        invoice = saga.state.output("draft", "invoice")
        final = await self.actor.bill(
            FinalizeInvoice(idempotency_key=saga.key(self.name), invoice=invoice)
        )
        number = final.number if isinstance(final, stripe_wire.StInvoice) else None
        return {"number": number or ""}


class _MarkInvoiced:
    """The milestone marked invoiced in the CRM."""

    name = "crm"

    def __init__(self, actor: MilestoneInvoicing, milestone: Milestone) -> None:
        self.actor, self.milestone = actor, milestone

    async def run(self, saga: Saga) -> Mapping[str, str]:
        command = UpdateRecord(
            idempotency_key=saga.key(self.name),
            sobject="Milestone__c",
            id=self.milestone.source_id,
            fields={"Status__c": "Invoiced"},
            priority=self.actor.options.crm_priority,
        )
        await self.actor.crm.ask(command, timeout=self.actor.options.timeout)
        return {"status": "Invoiced"}


def _amount(milestone: Milestone) -> str:
    return f"{milestone.amount.amount} {milestone.amount.currency}"
