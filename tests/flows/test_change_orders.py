"""Change orders through a `Mediator`, against the Salesforce, Harvest and Tryton sandboxes.

A generated firm's deal P-1000 (time and materials, EUR; two Senior Consultants at 210.00
and a Partner) is onboarded as the onboarding flow leaves it: its xrefs and its rate history.
A ``Change_Order__c`` in the CRM is read by the flow's poller and applied everywhere.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediator.clock import SystemClock
from mediator.codecs import Envelope, new_id
from mediator.codecs.canonical.engagements import ChangeOrder
from mediator.codecs.canonical.money import Money
from mediator.config import parse_config
from mediator.flows.billed_periods import (
    Adjustment,
    BilledEntry,
    BilledPeriod,
    period_of,
    save_billed_period,
)
from mediator.flows.billing.ledger import book
from mediator.flows.billing.state import Contribution
from mediator.flows.change_orders import DECISIONS, FLOW
from mediator.flows.kinds import ADJUSTMENT_APPROVED, FLOW_PAYLOADS, client_key
from mediator.flows.rate_history import RateHistory, RatePeriod, load_rates, update_rates
from mediator.flows.saga import Saga
from mediator.journal import DeadLetterFilter, Journal
from mediator.runtime import Mediator
from mediator.runtime.approvals import decision_kind
from mediator.sandbox import Sandboxes, open_sandboxes
from mediator.sandbox.config_tables import env_secrets, sandbox_env, systems_toml
from mediator.sandbox.generator import Firm, generate_firm
from tests.runtime.support import SECRETS

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test

SEED = 7
PROJECT = "P-1000"
ROLE = "Senior Consultant"
OLD_RATE = 21_000  # EUR cents, the rate card's
NEW_RATE = 24_000
DELTA = 1_500_000  # +15,000.00 EUR on the budget
POLLER = "salesforce_change_orders"


def effective_day() -> datetime.date:
    """The 16th of last month: a change order mid-month, in a period that may be invoiced."""
    first = datetime.datetime.now(datetime.UTC).date().replace(day=1)
    return (first - datetime.timedelta(days=1)).replace(day=16)


@dataclass
class World:
    firm: Firm
    boxes: Sandboxes
    mediator: Mediator

    @property
    def journal(self) -> Journal:
        return self.mediator.journal

    def sf(self, key: str) -> str:
        return self.boxes.index.salesforce[key]

    def harvest_table(self, name: str) -> dict[int, dict[str, Any]]:
        assert self.boxes.harvest is not None
        return self.boxes.harvest.store.tables[name]

    def harvest_project(self) -> dict[str, Any]:
        return self.harvest_table("projects")[self.boxes.index.harvest[PROJECT]]

    def user_rates(self) -> dict[str, object]:
        """Consultant key → hourly rate of their user assignment on the project."""
        index = self.boxes.index.harvest
        users = {index[c.key]: c.key for c in self.firm.consultants}
        return {
            users[a["user_id"]]: a["hourly_rate"]
            for a in self.harvest_table("user_assignments").values()
            if a["project_id"] == index[PROJECT]
        }

    def erp_comment(self) -> str:
        assert self.boxes.tryton is not None
        work = self.boxes.tryton.db.tables["project.work"][self.boxes.index.tryton[PROJECT]]
        return str(work.get("comment") or "")

    def change_order(self, **fields: object) -> str:
        """Create a ``Change_Order__c`` of P-1000's deal in the CRM; return its id."""
        assert self.boxes.salesforce is not None
        return self.boxes.salesforce.store.create(
            "Change_Order__c",
            {
                "Name": "CO-1",
                "Opportunity__c": self.sf("O-2000"),
                "Effective_Date__c": effective_day().isoformat(),
                "Amount_Delta__c": DELTA / 100,
                "Role__c": ROLE,
                "New_Bill_Rate__c": NEW_RATE / 100,
                "Description__c": "Phase 2 scope",
                "CurrencyIsoCode": "EUR",
                "Status__c": "Approved",
                **fields,
            },
        )

    def crm_status(self, order: str) -> object:
        assert self.boxes.salesforce is not None
        return self.boxes.salesforce.store.get("Change_Order__c", order)["Status__c"]

    async def poll(self) -> None:
        await self.mediator.poll(POLLER)
        await self.mediator.wait_idle()


