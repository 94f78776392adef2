"""What the onboarding tests share: a firm whose deals are won in Salesforce and onboarded
nowhere else, a `Mediator` running the flow against the four sandboxes, and the deals as the
CRM ingress would journal them."""

from __future__ import annotations

import contextlib
import datetime
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediator.clock import SystemClock
from mediator.codecs import Envelope
from mediator.codecs.canonical.deals import Deal, StaffingLine
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Client
from mediator.config import parse_config
from mediator.flows.kinds import (
    ACCOUNT_CHANGED,
    FLOW_PAYLOADS,
    OPPORTUNITY_WON,
    account_key,
    opportunity_key,
)
from mediator.flows.onboarding import FLOW, PAYLOADS
from mediator.flows.saga import Saga, SagaState
from mediator.journal import Journal
from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.config_tables import env_secrets, sandbox_env, systems_toml
from mediator.sandbox.generator import Firm, generate_firm
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.seeding import FIRM_COMPANIES, SeedIndex, seed_sandboxes
from tests.runtime.support import SECRETS

DOWNSTREAM = ("tryton", "harvest", "stripe")

OPTIONS = f"""\
[flows.onboarding.options]
legal_entities = {list(FIRM_COMPANIES.values())!r}
service_lines = ["Strategy", "Technology", "Operations", "Finance Transformation"]
delivery_regions = ["EMEA", "North America"]
currencies = ["USD", "EUR", "GBP"]
payment_terms_days = {{ min = 0, max = 60 }}
timeout = 20.0

[flows.onboarding.options.tax_profiles]
US = {{ identifier = "us_ein" }}
DE = {{ identifier = "de_vat", tax_id_pattern = "DE[0-9]{{9}}" }}
FR = {{ identifier = "eu_vat" }}
GB = {{ identifier = "gb_vat" }}
NL = {{ identifier = "eu_vat" }}
"""


def _rate_cards() -> str:
    roles = {
        "Partner": ("420.00", "210.00"),
        "Principal": ("300.00", "150.00"),
        "Senior Consultant": ("210.00", "105.00"),
        "Consultant": ("150.00", "75.00"),
        "Analyst": ("95.00", "48.00"),
    }
    lines = []
    for currency in ("USD", "EUR", "GBP"):
        lines.append(f"\n[flows.onboarding.options.rate_cards.{currency}]")
        lines += [f'"{role}" = {{ bill = "{b}", cost = "{c}" }}' for role, (b, c) in roles.items()]
    return "\n".join(lines) + "\n"


POLLERS_OFF = "".join(
    f"\n[ingress.pollers.{name}]\ninterval = 3600.0\nenabled = false\n"
    for name in ("salesforce_accounts", "salesforce_opportunities", "salesforce_contracts")
)


def config_text(boxes: Sandboxes, *, options: str | None = None, pollers: bool = False) -> str:
    """A `mediator.toml` of the four sandboxes with only the onboarding flow enabled (its
    CRM pollers switched off unless `pollers`: the tests journal what they mean to send)."""
    return f"""\
[journal]
path = "journal.sqlite"

{systems_toml(boxes, env_secrets(SECRETS))}
{options if options is not None else OPTIONS + _rate_cards()}
[policies.ratelimits.harvest]
rate = 1000.0
burst = 50
max_wait = 60.0
{"" if pollers else POLLERS_OFF}"""


