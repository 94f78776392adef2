"""Salesforce's watermark reads against the sandbox: one bad record is rejected, not the read.

`won_opportunities` and `milestones` are what a CRM poller reads; a record whose value does
not decode (``"Payment_Terms_Days__c": "NaN"``) comes back in `rejected` with its path and
identity, and the others and the watermark as if it were not there (issue #13).
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator

import pytest

from tests.systems.harness_salesforce import SalesforceHarness, open_harness


@pytest.fixture
async def harness() -> AsyncIterator[SalesforceHarness]:
    async with open_harness() as found:
        yield found


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Payment_Terms_Days__c", "NaN"),
        ("Payment_Terms_Days__c", "sNaN"),
        ("Amount", "Infinity"),
        ("Amount", "1e400"),
        ("CloseDate", "2026-13-45"),
    ],
)
async def test_a_won_opportunity_that_does_not_decode_is_rejected_alone(
    harness: SalesforceHarness, field: str, value: object
) -> None:
    store, clock = harness.sandbox.store, harness.clock
    account = store.create("Account", {"Name": "Acme"})
    ids = []
    for i in range(7):  # two pages of five
        values = {"Name": f"Deal {i}", "AccountId": account, "StageName": "Closed Won"}
        ids.append(store.create("Opportunity", {**values, "CloseDate": "2026-11-01"}))
        await clock.advance(1.0)
    poison = store.get("Opportunity", ids[-1])  # the newest: the watermark must pass it
    poison[field] = value
    read = await harness.connector.won_opportunities()
    assert [o.Id for o in read.records] == ids[:-1]
    [bad] = read.rejected
    assert bad.error.path == f"$.records[1].{field}"  # the second page's second record
    assert bad.source_id == ids[-1]
    assert bad.updated_at is not None
    assert read.watermark == bad.updated_at
    assert read.watermark == datetime.datetime.fromisoformat(
        str(poison["SystemModstamp"]).replace("+0000", "+00:00")
    )