async def onboard(journal: Journal, firm: Firm, boxes: Sandboxes) -> None:
    """What onboarding leaves for P-1000: the xref map and the rate card's rate history."""
    index = boxes.index
    project = next(p for p in firm.projects if p.key == PROJECT)
    await journal.record_xref(
        "project", PROJECT, "salesforce", index.salesforce[project.opportunity]
    )
    for system, ids in (("harvest", index.harvest), ("tryton", index.tryton)):
        await journal.record_xref("project", PROJECT, system, str(ids[PROJECT]))
        for consultant in firm.consultants:
            await journal.record_xref(
                "consultant", consultant.key, system, str(ids[consultant.key])
            )
    account = index.salesforce[project.client]
    await journal.record_xref("client", account, "harvest", str(index.harvest[project.client]))
    staffing = {a.consultant: a.role for a in firm.assignments if a.project == PROJECT}
    card = {a.role: a.bill_rate for a in firm.assignments if a.project == PROJECT}
    history = RateHistory(project_id=PROJECT, currency=project.currency, staffing=staffing)
    for role, rate in card.items():
        history = history.with_period(
            RatePeriod(
                role=role,
                bill_rate=Money(amount=rate, currency=project.currency),
                effective_from=project.starts_on,
                source="rate_card",
            )
        )
    await update_rates(journal, PROJECT, lambda _: history)


def config(boxes: Sandboxes, folder: Path) -> str:
    return f"""\
[journal]
path = "{folder / "journal.sqlite"}"

{systems_toml(boxes, env_secrets(SECRETS))}
[flows.change_orders.options]
org_currency = "EUR"  # the connector reads CurrencyIsoCode only when told the org has it

[ingress.pollers.{POLLER}]
interval = 3600.0
enabled = false
"""


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    firm = generate_firm(seed=SEED, size=3)
    async with open_sandboxes(
        products=("salesforce", "harvest", "tryton"), clock=SystemClock(), seed=SEED, firm=firm
    ) as boxes:
        for name, value in sandbox_env(boxes, SECRETS).items():
            monkeypatch.setenv(name, value)
        loaded = parse_config(config(boxes, tmp_path), file="mediator.toml", base_dir=tmp_path)
        async with Mediator(loaded, serve_admin=False) as mediator:
            await onboard(mediator.journal, firm, boxes)
            yield World(firm, boxes, mediator)


async def saga_of(world: World, order: str) -> Saga:
    saga = Saga(world.journal, FLOW, order)
    await saga.load()
    return saga


def writes(boxes: Sandboxes) -> list[str]:
    """The writing requests the PSA, the ERP and the CRM received (logins and reads left out)."""
    assert boxes.harvest is not None
    assert boxes.tryton is not None
    assert boxes.salesforce is not None
    found = [
        f"harvest {r.method} {r.path}"
        for r in boxes.harvest.requests
        if r.method in ("POST", "PATCH", "DELETE")
    ]
    for request in boxes.tryton.requests:
        body = request.json()
        method = str(body.get("method")) if isinstance(body, dict) else ""
        if method.rsplit(".", 1)[-1] in ("create", "write", "delete"):
            found.append(f"tryton {method}")
    found += [
        f"salesforce {r.method} {r.path}"
        for r in boxes.salesforce.requests
        if r.method in ("PATCH", "DELETE") or (r.method == "POST" and "oauth2" not in r.path)
    ]
    return found


