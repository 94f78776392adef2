"""The onboarding flow's ERP steps against a real trytond 8.2: the client's party (with its
address in the ERP's country and its tax identifier) and the deal's project, each looked up by
reference first, so running the steps again with their progress lost makes nothing twice."""

from __future__ import annotations

import datetime
import random
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from mediator.actors import ActorRef, open_supervisor
from mediator.clock import SystemClock
from mediator.codecs import Envelope
from mediator.codecs.canonical.deals import Deal, StaffingLine
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Address, Client, TaxProfile
from mediator.codecs.tryton.mapping import ErpSetup
from mediator.flows.onboarding import (
    CLIENT_FLOW,
    ErpPartyStep,
    ErpProjectStep,
    Onboarding,
    OnboardingOptions,
    Terms,
)
from mediator.flows.saga import Saga
from mediator.journal import Appended, Journal, open_journal
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.systems import (
    Command,
    HarvestConnector,
    SalesforceConnector,
    Secret,
    SystemActor,
    TrytonConnector,
)
from mediator.systems.salesforce import ClientCredentials
from mediator.testing.tryton_server import TrytonServer
from tests.systems.harness_tryton import record_ids

from .conftest import INSTALL_TIMEOUT

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]

VALID_DE_VAT = "DE136695976"  # passes python-stdnum's check, which trytond applies


class _Given:
    """A deal saga's ``client`` step whose outputs are already known (the party made above)."""

    name = "client"

    def __init__(self, outputs: Mapping[str, str]) -> None:
        self.outputs = outputs

    async def run(self, saga: Saga) -> Mapping[str, str]:
        return self.outputs


async def _refuse(envelopes: Sequence[Envelope]) -> list[Appended]:
    raise AssertionError(f"the ERP steps journal nothing, not {envelopes}")


def _onboarding(
    tag: str, journal: Journal, erp: ActorRef[Command], connector: TrytonConnector
) -> Onboarding:
    policies = PolicyRegistry(default_policy_config(), clock=SystemClock())
    options = msgspec.convert(
        {
            "legal_entities": ["Meridian Advisory GmbH"],
            "service_lines": ["Strategy"],
            "delivery_regions": ["EMEA"],
            "currencies": ["EUR"],
            "tax_profiles": {"DE": {"identifier": "de_vat"}},
            "rate_cards": {"EUR": {"Partner": {"bill": "420.00"}}},
        },
        OnboardingOptions,
    )
    account = Client(
        source_system="salesforce",
        source_id=f"001{tag}"[:60],
        name=f"Globex {tag}",
        billing_address=Address(
            street="1 Hauptstrasse", city="Berlin", postal_code="10115", country="DE"
        ),
        tax=TaxProfile(tax_id=VALID_DE_VAT),
        email="ap@globex.example",
    )
    deal = Deal(
        source_system="salesforce",
        source_id=f"006{tag}"[:60],
        name="Website relaunch",
        account_id=account.source_id,
        project_code=f"P-{tag}"[:40],
        currency="EUR",
        staffing=(StaffingLine(email="ada@firm.example", role="Partner"),),
    )
    terms = Terms(
        billing_model="time_and_materials",
        currency="EUR",
        payment_terms_days=30,
        starts_on=datetime.date(2026, 11, 1),
        ends_on=None,
        amount=Money.from_decimal(Decimal("50000"), "EUR"),
    )
    unused_psa = HarvestConnector(
        base_url="http://127.0.0.1:9",
        policies=policies,
        clock=SystemClock(),
        account_id="1",
        secret=lambda: Secret("unused", source="test"),
        user_agent="tests",
    )
    unused_crm = SalesforceConnector(
        base_url="http://127.0.0.1:9",
        policies=policies,
        clock=SystemClock(),
        credentials=ClientCredentials(login_url="http://127.0.0.1:9", client_id="tests"),
        secret=lambda: Secret("unused", source="test"),
    )
    return Onboarding(
        deal=deal,
        terms=terms,
        account=account,
        options=options,
        journal=journal,
        systems={"tryton": erp},
        tryton=connector,
        harvest=unused_psa,
        salesforce=unused_crm,
        follow_up=_refuse,
        now=lambda: datetime.datetime.now(datetime.UTC),
    )


async def test_the_party_and_project_are_made_once_and_found_again_by_reference(
    tryton_server: TrytonServer, tag: str, tmp_path: Path
) -> None:
    clock = SystemClock()
    setup = tryton_server.setup
    connector = TrytonConnector(
        base_url=tryton_server.url,
        database=tryton_server.database,
        login=tryton_server.login,
        secret=lambda: Secret(tryton_server.password, source="fixture"),
        policies=PolicyRegistry(
            default_policy_config(), clock=clock, random=random.Random(7).random
        ),
        clock=clock,
        setup=ErpSetup(
            company=setup.company,
            currency=setup.currency,
            journal=setup.revenue_journal,
            receivable_account=setup.receivable_account,
            revenue_account=setup.revenue_account,
            payment_term=setup.payment_term,
            product=setup.product,
            unit=setup.uom_hour,
        ),
    )
    # a real database has its countries loaded (trytond_import_countries); the fixture's not
    if not await connector.search_read("country.country", [["code", "=", "DE"]], ["id"]):
        await connector.call("model.country.country.create", [{"name": "Germany", "code": "DE"}])
    [germany] = await connector.search_read("country.country", [["code", "=", "DE"]], ["id"])
    made: list[tuple[str, str]] = []
    try:
        for run in ("first", "again with its progress lost"):
            async with (
                open_journal(tmp_path / f"{len(made)}.sqlite", clock=clock) as journal,
                open_supervisor(clock=clock) as supervisor,
            ):
                erp = supervisor.spawn(lambda: SystemActor(connector), name="erp")
                job = _onboarding(tag, journal, erp, connector)
                client = Saga(journal, CLIENT_FLOW, f"account:{job.account_id}")
                await client.load()
                party = (await client.run([ErpPartyStep(job)])).output("tryton", "id")
                deal = Saga(journal, "onboarding", f"opportunity:{job.opportunity_id}")
                await deal.load()
                done = await deal.run([_Given({"party": party}), ErpProjectStep(job)])
                made.append((party, done.output("erp_project", "id")))
                xref = await journal.xref_to("project", job.project_id, "tryton")
                assert xref is not None, run
                assert xref.system_id == made[-1][1]
        assert made[0] == made[1]  # found by reference, not made again
        party_id, work_id = (int(i) for i in made[0])
        (row,) = await connector.read(
            "party.party", [party_id], ["code", "name", "addresses", "identifiers"]
        )
        assert row["code"] == job.account_id
        (address,) = await connector.read(
            "party.address", record_ids(row["addresses"]), ["country", "city", "invoice"]
        )
        assert address["country"] == germany["id"]
        assert address["invoice"] in (True, 1)
        (identifier,) = await connector.read(
            "party.identifier", record_ids(row["identifiers"]), ["type", "code"]
        )
        assert identifier["type"] == "de_vat"
        (work,) = await connector.read("project.work", [work_id], ["name", "party", "type"])
        assert work["name"] == job.project_name
        assert work["party"] == party_id
        assert work["type"] == "project"
        parties = await connector.search_read(
            "party.party", [["code", "=", job.account_id]], ["id"], archived=True
        )
        works = await connector.search_read(
            "project.work", [["name", "=", job.project_name]], ["id"]
        )
        assert (len(parties), len(works)) == (1, 1)
    finally:
        await connector.aclose()
