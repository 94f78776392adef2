"""The client, once per account: an ERP party, a PSA client and a billing customer.

Every deal of an account shares them, so they are a saga of their own keyed by the account
(`CLIENT_FLOW`, ``account:<id>``): its idempotency keys derive from the account id, and two
deals of one account converge on the same records whichever runs first (a concurrent save is a
`SagaConflict`, retried from the other's progress). Each record is looked up before it is made
(Tryton by the party's code, which is the account id; Harvest by the client's name; Stripe by
its idempotency key), and its id goes into the xref map as the account's ``client`` id.

When the client is onboarded, the deals waiting for it (subsidiaries of this account) are
rechecked; that happens before the deal's step is saved, so a crash in between repeats it
(and the recheck's idempotency key makes the repeat a no-op).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from mediator.codecs.canonical.parties import Client
from mediator.codecs.harvest.write import client_to_harvest
from mediator.codecs.stripe.wire import StCustomer
from mediator.codecs.tryton import RpcValue
from mediator.errors import BusinessRejected
from mediator.flows.kinds import account_key
from mediator.flows.onboarding.context import FLOW, Onboarding
from mediator.flows.onboarding.links import recheck_dependents
from mediator.flows.saga import Saga
from mediator.systems.harvest import CreateClient, HarvestWritten
from mediator.systems.salesforce.by_id import accounts_named
from mediator.systems.stripe import CreateCustomer
from mediator.systems.tryton import CreateRecord, RecordRef

__all__ = [
    "CLIENT_FLOW",
    "BillingCustomerStep",
    "ClientStep",
    "ErpPartyStep",
    "PsaClientStep",
    "party_values",
]

#: The flow-state name of the clients' sagas, keyed ``account:<id>``.
CLIENT_FLOW = f"{FLOW}.client"


def party_values(
    client: Client, *, identifier: str, country: int | None = None
) -> dict[str, RpcValue]:
    """The ``party.party`` create values of `client`: its invoice address (in the ERP's
    `country` record), its e-mail and its tax id as an identifier of type `identifier` (the
    country's tax profile says which)."""
    values: dict[str, RpcValue] = {"name": client.name}
    address = client.billing_address
    if address is not None:
        values["addresses"] = [
            [
                "create",
                [
                    {
                        "street": address.street or "",
                        "city": address.city or "",
                        "postal_code": address.postal_code or "",
                        "country": country,
                        "invoice": True,
                    }
                ],
            ]
        ]
    if client.email:
        values["contact_mechanisms"] = [["create", [{"type": "email", "value": client.email}]]]
    if client.tax.tax_id:
        values["identifiers"] = [["create", [{"type": identifier, "code": client.tax.tax_id}]]]
    return values


class ClientStep:
    """The deal's ``client`` step: run (or find done) the account's client saga."""

    name = "client"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Onboard the account's client everywhere; recheck the deals waiting for it."""
        job = self.onboarding
        client_saga = Saga(job.journal, CLIENT_FLOW, account_key(job.account_id))
        await client_saga.load()
        state = await client_saga.run(
            [ErpPartyStep(job), PsaClientStep(job), BillingCustomerStep(job)]
        )
        await recheck_dependents(
            job.journal,
            job.follow_up,
            account_key(job.account_id),
            cause=f"client-onboarded:{job.account_id}",
            only=("waiting",),
            now=job.now(),
        )
        return {
            "party": state.output("tryton", "id"),
            "psa_client": state.output("harvest", "id"),
            "customer": state.output("stripe", "id"),
        }


class ErpPartyStep:
    """``tryton`` of the client saga: the ERP party, found by its code (the account id)."""

    name = "tryton"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Create (or find) the party; record it as the account's ERP client."""
        job = self.onboarding
        address = job.account.billing_address
        code = "" if address is None else address.country or ""
        profile = job.options.tax_profiles[code]  # validation made sure it exists
        values = party_values(
            job.account, identifier=profile.identifier, country=await self._country(code)
        )
        made = await job.ask(
            "tryton",
            CreateRecord(
                idempotency_key=saga.key(self.name),
                model="party.party",
                values=values,
                reference=job.account_id,
            ),
            RecordRef,
        )
        await job.journal.record_xref("client", job.account_id, "salesforce", job.account_id)
        await job.journal.record_xref("client", job.account_id, "tryton", str(made.id))
        return {"id": str(made.id)}

    async def _country(self, code: str) -> int:
        # an address's country is a record of the ERP (what trytond_import_countries loads)
        rows = await self.onboarding.tryton.search_read(
            "country.country", [["code", "=", code]], ["id"]
        )
        found = rows[0]["id"] if rows else None
        if not isinstance(found, int):
            raise BusinessRejected(
                f"ERP country {code}",
                "the ERP has no country with this code: load the countries "
                "(trytond_import_countries) or add it, then replay",
            )
        return found


class PsaClientStep:
    """``harvest`` of the client saga: the PSA client, found by its name (the account's, or
    with the account id when another Account has the same name)."""

    name = "harvest"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Create (or find) the PSA client; record it as the account's PSA client."""
        job = self.onboarding

        # Harvest keeps one currency per client: the first deal's. It also keeps client names
        # unique, and finds ours by name: an account sharing its name with another (two
        # subsidiaries "Contoso Retail US") is named with its id there, or both would be one
        # client and one's time billed to the other. The CRM is asked (not the xref map),
        # so two namesakes onboarded at once both see each other.
        # The name is settled once: a retry looks for what the first attempt made.
        async def choose() -> str:
            namesakes = await accounts_named(job.salesforce, job.account.name)
            alone = len(namesakes) <= 1
            return job.account.name if alone else f"{job.account.name} ({job.account_id})"

        name = await saga.settle("psa_name", choose)
        client = msgspec.structs.replace(job.account, name=name, currency=job.terms.currency)
        made = await job.ask(
            "harvest",
            CreateClient(idempotency_key=saga.key(self.name), fields=client_to_harvest(client)),
            HarvestWritten,
        )
        await job.journal.record_xref("client", job.account_id, "harvest", str(made.id))
        return {"id": str(made.id)}


class BillingCustomerStep:
    """``stripe`` of the client saga: the billing customer, once per idempotency key."""

    name = "stripe"

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding

    async def run(self, saga: Saga) -> Mapping[str, str]:
        """Create (or find) the customer; record it as the account's billing customer."""
        job = self.onboarding
        ids = {
            "erp_party": saga.state.output("tryton", "id"),
            "psa_client": saga.state.output("harvest", "id"),
        }
        if job.account.parent_id:
            ids["parent_client"] = job.account.parent_id
        made = await job.ask(
            "stripe",
            CreateCustomer(
                idempotency_key=saga.key(self.name),
                client=job.account,
                metadata=ids,
                payment_terms_days=job.terms.payment_terms_days,
            ),
            StCustomer,
        )
        await job.journal.record_xref("client", job.account_id, "stripe", made.id)
        return {"id": made.id}