async def test_a_change_order_mid_month_is_applied_everywhere_and_a_replay_changes_nothing(
    world: World,
) -> None:
    day = effective_day()
    budget_before = Decimal(str(world.harvest_project()["budget"]))
    order = world.change_order()

    await world.poll()

    history = await load_rates(world.journal, PROJECT)
    assert history is not None
    sources = [p.source for p in history.periods if p.role == ROLE]
    assert sources == ["rate_card", f"change_order:{order}"]  # both periods, the old kept
    before = history.rate_on(day - datetime.timedelta(days=1), consultant_id="U-303")
    after = history.rate_on(day, consultant_id="U-303")
    assert before is not None
    assert after is not None
    assert (before.bill_rate.amount, after.bill_rate.amount) == (OLD_RATE, NEW_RATE)
    partner = history.rate_on(day, role="Partner")
    assert partner is not None
    assert partner.bill_rate.amount == 42_000  # a role the change order does not touch
    # Harvest: both Senior Consultants at the new rate, the Partner as before; budget moved
    assert world.user_rates() == {"U-303": 240, "U-304": 240, "U-302": 420}
    assert Decimal(str(world.harvest_project()["budget"])) == budget_before + Decimal(DELTA) / 100
    # Tryton: the project carries the change order; Salesforce: marked applied
    assert world.erp_comment().count(f"[change_order:{order}]") == 1
    assert "Phase 2 scope" in world.erp_comment()
    assert world.crm_status(order) == "Applied"
    saga = await saga_of(world, order)
    assert (saga.state.status, saga.state.note) == ("done", "applied")

    # the CRM's echo (now Applied) and a replay of the approved version change nothing
    for sandbox in (world.boxes.harvest, world.boxes.tryton, world.boxes.salesforce):
        assert sandbox is not None
        sandbox.requests.clear()
    state = (dict(world.harvest_project()), world.user_rates(), world.erp_comment())
    await world.poll()
    await world.mediator.accept(await _approved_version(world, order))
    await world.mediator.wait_idle()
    assert (world.harvest_project(), world.user_rates(), world.erp_comment()) == state
    assert await load_rates(world.journal, PROJECT) == history
    assert writes(world.boxes) == []
    assert world.crm_status(order) == "Applied"
    assert (await saga_of(world, order)).state == saga.state
    assert await world.mediator.dead_letters(DeadLetterFilter()) == []
    delivered = await world.mediator.reader.history(f"opportunity:{world.sf('O-2000')}")
    statuses = [FLOW_PAYLOADS.decode_as(e.envelope, ChangeOrder).status for e in delivered.entries]
    assert statuses == ["approved", "applied", "approved"]  # first, the echo, the replay


async def test_a_crash_after_the_effects_and_before_their_save_repeats_none_of_them(
    world: World,
) -> None:
    budget_before = Decimal(str(world.harvest_project()["budget"]))
    order = world.change_order()
    await world.poll()
    saga = await saga_of(world, order)
    # as if the process died after the budget, the ERP note and the CRM status were written
    # but before the saga saved them: those steps run again on the next delivery
    lost = ("harvest_budget", "tryton", "salesforce", "back_billing")
    kept = {step: out for step, out in saga.state.done.items() if step not in lost}
    await saga.save(msgspec.structs.replace(saga.state, status="running", done=kept))
    for sandbox in (world.boxes.harvest, world.boxes.tryton, world.boxes.salesforce):
        assert sandbox is not None
        sandbox.requests.clear()

    await world.mediator.accept(await _approved_version(world, order))
    await world.mediator.wait_idle()

    assert Decimal(str(world.harvest_project()["budget"])) == budget_before + Decimal(DELTA) / 100
    assert world.erp_comment().count(f"[change_order:{order}]") == 1
    project = world.boxes.index.harvest[PROJECT]
    assert writes(world.boxes) == [
        f"harvest PATCH /v2/projects/{project}",  # the same absolute budget again
        "salesforce PATCH /services/data/v61.0/composite/sobjects",  # Applied again
    ]
    assert (await saga_of(world, order)).state.status == "done"


