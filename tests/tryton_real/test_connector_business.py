"""The business round trip through the Tryton connector against a real trytond 8.2.

A client becomes a party with an address and an e-mail, its engagement a project invoiced on
timesheets, consultants' time entries timesheet lines (one list create), and the month's
billing a posted customer invoice; everything is read back from the server and checked, and
every write repeated leaves the server as it was (found by reference, nothing created).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

import msgspec
import pytest

from mediator.errors import BusinessRejected
from mediator.systems.tryton import (
    CreateRecord,
    PostedInvoice,
    PostInvoice,
    RecordRef,
    WriteRecord,
    Written,
)
from mediator.testing.tryton_server import TrytonServer, open_tryton_server
from tests.systems.harness_tryton import record_ids

from .conftest import INSTALL_TIMEOUT
from .connector_harness import RealTrytonHarness, open_real_harness

pytestmark = [pytest.mark.tryton, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.fixture
async def harness(tryton_server: TrytonServer, tag: str) -> AsyncIterator[RealTrytonHarness]:
    async with open_real_harness(tryton_server, tag) as found:
        yield found


def _client(harness: RealTrytonHarness) -> CreateRecord:
    tag = harness.tag
    return CreateRecord(
        idempotency_key=f"client:{tag}",
        model="party.party",
        values={
            "name": f"Initech {tag}",
            "addresses": [["create", [{"street": "4120 Freidrich Ln", "city": "Austin"}]]],
            "contact_mechanisms": [["create", [{"type": "email", "value": "ap@initech.test"}]]],
        },
        reference=f"C-{tag}",
    )


def _project(harness: RealTrytonHarness, party: int) -> CreateRecord:
    setup, tag = harness.server.setup, harness.tag
    return CreateRecord(
        idempotency_key=f"engagement:{tag}",
        model="project.work",
        values={
            "type": "project",
            "company": setup.company,
            "party": party,
            "timesheet_available": True,
            "project_invoice_method": "timesheet",
            "product": setup.product,
            "list_price": Decimal("120.00"),
        },
        reference=f"P-{tag} Website relaunch",
    )


async def test_party_project_timesheets_and_posted_invoice_read_back(
    harness: RealTrytonHarness,
) -> None:
    connector, setup, tag = harness.connector, harness.server.setup, harness.tag
    (party,) = await connector.execute_batch([_client(harness)])
    assert isinstance(party, RecordRef)
    (project,) = await connector.execute_batch([_project(harness, party.id)])
    assert isinstance(project, RecordRef)
    (prow,) = await connector.read("project.work", [project.id], ["timesheet_works", "party"])
    (work,) = record_ids(prow["timesheet_works"])
    entries = [
        CreateRecord(
            idempotency_key=f"time_entry:{tag}:{i}",
            model="timesheet.line",
            values={
                "company": setup.company,
                "employee": setup.employee,
                "work": work,
                "date": dt.date.today(),
                "duration": dt.timedelta(hours=hours),
            },
            reference=f"Design review [time_entry:{tag}:{i}]",
        )
        for i, hours in enumerate((3.0, 2.5))
    ]
    lines = await connector.execute_batch(entries)
    assert all(isinstance(line, RecordRef) for line in lines)

    (party_row,) = await connector.read(
        "party.party", [party.id], ["name", "code", "email", "addresses"]
    )
    assert (party_row["name"], party_row["code"], party_row["email"]) == (
        f"Initech {tag}",
        f"C-{tag}",
        "ap@initech.test",
    )
    (address,) = record_ids(party_row["addresses"])
    assert prow["party"] == party.id
    booked = await connector.search_read(
        "timesheet.line", [["work", "=", work]], ["duration", "description", "employee"]
    )
    assert sorted(row["duration"] for row in booked) == [  # type: ignore[type-var]  # timedeltas
        dt.timedelta(hours=2.5),
        dt.timedelta(hours=3),
    ]
    assert {row["employee"] for row in booked} == {setup.employee}

    invoice = PostInvoice(
        idempotency_key=f"invoice:{tag}",
        reference=f"INV-{tag}",
        values={
            "company": setup.company,
            "party": party.id,
            "invoice_address": address,
            "currency": setup.currency,
            "journal": setup.revenue_journal,
            "account": setup.receivable_account,
            "payment_term": setup.payment_term,
            "invoice_date": dt.date.today(),
            "lines": [
                [
                    "create",
                    [
                        {
                            "product": setup.product,
                            "description": "Design review, 5.5 h",
                            "quantity": 5.5,
                            "unit": setup.uom_hour,
                            "unit_price": Decimal("120.00"),
                            "account": setup.revenue_account,
                        }
                    ],
                ]
            ],
        },
    )
    (posted,) = await connector.execute_batch([invoice])

    assert isinstance(posted, PostedInvoice), posted
    assert (posted.state, posted.total_amount, posted.existed) == (
        "posted",
        Decimal("660.00"),
        False,
    )
    assert posted.number
    assert posted.invoice_date == dt.date.today()
    (row,) = await connector.read(
        "account.invoice", [posted.id], ["state", "number", "party", "reference", "move"]
    )
    assert (row["state"], row["number"], row["party"], row["reference"]) == (
        "posted",
        posted.number,
        party.id,
        f"INV-{tag}",
    )
    assert isinstance(row["move"], int)  # posting made the accounting move

    # Every write again, as a journal replay would send it: all found, nothing new.
    again = await connector.execute_batch([_client(harness), *entries, invoice])
    assert [getattr(r, "existed", None) for r in again] == [True, True, True, True]
    assert again[-1] == msgspec.structs.replace(posted, existed=True)
    assert (
        await connector.call(
            "model.account.invoice.search_count", [["reference", "=", f"INV-{tag}"]]
        )
        == 1
    )


async def test_a_project_written_as_a_change_order_does_reads_back_and_a_bad_write_fails_alone(
    harness: RealTrytonHarness,
) -> None:
    connector = harness.connector
    (party,) = await connector.execute_batch([_client(harness)])
    assert isinstance(party, RecordRef)
    (project,) = await connector.execute_batch([_project(harness, party.id)])
    assert isinstance(project, RecordRef)
    note = "Change order CO-1 from 2026-03-16: Senior rate 150.00 USD"
    writes = [
        WriteRecord(
            idempotency_key=f"co:{harness.tag}:note",
            model="project.work",
            ids=(project.id,),
            values={"comment": note},
        ),
        WriteRecord(
            idempotency_key=f"co:{harness.tag}:price",
            model="project.work",
            ids=(project.id,),
            values={"list_price": Decimal("150.00")},
        ),
    ]
    for _ in range(2):  # the values are absolute: written again, the project is the same
        results = await connector.execute_batch(writes)
        assert results == [Written(model="project.work", ids=(project.id,))] * 2
        (row,) = await connector.read("project.work", [project.id], ["comment", "list_price"])
        assert (row["comment"], row["list_price"]) == (note, Decimal("150.00"))

    readonly = WriteRecord(
        idempotency_key=f"co:{harness.tag}:bad",
        model="project.work",
        ids=(project.id,),
        values={"number": "X-1"},  # sequence-drawn, read-only over RPC
    )
    results = await connector.execute_batch([readonly, writes[0]])
    assert not isinstance(results[0], Written)
    assert results[1] == Written(model="project.work", ids=(project.id,))


async def test_an_invalid_invoice_is_rejected_with_trytons_message(
    harness: RealTrytonHarness,
) -> None:
    setup = harness.server.setup
    refused = PostInvoice(
        idempotency_key=f"invoice:bad:{harness.tag}",
        reference=f"INV-BAD-{harness.tag}",
        values={"company": setup.company, "currency": setup.currency, "lines": []},
    )

    (result,) = await harness.connector.execute_batch([refused])

    assert not isinstance(result, PostedInvoice)
    assert "UserError" in repr(result) or "required" in str(result)
    assert (
        await harness.connector.call(
            "model.account.invoice.search_count", [["reference", "=", f"INV-BAD-{harness.tag}"]]
        )
        == 0
    )


WINDOW = 2.0  # the short server's [session] timeout: idle seconds before a session is stale


@pytest.fixture(scope="module")
def stale_sessions_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    """A server whose sessions stop being fresh after `WINDOW` idle seconds."""
    with open_tryton_server(
        work_dir=tmp_path_factory.mktemp("tryton-stale"), session_timeout=WINDOW
    ) as server:
        yield server


@pytest.mark.slow
async def test_a_post_from_an_idle_session_is_repeated_after_a_new_login(
    stale_sessions_server: TrytonServer, tag: str
) -> None:
    async with open_real_harness(stale_sessions_server, tag) as harness:
        (party,) = await harness.connector.execute_batch([_client(harness)])
        assert isinstance(party, RecordRef)
        setup = stale_sessions_server.setup
        (row,) = await harness.connector.read("party.party", [party.id], ["addresses"])
        (address,) = record_ids(row["addresses"])
        (draft,) = record_ids(
            await harness.connector.call(
                "model.account.invoice.create",
                [
                    {
                        "type": "out",
                        "company": setup.company,
                        "party": party.id,
                        "invoice_address": address,
                        "currency": setup.currency,
                        "journal": setup.revenue_journal,
                        "account": setup.receivable_account,
                        "payment_term": setup.payment_term,
                        "invoice_date": dt.date.today(),
                        "lines": [
                            [
                                "create",
                                [
                                    {
                                        "product": setup.product,
                                        "quantity": 1.0,
                                        "unit": setup.uom_hour,
                                        "unit_price": Decimal("120.00"),
                                        "account": setup.revenue_account,
                                    }
                                ],
                            ]
                        ],
                    }
                ],
            )
        )
        # trytond reads its own wall clock: real idle time it is
        await asyncio.sleep(WINDOW + 0.5)

        await harness.connector.call("model.account.invoice.post", [draft])

        (row,) = await harness.connector.read("account.invoice", [draft], ["state"])
        assert row["state"] == "posted"
        assert (
            harness.connector.credential_loads == 2
        )  # the stale session was deleted: one new login


async def test_changed_since_finds_what_was_just_written(harness: RealTrytonHarness) -> None:
    watermark = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    (party,) = await harness.connector.execute_batch([_client(harness)])
    assert isinstance(party, RecordRef)

    rows = await harness.connector.changed_since(
        "party.party",
        watermark,
        ["code", "create_date"],
        domain=[["code", "=", f"C-{harness.tag}"]],
    )

    assert [(row["id"], row["code"]) for row in rows] == [(party.id, f"C-{harness.tag}")]
    assert isinstance(rows[0]["create_date"], dt.datetime)
    later = await harness.connector.changed_since(
        "party.party", dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5), ["id"]
    )
    assert later == []


async def test_an_archived_party_is_refused_by_name_and_never_made_twice(
    harness: RealTrytonHarness,
) -> None:
    # trytond hides the archived party from a plain search: only the connector's
    # active_test-off lookup stops a second party with the same code.
    connector, tag = harness.connector, harness.tag
    (party,) = await connector.execute_batch([_client(harness)])
    assert isinstance(party, RecordRef)
    await connector.call("model.party.party.write", [party.id], {"active": False})
    other = CreateRecord(
        idempotency_key=f"other:{tag}",
        model="party.party",
        values={"name": f"Globex {tag}"},
        reference=f"G-{tag}",
    )

    refused, made = await connector.execute_batch([_client(harness), other])

    assert isinstance(refused, BusinessRejected)
    assert f"'C-{tag}'" in str(refused)
    assert f"record {party.id}" in str(refused)
    assert isinstance(made, RecordRef)
    assert not made.existed
    rows = await connector.call(
        "model.party.party.search_read",
        [["code", "=", f"C-{tag}"]],
        0,
        None,
        None,
        ["active"],
    )
    assert rows == []  # archived, still hidden from plain searches
    ids = await connector.call(
        "model.party.party.search", [["code", "=", f"C-{tag}"], ["active", "=", False]]
    )
    assert ids == [party.id]  # one party with the code, still archived
    await connector.call("model.party.party.write", [party.id], {"active": True})
    (found,) = await connector.execute_batch([_client(harness)])
    assert isinstance(found, RecordRef)
    assert (found.id, found.existed) == (party.id, True)


async def test_changed_since_sees_a_party_archived_after_the_watermark(
    harness: RealTrytonHarness,
) -> None:
    (party,) = await harness.connector.execute_batch([_client(harness)])
    assert isinstance(party, RecordRef)
    # trytond stamps whole seconds on SQLite: a watermark just before the write
    watermark = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await harness.connector.call("model.party.party.write", [party.id], {"active": False})

    rows = await harness.connector.changed_since(
        "party.party", watermark, ["active"], domain=[["code", "=", f"C-{harness.tag}"]]
    )

    assert [(row["id"], bool(row["active"])) for row in rows] == [(party.id, False)]
    plain = await harness.connector.search_read(
        "party.party", [["code", "=", f"C-{harness.tag}"]], ["id"]
    )
    assert plain == []
