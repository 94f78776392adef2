"""All four sandboxes together: seeded from a generated firm, served, read back, stopped."""

import asyncio
import collections
import contextlib
from datetime import date
from typing import Any

import aiohttp
import pytest

from mediator.sandbox import (
    PRODUCTS,
    FaultPlan,
    HarvestSandbox,
    Sandboxes,
    approve_through,
    generate_firm,
    main,
    open_sandboxes,
    seed_activity,
    serve_sandboxes,
)
from mediator.testing import FakeClock


def test_generator_is_deterministic_and_realistic() -> None:
    firm = generate_firm(seed=5, size=12)
    assert firm == generate_firm(seed=5, size=12)
    assert firm != generate_firm(seed=6, size=12)
    assert len(firm.clients) == 12
    keys = {c.key for c in firm.clients}
    assert any(c.parent in keys for c in firm.clients)  # a hierarchy
    assert {c.tax_profile for c in firm.clients} >= {"standard", "reverse_charge"}
    assert {p.billing_model for p in firm.projects} == {
        "time_and_materials",
        "fixed_fee",
        "retainer",
    }
    won = [o for o in firm.opportunities if o.stage == "Closed Won"]
    assert len(won) == len(firm.projects)
    assert all(isinstance(e.amount, int) for e in firm.expenses)
    assert {a.consultant for a in firm.assignments} <= {c.key for c in firm.consultants}
    # the month-end surge: most approvals land in the last two working days
    approvals = collections.Counter(e.approved_on for e in firm.time_entries)
    assert all(d is None or d.weekday() < 5 for d in approvals)
    last_two = [date(2026, 11, 27), date(2026, 11, 30)]  # Friday and Monday
    assert sum(approvals[d] for d in last_two) > len(firm.time_entries) / 2
    assert all(e.spent_date.month == 11 for e in firm.time_entries)
    assert firm.month == date(2026, 11, 1)


