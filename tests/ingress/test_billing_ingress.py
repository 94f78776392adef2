"""What the Harvest pollers journal for billing: billable versions of time (beside the ERP's
copy, in one transaction) and approved expenses; never an entry that was never billable."""

from __future__ import annotations

import datetime
from pathlib import Path

import msgspec

from mediator.clock import SystemClock
from mediator.codecs.canonical.time_and_expenses import Expense, TimeEntry
from mediator.flows.approved_time import APPROVED_TIME
from mediator.flows.billing import APPROVED_EXPENSE, BILLABLE_TIME, PAYLOADS
from mediator.ingress.harvest_expenses import HarvestExpensesPoller
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.testing.sandbox_connectors import harvest_connector
from tests.ingress.test_harvest_poller import Poller, _stamp, harvest

__all__ = ["harvest"]  # the fixture, imported to be found

_LATER = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(days=3)


def billing_ids(harvest: Poller) -> list[str]:
    return [
        PAYLOADS.decode_as(e, TimeEntry).source_id
        for e in harvest.sink.delivered
        if e.kind == BILLABLE_TIME
    ]


async def test_billable_versions_go_to_billing_and_never_billable_ones_do_not(
    harvest: Poller,
) -> None:
    harvest.poller.billing = True
    report = await harvest.poll()
    erp = [e for e in harvest.sink.delivered if e.kind == APPROVED_TIME]
    assert report.journaled == len(erp) > 10  # the report counts entries, not copies
    entries = [msgspec.json.decode(e.payload, type=TimeEntry) for e in erp]
    billable = sorted(e.source_id for e in entries if e.billable)
    assert sorted(billing_ids(harvest)) == billable
    assert any(not e.billable for e in entries)  # those never reached billing
    copy = next(e for e in harvest.sink.delivered if e.kind == BILLABLE_TIME)
    twin = next(e for e in erp if e.idempotency_key + ":billing" == copy.idempotency_key)
    assert copy.key == f"billing:{twin.key}"
    # a billed entry made non-billable goes to billing again (to be taken back);
    # a never-billable one edited stays away
    assert harvest.boxes.harvest is not None
    records = sorted(
        (r for r in harvest.boxes.harvest.store.tables["time_entries"].values() if r["is_closed"]),
        key=lambda r: int(str(r["id"])),
    )
    billed = next(r for r in records if r["billable"])
    never = next(r for r in records if not r["billable"])
    billed.update(billable=False, updated_at=_stamp(_LATER))
    never.update(notes="edited", updated_at=_stamp(_LATER))
    await harvest.poll()
    assert billing_ids(harvest).count(str(billed["id"])) == 2
    assert str(never["id"]) not in billing_ids(harvest)


async def test_without_billing_nothing_goes_to_billing(harvest: Poller) -> None:
    await harvest.poll()
    assert billing_ids(harvest) == []


async def test_approved_expenses_go_to_billing_once_each(harvest: Poller, tmp_path: Path) -> None:
    clock = SystemClock()
    connector = harvest_connector(
        harvest.boxes, PolicyRegistry(default_policy_config(), clock=clock), clock
    )
    try:
        poller = HarvestExpensesPoller(connector, account_currency="USD")
        first = await poller.poll(harvest.journal, harvest.dispatcher)
        again = await poller.poll(harvest.journal, harvest.dispatcher)
        await harvest.dispatcher.wait_idle()
    finally:
        await connector.aclose()
    assert harvest.boxes.harvest is not None
    table = harvest.boxes.harvest.store.tables["expenses"]
    approved = [r for r in table.values() if r["is_closed"]]
    delivered = [
        PAYLOADS.decode_as(e, Expense) for e in harvest.sink.delivered if e.kind == APPROVED_EXPENSE
    ]
    assert sorted(e.source_id for e in delivered) == sorted(
        str(r["id"]) for r in approved if r["billable"]
    )
    assert first.read == len(approved)
    assert again.journaled == 0  # read again at the watermark: duplicates
    assert all(
        e.key.startswith("billing:project:")
        for e in harvest.sink.delivered
        if e.kind == APPROVED_EXPENSE
    )
