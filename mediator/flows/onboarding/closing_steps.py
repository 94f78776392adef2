"""The deal's last steps: what billing needs to know, and the write-back to the CRM.

``billing``: the customer already carries the canonical ids and the payment terms (made with
the client). What billing needs per engagement is kept in flow state (`BILLING_TERMS`, keyed
by the canonical project id): the customer, the currency, ``days_until_due`` for each
invoice, the billing model, and for a retainer its fee per period and its interval; and the
client's payment terms where the billing flow reads them when it finalizes an invoice
(`CLIENT_TERMS`, by canonical client id).

A retainer is billed by the billing flow from these terms, one item per period, alongside
that period's time and expenses; not by a Stripe price and subscription. Why: Stripe would
then issue its own invoices on its own schedule, outside the period close, the aggregation
and the approvals the billing flow applies to every other invoice, and a change order would
have to be mirrored into subscription items as well as into the rate history. One place
decides what an invoice holds.

``writeback``: the ERP, PSA and billing ids and ``Sync_Status__c = Onboarded`` on the
Opportunity and its Account, as `UpdateRecord`s the Salesforce actor batches through sObject
Collections with the other deals' write-backs.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.flows.onboarding.context import FLOW, Onboarding
from mediator.flows.saga import Saga
from mediator.journal import Journal
from mediator.systems.salesforce import UpdateRecord, Upserted

__all__ = [
    "BILLING_TERMS",
    "CLIENT_TERMS",
    "ONBOARDED",
    "WRITEBACK_PRIORITY",
    "BillingStep",
    "BillingTerms",
    "WriteBackStep",
    "load_billing_terms",
]

#: The flow-state name of each engagement's billing terms, keyed by canonical project id.
BILLING_TERMS = f"{FLOW}.billing"
#: The flow state the billing flow reads a client's payment terms from (days, a bare
#: number, keyed by the canonical client id): `mediator.flows.billing.invoicing`.
CLIENT_TERMS = "billing.terms"
#: The integration status an onboarded deal and its account show in the CRM.
ONBOARDED = "Onboarded"
#: The quota class of the flow's CRM writes (below nothing: people look at these).
WRITEBACK_PRIORITY = "crm_writeback"


class BillingTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What the billing flow needs to bill one engagement."""

    project_id: str
    opportunity_id: str
    client_id: str
    customer: str
    currency: str
    days_until_due: int
    billing_model: str
    amount: Money
    starts_on: datetime.date
    ends_on: datetime.date | None = None
    retainer_interval: str | None = None
    period_fee: Money | None = None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(BillingTerms).decode


async def load_billing_terms(journal: Journal, project_id: str) -> BillingTerms | None:
    """The billing terms of the engagement whose canonical project id is `project_id`."""
    saved = await journal.load_flow(BILLING_TERMS, project_id)
    return None if saved is None else _decode(saved.state)


class BillingStep:
    """``billing``: record the engagement's billing terms for the billing flow."""

    name = "billing"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Save the terms (the same terms again on a repeat: no conflict, no change)."""
        job = self.onboarding
        terms = job.terms
        record = BillingTerms(
            project_id=job.project_id,
            opportunity_id=job.opportunity_id,
            client_id=job.account_id,
            customer=saga.state.output("client", "customer"),
            currency=terms.currency,
            days_until_due=terms.payment_terms_days,
            billing_model=terms.billing_model,
            amount=terms.amount,
            starts_on=terms.starts_on,
            ends_on=terms.ends_on,
            retainer_interval=terms.retainer_interval,
            period_fee=terms.period_fee,
        )
        while True:
            saved = await job.journal.load_flow(BILLING_TERMS, job.project_id)
            if saved is not None and _decode(saved.state) == record:
                break
            version = 0 if saved is None else saved.version
            if await job.journal.save_flow(
                BILLING_TERMS, job.project_id, _encode(record), expected_version=version
            ):
                break
        # The billing flow invoices a client once per period, all its engagements together,
        # due after the client's terms (`CLIENT_TERMS`): the first deal's, as its customer
        # shows them; a later deal with other terms does not move the due date of the others.
        if await job.journal.load_flow(CLIENT_TERMS, job.account_id) is None:
            await job.journal.save_flow(
                CLIENT_TERMS,
                job.account_id,
                _encode(terms.payment_terms_days),
                expected_version=0,  # a concurrent first save wins: the same rule
            )
        return {"customer": record.customer}


class WriteBackStep:
    """``writeback``: the systems' ids and ``Onboarded`` on the Opportunity and Account."""

    name = "writeback"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Send both updates together (one collection call when the actor batches them)."""
        job = self.onboarding
        done = saga.state
        customer = done.output("client", "customer")
        opportunity = UpdateRecord(
            idempotency_key=saga.key(self.name, "opportunity"),
            sobject="Opportunity",
            id=job.opportunity_id,
            fields={
                "ERP_Project_Id__c": done.output("erp_project", "id"),
                "PSA_Project_Id__c": done.output("psa_project", "id"),
                "Billing_Customer_Id__c": customer,
                "Sync_Status__c": ONBOARDED,
            },
            priority=WRITEBACK_PRIORITY,
        )
        account = UpdateRecord(
            idempotency_key=saga.key(self.name, "account"),
            sobject="Account",
            id=job.account_id,
            fields={
                "ERP_Party_Id__c": done.output("client", "party"),
                "PSA_Client_Id__c": done.output("client", "psa_client"),
                "Billing_Customer_Id__c": customer,
                "Sync_Status__c": ONBOARDED,
            },
            priority=WRITEBACK_PRIORITY,
        )
        # both queued at once, so the actor can batch them; the first failure is raised as
        # itself (the dispatcher classifies it), the other's outcome is repeated on the retry
        outcomes = await asyncio.gather(
            *(job.ask("salesforce", update, Upserted) for update in (opportunity, account)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return {"status": ONBOARDED}