async def test_an_applied_change_order_edited_later_is_a_dead_letter_not_a_silent_change(
    world: World,
) -> None:
    order = world.change_order()
    await world.poll()
    assert world.crm_status(order) == "Applied"
    assert world.boxes.salesforce is not None
    world.boxes.salesforce.store.update(
        "Change_Order__c", order, {"New_Bill_Rate__c": 250, "Status__c": "Approved"}
    )

    await world.poll()

    [dead] = await world.mediator.dead_letters(DeadLetterFilter())
    assert f"change order {order}: its terms changed after" in str(dead.reason)
    assert "record the difference as a new change order" in str(dead.reason)
    assert world.user_rates()["U-303"] == NEW_RATE // 100  # as applied, not 250
    assert world.crm_status(order) == "Approved"  # as the person left it


async def _approved_version(world: World, order: str) -> Envelope:
    # the change order as first journaled (status Approved), sent again as a replay sends it
    history = await world.mediator.reader.history(f"opportunity:{world.sf('O-2000')}")
    first = history.entries[0].envelope
    assert FLOW_PAYLOADS.decode_as(first, ChangeOrder).status == "approved"
    assert FLOW_PAYLOADS.decode_as(first, ChangeOrder).source_id == order
    return msgspec.structs.replace(first, id=new_id(), idempotency_key=f"replay:{order}")


async def test_an_effective_date_in_an_invoiced_period_holds_an_adjustment_for_approval(
    world: World,
) -> None:
    day = effective_day()
    account = world.sf("C-100")
    invoiced = BilledPeriod(
        client_id=account,
        period=period_of(day),
        currency="EUR",
        status="finalized",
        invoice_id="in_1",
        entries=(
            _billed("e1", "U-303", day - datetime.timedelta(days=2), "8"),  # before: kept
            _billed("e2", "U-303", day, "7.5"),
            _billed("e3", "U-304", day + datetime.timedelta(days=3), "4.25"),
            _billed("e4", "U-302", day + datetime.timedelta(days=3), "2", rate=42_000),
        ),
    )
    await save_billed_period(world.journal, invoiced)
    order = world.change_order()

    await world.poll()

    [pending] = await world.mediator.reader.approvals(state="pending")
    expected = (Decimal("7.5") + Decimal("4.25")) * (NEW_RATE - OLD_RATE)  # 35,250 cents
    assert (pending.flow, pending.amount, pending.currency) == (FLOW, int(expected), "EUR")
    assert f"for change order {order}" in pending.what
    saga = await saga_of(world, order)
    assert saga.state.status == "waiting"
    assert "awaiting approval" in saga.state.note
    assert world.crm_status(order) == "Applied"  # the rest is applied meanwhile

    await world.mediator.decide_approval(pending.id, approve=True, reason="agreed", by="fin")
    await world.mediator.wait_idle()

    [adjustment] = await _adjustments(world, account)
    assert adjustment == Adjustment(
        client_id=account,
        period=period_of(day),
        description=adjustment.description,
        amount=Money(amount=int(expected), currency="EUR"),
        source=f"change_order:{order}",
    )
    assert "2 entries" in adjustment.description
    saga = await saga_of(world, order)
    assert saga.state.status == "done"
    assert saga.state.detail[f"adjustment:{period_of(day)}"] == "approved"
    assert decision_kind(FLOW) == DECISIONS