async def test_open_sandboxes_seeds_and_serves_all_four(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    firm = generate_firm(seed=2, size=4)
    async with open_sandboxes(clock=clock, seed=2, firm=firm) as boxes:
        assert set(boxes.urls) == set(PRODUCTS)
        states = {}
        for name, url in boxes.urls.items():
            async with http.get(url + "/__sandbox/state") as resp:
                assert resp.status == 200
                states[name] = await resp.json()
        assert boxes.salesforce is not None
        token = boxes.salesforce.issue_token()
        q = "SELECT Id, Name, Account.Name FROM Opportunity WHERE IsWon = true"
        async with http.get(
            boxes.urls["salesforce"] + "/services/data/v59.0/query",
            params={"q": q},
            headers={"Authorization": f"Bearer {token}"},
        ) as resp:
            won = await resp.json()
    assert won["totalSize"] == len(firm.projects)
    assert len(states["salesforce"]["objects"]["Account"]) == 4
    onboarded = [p for p in firm.projects if p.onboarded]
    assert len(states["harvest"]["projects"]) == len(onboarded)
    entries = states["harvest"]["time_entries"]
    assert len(entries) == len(firm.time_entries)
    assert sum(e["is_locked"] for e in entries) == sum(
        e.approved_on is not None for e in firm.time_entries
    )
    assert len(states["stripe"]["customers"]) == len({p.client for p in onboarded})
    assert states["stripe"]["events"] == []  # pre-existing customers announce nothing
    parties = states["tryton"]["tables"]["party.party"]
    assert {p["code"] for p in parties} >= {p.client for p in onboarded}
    assert boxes.index.harvest[onboarded[0].key] in {p["id"] for p in states["harvest"]["projects"]}


async def test_approvals_play_out_day_by_day(clock: FakeClock) -> None:
    firm = generate_firm(seed=4, size=3)
    first = date(2026, 11, 1)
    async with open_sandboxes(clock=clock, firm=firm, products=["harvest"], as_of=first) as boxes:
        assert boxes.harvest is not None
        store = boxes.harvest.store
        # nothing is approved on the first day: the month plays out from there
        assert not any(e["is_locked"] for e in store.tables["time_entries"].values())
        early = approve_through(firm, boxes.harvest, boxes.index, date(2026, 11, 26))
        surge = approve_through(firm, boxes.harvest, boxes.index, date(2026, 11, 30))
        assert approve_through(firm, boxes.harvest, boxes.index, date(2026, 11, 30)) == 0
    assert 0 < early < surge  # the month-end surge is the larger wave
    credentials = boxes.credentials()
    assert credentials["harvest"]["token"] == "sandbox-token"


async def test_a_firm_not_yet_onboarded_has_its_deals_in_the_crm_and_only_people_elsewhere(
    clock: FakeClock,
) -> None:
    firm = generate_firm(seed=4, size=3)
    async with open_sandboxes(clock=clock, firm=firm, onboarded=False) as boxes:
        assert boxes.harvest is not None
        assert boxes.salesforce is not None
        store = boxes.harvest.store
        assert store.tables["projects"] == {}
        assert store.tables["time_entries"] == {}
        assert len(store.tables["users"]) == len(firm.consultants)
        states: dict[str, Any] = {name: box.state() for name, box in boxes.all().items()}
        assert states["stripe"]["customers"] == []
        parties = states["tryton"]["tables"]["party.party"]
        codes = {p["code"] for p in parties}
        assert codes >= {c.key for c in firm.consultants}
        assert not codes & {c.key for c in firm.clients}  # no client is a party yet
        won = boxes.salesforce.store.records("Opportunity")
        deals = [o for o in firm.opportunities if o.project is not None]
        assert sum(bool(o["IsWon"]) for o in won) == len(deals)
        # what the onboarding flow would make, then the month's activity on it
        client = store.create("clients", {"name": "Any", "currency": "USD"})
        for project in (p for p in firm.projects if p.onboarded):
            made = store.create(
                "projects",
                {"client_id": client["id"], "name": project.name, "code": project.key,
                 "is_billable": True, "bill_by": "People", "budget_by": "none"},
            )  # fmt: skip
            for task in ("task:Consulting", "task:Internal"):
                store.create(
                    "task_assignments",
                    {"project_id": made["id"], "task_id": boxes.index.harvest[task]},
                )
            for assignment in (a for a in firm.assignments if a.project == project.key):
                store.create(
                    "user_assignments",
                    {"project_id": made["id"],
                     "user_id": boxes.index.harvest[assignment.consultant]},
                )  # fmt: skip
        seed_activity(firm, boxes.harvest, boxes.index)
        assert len(store.tables["time_entries"]) == len(firm.time_entries)


async def test_serve_sandboxes_runs_until_cancelled(clock: FakeClock) -> None:
    ready: asyncio.Future[Sandboxes] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        serve_sandboxes(
            products=["stripe", "tryton"], size=None, clock=clock, ready=ready.set_result
        )
    )
    boxes = await ready
    assert set(boxes.urls) == {"stripe", "tryton"}
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


def test_main_rejects_unknown_products() -> None:
    assert main(["--products", "salesforce,sap"]) == 2


async def test_serve_sandboxes_refuses_to_serve_nothing(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="no products"):
        await serve_sandboxes(products=[], clock=clock)


async def test_a_fault_plan_for_a_product_not_started_is_an_error(clock: FakeClock) -> None:
    plan = FaultPlan(error_rate=0.5)
    with pytest.raises(ValueError, match="stripe"):
        async with open_sandboxes(products=["harvest"], clock=clock, faults={"stripe": plan}):
            pass
    prepared = Sandboxes(harvest=HarvestSandbox(clock=clock))
    with pytest.raises(ValueError, match="harvest"):
        async with open_sandboxes(
            products=["harvest"], clock=clock, faults={"harvest": plan}, prepared=prepared
        ):
            pass