@dataclass
class World:
    """A firm's deals won in the CRM, its people and tasks in the PSA and ERP, and nothing
    onboarded yet; `index` says where each firm key went."""

    firm: Firm
    boxes: Sandboxes
    index: SeedIndex
    tmp: Path

    @property
    def salesforce(self) -> Any:
        assert self.boxes.salesforce is not None
        return self.boxes.salesforce.store

    def won(self) -> list[str]:
        """The won opportunities' ids, oldest first."""
        return [r["Id"] for r in self.salesforce.records("Opportunity") if r.get("IsWon")]

    def deal(self, opportunity_id: str) -> Deal:
        """The opportunity as the CRM ingress journals it (a `Deal`, terms unjudged)."""
        record = self.salesforce.get("Opportunity", opportunity_id)
        currency = record.get("CurrencyIsoCode")
        amount = record.get("Amount")
        terms = record.get("Payment_Terms_Days__c")
        staffing = tuple(
            StaffingLine(email=email.strip(), role=role.strip())
            for email, _, role in (
                line.partition("=") for line in (record.get("Staffing__c") or "").splitlines()
            )
            if email.strip()
        )
        return Deal(
            source_system="salesforce",
            source_id=record["Id"],
            name=record["Name"],
            account_id=record.get("AccountId"),
            contract_id=record.get("ContractId"),
            is_won=bool(record.get("IsWon")),
            close_date=datetime.date.fromisoformat(record["CloseDate"]),
            amount=None
            if amount is None or not currency
            else Money.from_decimal(Decimal(str(amount)), currency),
            currency=currency,
            billing_model=record.get("Billing_Model__c"),
            payment_terms_days=None if terms is None else int(terms),
            retainer_interval=record.get("Retainer_Interval__c"),
            service_line=record.get("Service_Line__c"),
            delivery_region=record.get("Delivery_Region__c"),
            legal_entity=record.get("Legal_Entity__c"),
            project_code=record.get("Project_Key__c"),
            staffing=staffing,
            updated_at=datetime.datetime.strptime(
                record["SystemModstamp"], "%Y-%m-%dT%H:%M:%S.%f%z"
            ),
        )

    def envelope(self, opportunity_id: str) -> Envelope:
        """The `crm.opportunity.won` entry of the opportunity's current version."""
        deal = self.deal(opportunity_id)
        assert deal.updated_at is not None
        return PAYLOADS.envelope(
            OPPORTUNITY_WON,
            deal,
            key=opportunity_key(opportunity_id),
            source="salesforce",
            idempotency_key=f"salesforce:Opportunity:{opportunity_id}:{deal.updated_at.isoformat()}",
            occurred_at=deal.updated_at,
        )

    def downstream_calls(self) -> int:
        """Requests the ERP, the PSA and billing have answered so far."""
        return sum(len(getattr(self.boxes, name).requests) for name in DOWNSTREAM)

    def forget_requests(self) -> None:
        for name in (*DOWNSTREAM, "salesforce"):
            getattr(self.boxes, name).requests.clear()

    @contextlib.asynccontextmanager
    async def mediator(
        self, *, options: str | None = None, pollers: bool = False
    ) -> AsyncIterator[Mediator]:
        """A running `Mediator` with the onboarding flow over these sandboxes (and its
        consultants mapped in the xref map, as the firm's HR process would have)."""
        text = config_text(self.boxes, options=options, pollers=pollers)
        loaded = parse_config(text, file="mediator.toml", base_dir=self.tmp)
        async with Mediator(loaded, serve_admin=False) as running:
            for person in self.firm.consultants:
                harvest_id = str(self.index.harvest[person.key])
                await running.journal.record_xref("consultant", person.key, "harvest", harvest_id)
            yield running


def _nothing_onboarded(firm: Firm) -> Firm:
    projects = tuple(msgspec.structs.replace(p, onboarded=False) for p in firm.projects)
    return msgspec.structs.replace(
        firm, projects=projects, assignments=(), time_entries=(), expenses=()
    )