async def test_a_rejected_adjustment_is_noted_and_billed_nowhere(world: World) -> None:
    day = effective_day()
    account = world.sf("C-100")
    await save_billed_period(
        world.journal,
        BilledPeriod(
            client_id=account,
            period=period_of(day),
            currency="EUR",
            status="finalized",
            entries=(_billed("e1", "U-304", day, "10"),),
        ),
    )
    order = world.change_order()
    await world.poll()
    [pending] = await world.mediator.reader.approvals(state="pending")

    await world.mediator.decide_approval(pending.id, approve=False, reason="goodwill", by="fin")
    await world.mediator.wait_idle()

    assert await _adjustments(world, account) == []
    saga = await saga_of(world, order)
    assert saga.state.status == "done"
    assert saga.state.detail[f"adjustment:{period_of(day)}"] == "rejected"
    assert "rejected" in saga.state.note


async def test_a_draft_period_or_a_draft_change_order_needs_no_approval(world: World) -> None:
    day = effective_day()
    await save_billed_period(
        world.journal,
        BilledPeriod(
            client_id=world.sf("C-100"),
            period=period_of(day),
            currency="EUR",
            entries=(_billed("e1", "U-304", day, "10"),),  # draft: priced at close
        ),
    )
    draft = world.change_order(Status__c="Draft", Name="CO-0")
    await world.poll()
    assert (await saga_of(world, draft)).state.done == {}
    assert world.crm_status(draft) == "Draft"
    assert world.user_rates()["U-304"] == OLD_RATE // 100

    order = world.change_order()
    await world.poll()
    assert await world.mediator.reader.approvals(state="pending") == []
    assert (await saga_of(world, order)).state.status == "done"


async def test_entries_already_on_a_draft_are_repriced_there_without_approval(
    world: World,
) -> None:
    # booked before the change order was applied (at the old rate), dated after it takes effect
    day = effective_day()
    account = world.sf("C-100")
    old = Money(amount=OLD_RATE, currency="EUR")
    hours = Decimal("10")
    booked = Contribution(
        id="time:e1", entry_id="time:e1", invoice_period=period_of(day),
        origin_period=period_of(day), project_id=PROJECT, consultant_id="U-304", what=ROLE,
        unit="hour", unit_rate=old, quantity=hours, amount=old.scale(hours), spent_on=day,
    )  # fmt: skip
    await book(
        world.journal, client_id=account, entry_id="time:e1", facts=[booked], currency="EUR",
        delivery_key="billing:project:1", clock_time=0.0, version="v1",
    )  # fmt: skip
    order = world.change_order()
    await world.poll()

    assert await world.mediator.reader.approvals(state="pending") == []  # nothing was sent
    [adjustment] = await _adjustments(world, account)
    assert adjustment.period == period_of(day)
    assert adjustment.amount == Money(amount=10 * (NEW_RATE - OLD_RATE), currency="EUR")
    assert (await saga_of(world, order)).state.status == "done"


async def test_a_change_order_of_a_deal_not_onboarded_is_a_dead_letter_naming_it(
    world: World,
) -> None:
    deal = world.sf("O-2002")  # won, but onboarding has not recorded its project
    order = world.change_order(Opportunity__c=deal)

    await world.poll()

    [dead] = await world.mediator.dead_letters(DeadLetterFilter())
    assert dead.envelope.key == f"opportunity:{deal}"
    assert f"opportunity {deal}" in str(dead.reason)
    assert "no onboarded project" in str(dead.reason)
    assert world.crm_status(order) == "Approved"  # nothing applied anywhere
    assert (await saga_of(world, order)).state.done == {}


def _billed(
    entry: str, consultant: str, day: datetime.date, hours: str, *, rate: int = OLD_RATE
) -> BilledEntry:
    return BilledEntry(
        entry_id=entry,
        project_id=PROJECT,
        consultant_id=consultant,
        role=None if consultant == "U-302" else ROLE,
        spent_on=day,
        hours=Decimal(hours),
        unit_rate=rate,
    )


async def _adjustments(world: World, account: str) -> list[Adjustment]:
    history = await world.mediator.reader.history(client_key(account))
    return [
        FLOW_PAYLOADS.decode_as(e.envelope, Adjustment)
        for e in history.entries
        if e.envelope.kind == ADJUSTMENT_APPROVED
    ]
