"""Harvest v2 ↔ canonical: pages as the API returns them, hostile pages, bodies it accepts."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediator.codecs import Assignment, Client, Money, Project, TimeEntry
from mediator.codecs.harvest.mapping import (
    assignment_from_harvest,
    client_from_harvest,
    consultant_from_harvest,
    decode_harvest,
    expenses_from_harvest,
    project_from_harvest,
    time_entries_from_harvest,
)
from mediator.codecs.harvest.wire import (
    HvClientPage,
    HvProjectPage,
    HvUserAssignmentPage,
    HvUserPage,
)
from mediator.codecs.harvest.write import (
    client_to_harvest,
    encode_harvest,
    project_to_harvest,
    task_assignment_to_harvest,
    user_assignment_to_harvest,
)
from mediator.errors import DecodeError
from mediator.sandbox.harvest.listing import list_page
from mediator.sandbox.harvest.store import HarvestStore
from mediator.testing import FakeClock

_FIXTURES = Path(__file__).parent / "fixtures"


def _page(*entries: dict[str, object]) -> bytes:
    return json.dumps({"time_entries": list(entries), "per_page": 2000, "links": {}}).encode()


def _entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": 1,
        "spent_date": "2026-10-30",
        "user": {"id": 7, "name": "Kim Allen"},
        "client": {"id": 5, "name": "ABC Corp", "currency": "EUR"},
        "project": {"id": 42, "name": "Data platform", "code": "DP"},
        "task": {"id": 3, "name": "Development"},
        "hours": 7.5,
        "billable": True,
        "billable_rate": 180.0,
        "cost_rate": 95.5,
    }
    entry.update(changes)
    return entry


def test_the_documented_page_maps_to_canonical_entries() -> None:
    body = (_FIXTURES / "harvest_time_entries.json").read_bytes()
    page = time_entries_from_harvest(body, account_currency="USD")
    assert page.total == 5
    assert page.next_url is not None
    assert "ref=next_cursor" in page.next_url
    first, invoiced, open_entry = page.items
    assert first.hours == Decimal("2.11")  # exact: never went through a float
    assert first.approved
    assert first.locked
    assert not first.billed
    assert first.billable_amount() == Money(amount=21_100, currency="USD")
    assert invoiced.bill_rate == Money(amount=10_000, currency="EUR")
    assert invoiced.cost_rate == Money(amount=5_000, currency="USD")  # the account's currency
    assert invoiced.external_reference == "1234"
    assert invoiced.billed
    assert not open_entry.approved
    assert open_entry.billable_amount() is None


_hours = st.decimals(min_value=0, max_value=24, places=2)
_rates = st.one_of(st.none(), st.decimals(min_value=0, max_value=5000, places=2))


@settings(max_examples=100, deadline=None)
@given(
    hours=_hours,
    rate=_rates,
    cost=_rates,
    approved=st.booleans(),
    notes=st.text(max_size=200),
    day=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1)),
    currency=st.sampled_from(["USD", "EUR", "JPY", "KWD", "GBP"]),
)
def test_any_entry_round_trips_through_harvest_json(
    hours: Decimal,
    rate: Decimal | None,
    cost: Decimal | None,
    approved: bool,
    notes: str,
    day: dt.date,
    currency: str,
) -> None:
    raw = _entry(
        hours=hours,
        billable_rate=rate,
        cost_rate=cost,
        is_closed=approved,
        is_locked=approved,
        notes=notes,
        spent_date=day.isoformat(),
        client={"id": 5, "name": "X", "currency": currency},
    )
    body = msgspec.json.Encoder(decimal_format="number").encode(
        {"time_entries": [raw], "links": {}}
    )
    (entry,) = time_entries_from_harvest(body, account_currency="USD").items
    assert entry.hours == hours
    assert entry.spent_on == day
    assert entry.notes == notes
    assert entry.approved is approved
    expected = None if rate is None else Money.from_decimal(rate, currency)
    assert entry.bill_rate == expected
    if expected is not None:
        assert entry.bill_rate is not None
        assert rate is not None
        assert entry.bill_rate.to_decimal() == rate.quantize(
            Decimal(1).scaleb(-{"JPY": 0, "KWD": 3}.get(currency, 2))
        )


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (_page(_entry(), _entry(), _entry(), _entry(hours="many")), "$.time_entries[3].hours"),
        (_page(_entry(hours=1e9)), "$.time_entries[0].hours"),
        (_page(_entry(id=2**70)), "$.time_entries[0].id"),
        (_page(_entry(id=-1)), "$.time_entries[0].id"),
        (_page(_entry(spent_date="2026-02-30")), "$.time_entries[0].spent_date"),
        (_page(_entry(client={"id": 5, "currency": "ZZZ"})), "$.time_entries[0].client.currency"),
        (_page(_entry(billable_rate=1e300)), "$.time_entries[0].billable_rate"),
        (_page(_entry(notes="x" * 10_000_000)), "$.time_entries[0].notes"),
        (_page(_entry(user=None)), "$.time_entries[0].user"),
        (_page({"id": 1}), "$.time_entries[0]"),
        (b'{"time_entries": [{"hours": NaN}]}', "$"),
        (_page(_entry(notes="NOTES")).replace(b"NOTES", b"\xff\xfe"), "$"),
        (b'{"time_entries": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "$.time_entries[0]"),
        (b'{"time_entries": [], "junk": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "$"),
        (b"", "$"),
        (b'{"per_page": 2000}', "$"),
    ],
)
def test_hostile_pages_are_decode_errors_with_the_field_path(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        time_entries_from_harvest(body, account_currency="USD")
    assert (info.value.system, info.value.path) == ("harvest", path)


def test_expenses_map_in_the_client_currency() -> None:
    body = json.dumps(
        {
            "expenses": [
                {
                    "id": 15296442,
                    "spent_date": "2017-03-03",
                    "total_cost": 13.59,
                    "units": 1.0,
                    "notes": "Office Supplies",
                    "billable": True,
                    "is_closed": True,
                    "is_locked": True,
                    "is_billed": False,
                    "user": {"id": 1782959, "name": "Kim Allen"},
                    "client": {"id": 5735776, "name": "123 Industries", "currency": "EUR"},
                    "project": {"id": 14308069, "name": "Online Store - Phase 1", "code": "OS1"},
                    "expense_category": {"id": 4195926, "name": "Meals", "unit_price": None},
                }
            ],
            "links": {"next": None},
        }
    )
    (expense,) = expenses_from_harvest(body, account_currency="USD").items
    assert expense.amount == Money(amount=1359, currency="EUR")
    assert expense.category == "Meals"
    assert expense.approved


def _setup_account() -> tuple[HarvestStore, dict[str, dict[str, object]]]:
    """Create client, project, people and rates in the sandbox from our own request bodies."""
    store = HarvestStore(FakeClock())
    client = Client(source_system="salesforce", source_id="001A", name="Acme", currency="EUR")
    hv_client = store.create("clients", json.loads(encode_harvest(client_to_harvest(client))))
    project = Project(
        source_system="salesforce",
        source_id="006B",
        name="Data platform",
        client_id="001A",
        code="DP-1",
        currency="EUR",
        budget=Money(amount=5_000_000, currency="EUR"),
        starts_on=dt.date(2026, 10, 1),
    )
    body = project_to_harvest(project, harvest_client_id=int(str(hv_client["id"])))
    hv_project = store.create("projects", json.loads(encode_harvest(body)))
    task = store.create("tasks", {"name": "Development"})
    user = store.create(
        "users",
        {"first_name": "Kim", "last_name": "Allen", "email": "kim@firm.example", "cost_rate": 95},
    )
    rate = Money(amount=18_050, currency="EUR")
    assignment = Assignment(
        source_system="mediator",
        source_id="a1",
        project_id="006B",
        consultant_id="c1",
        role="Senior Engineer",
        bill_rate=rate,
        effective_from=dt.date(2026, 10, 1),
    )
    ua = user_assignment_to_harvest(assignment, harvest_user_id=int(str(user["id"])))
    store.create(
        "user_assignments", {"project_id": hv_project["id"], **json.loads(encode_harvest(ua))}
    )
    ta = task_assignment_to_harvest(harvest_task_id=int(str(task["id"])), billable=True)
    store.create(
        "task_assignments", {"project_id": hv_project["id"], **json.loads(encode_harvest(ta))}
    )
    return store, {"client": hv_client, "project": hv_project, "task": task, "user": user}


def _list(store: HarvestStore, resource: str) -> bytes:
    page = list_page(store, resource, {}, "https://api.harvestapp.com/v2/" + resource)
    return json.dumps(page).encode()


def test_our_setup_bodies_are_accepted_and_read_back_from_the_sandbox() -> None:
    store, made = _setup_account()
    (client,) = decode_harvest(_list(store, "clients"), HvClientPage).clients
    assert client_from_harvest(client).currency == "EUR"
    (project,) = decode_harvest(_list(store, "projects"), HvProjectPage).projects
    canonical = project_from_harvest(project)
    assert canonical.billing_model == "time_and_materials"
    assert canonical.budget == Money(amount=5_000_000, currency="EUR")
    (user,) = decode_harvest(_list(store, "users"), HvUserPage).users
    assert consultant_from_harvest(user).name == "Kim Allen"
    (ua,) = decode_harvest(_list(store, "user_assignments"), HvUserAssignmentPage).user_assignments
    assignment = assignment_from_harvest(ua, currency="EUR", role="Senior Engineer")
    assert assignment.bill_rate == Money(amount=18_050, currency="EUR")
    entry = store.create(
        "time_entries",
        {
            "project_id": made["project"]["id"],
            "task_id": made["task"]["id"],
            "user_id": made["user"]["id"],
            "spent_date": "2026-10-30",
            "hours": 7.25,
        },
    )
    store.approve("time_entries", int(str(entry["id"])))
    (mapped,) = time_entries_from_harvest(
        _list(store, "time_entries"), account_currency="USD"
    ).items
    assert isinstance(mapped, TimeEntry)
    assert mapped.approved
    assert mapped.locked
    assert mapped.billable_amount() == Money(
        amount=130_862, currency="EUR"
    )  # 7.25 × 180.50, half even
    assert mapped.cost_rate == Money(amount=9_500, currency="USD")