@contextlib.asynccontextmanager
async def open_world(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, *, seed: int = 11, size: int = 4
) -> AsyncIterator[World]:
    """The four sandboxes: the firm's CRM, its people and tasks in the PSA, its employees in
    the ERP; no client or project anywhere but the CRM."""
    firm = generate_firm(seed=seed, size=size)
    # Harvest's own limit (100 requests / 15 s) is tested elsewhere; here it would only
    # make the tests wait (the connector's limiter is raised in OPTIONS' policies to match)
    prepared = Sandboxes(harvest=HarvestSandbox(seed=seed, rate_limit=100_000))
    async with open_sandboxes(clock=SystemClock(), seed=seed, prepared=prepared) as boxes:
        index = seed_sandboxes(firm, salesforce=boxes.salesforce)
        rest = seed_sandboxes(
            _nothing_onboarded(firm),
            harvest=boxes.harvest,
            stripe=boxes.stripe,
            tryton=boxes.tryton,
        )
        index.harvest, index.tryton, index.stripe = rest.harvest, rest.tryton, rest.stripe
        for name, value in sandbox_env(boxes, SECRETS).items():
            monkeypatch.setenv(name, value)
        world = World(firm=firm, boxes=boxes, index=index, tmp=tmp)
        world.forget_requests()
        yield world


def rows(boxes: Sandboxes, product: str, table: str) -> list[dict[str, Any]]:
    """The live rows of a product's table (Tryton models, Harvest resources, Stripe objects)."""
    if product == "tryton":
        assert boxes.tryton is not None
        tables = boxes.tryton.state()["tables"]
        assert isinstance(tables, dict)
        return list(tables.get(table, []))
    if product == "harvest":
        assert boxes.harvest is not None
        return list(boxes.harvest.store.tables[table].values())
    assert boxes.stripe is not None
    found = boxes.stripe.state().get(table, [])
    assert isinstance(found, list)
    return found


def account_changed(world: World, account_id: str) -> Envelope:
    """The `crm.account.changed` entry of the account's current version."""
    record = world.salesforce.get("Account", account_id)
    client = Client(source_system="salesforce", source_id=account_id, name=record["Name"])
    return FLOW_PAYLOADS.envelope(
        ACCOUNT_CHANGED,
        client,
        key=account_key(account_id),
        source="salesforce",
        idempotency_key=f"salesforce:Account:{account_id}:{record['SystemModstamp']}",
        occurred_at=datetime.datetime.now(datetime.UTC),
    )


async def saga_of(mediator: Mediator, opportunity_id: str) -> SagaState:
    """The onboarding saga of the opportunity, as saved."""
    return await Saga(mediator.journal, FLOW, opportunity_key(opportunity_id)).load()


async def saga_of_journal(journal: Journal, opportunity_id: str) -> SagaState:
    """The onboarding saga of the opportunity in `journal`, as saved."""
    return await Saga(journal, FLOW, opportunity_key(opportunity_id)).load()


def top_level_deal(world: World) -> str:
    """A won deal of an account without a parent (nothing to wait for)."""
    for opportunity in world.won():
        account = world.salesforce.get("Opportunity", opportunity)["AccountId"]
        if world.salesforce.get("Account", account).get("ParentId") is None:
            return opportunity
    raise AssertionError("no top-level account with a won deal")


def made(world: World) -> dict[str, Counter[str]]:
    """Everything the flow made, counted by its identity in each system."""
    boxes = world.boxes
    return {
        "parties": Counter(p["code"] for p in rows(boxes, "tryton", "party.party")),
        "works": Counter(w["name"] for w in rows(boxes, "tryton", "project.work")),
        "clients": Counter(c["name"] for c in rows(boxes, "harvest", "clients")),
        "projects": Counter(p["code"] for p in rows(boxes, "harvest", "projects")),
        "assignments": Counter(
            (a["project_id"], a["user_id"]) for a in rows(boxes, "harvest", "user_assignments")
        ),
        "customers": Counter(
            c["metadata"]["mediator_client"] for c in rows(boxes, "stripe", "customers")
        ),
    }


def once_each(world: World) -> None:
    """Everything the flow made exists exactly once."""
    for what, counts in made(world).items():
        assert counts, what
        assert set(counts.values()) == {1}, (what, counts)
