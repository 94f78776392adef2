"""The Tryton create values and record reads, against a real trytond 8.2 over JSON-RPC.

Tryton runs no on_change over RPC, so a create that lacks a value the desktop client would
fill in fails only against the real server: this is where `tryton_erp` proves its values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from mediator.codecs import (
    Address,
    Client,
    Invoice,
    InvoiceLine,
    Money,
    Project,
    TaxProfile,
    TimeEntry,
)
from mediator.codecs.tryton.mapping import (
    ErpSetup,
    invoice_to_tryton,
    party_to_tryton,
    project_to_tryton,
    read_invoices,
    read_parties,
    read_timesheet_lines,
    timesheet_key,
    timesheet_line_to_tryton,
)
from mediator.testing.tryton_server import TrytonServer, open_tryton_server
from tests.tryton_real.client import TrytonClient
from tests.tryton_real.conftest import INSTALL_TIMEOUT

pytestmark = [pytest.mark.tryton, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrytonServer]:
    with open_tryton_server(work_dir=Path(tmp_path_factory.mktemp("tryton-codecs"))) as running:
        yield running


@pytest.fixture
async def erp(server: TrytonServer) -> AsyncIterator[TrytonClient]:
    async with aiohttp.ClientSession() as http:
        client = TrytonClient(http, server.rpc_url)
        await client.login(server.login, server.password)
        yield client


def _setup(server: TrytonServer, consultant: str) -> ErpSetup:
    ids = server.setup
    return ErpSetup(
        company=ids.company,
        currency=ids.currency,
        journal=ids.revenue_journal,
        receivable_account=ids.receivable_account,
        revenue_account=ids.revenue_account,
        payment_term=ids.payment_term,
        product=ids.product,
        unit=ids.uom_hour,
        employee_by_consultant={consultant: ids.employee},
    )


async def test_party_project_time_and_invoice_are_accepted_and_read_back(
    erp: TrytonClient, server: TrytonServer
) -> None:
    setup = _setup(server, "7")
    client = Client(
        source_system="salesforce",
        source_id="001A",
        name="Initech Codecs GmbH",
        email="ap@initech.example",
        tax=TaxProfile(tax_id="X-123", scheme="eu_vat"),
        billing_address=Address(street="Hauptstr. 1", city="Berlin", postal_code="10115"),
    )
    values = party_to_tryton(client)
    values["identifiers"] = [["create", [{"type": None, "code": "X-123"}]]]  # no stdnum check
    (party,) = await erp.model("party.party", "create", [values])
    (read,) = await erp.model("party.party", "read", [party], ["name", "addresses"])
    (mapped,) = read_parties(
        await erp.model("party.party", "read", [party], ["name", "code", "active"])
    )
    assert mapped.name == "Initech Codecs GmbH"

    currency = (await erp.model("currency.currency", "read", [setup.currency], ["code"]))[0]["code"]
    project = Project(
        source_system="harvest",
        source_id="42",
        name="Initech data platform",
        client_id="5",
        currency=currency,
        hourly_rate=Money(amount=18_050, currency=currency),
    )
    (work,) = await erp.model(
        "project.work", "create", [project_to_tryton(project, party=party, setup=setup)]
    )
    (timesheet_work,) = (await erp.model("project.work", "read", [work], ["timesheet_works"]))[0][
        "timesheet_works"
    ]

    entry = TimeEntry(
        source_system="harvest",
        source_id="636708723",
        project_id="42",
        consultant_id="7",
        spent_on=dt.date.today(),
        hours=Decimal("2.11"),
        notes="Ingestion pipeline",
        billable=True,
    )
    line = timesheet_line_to_tryton(entry, work=timesheet_work, setup=setup)
    (line_id,) = await erp.model("timesheet.line", "create", [line])
    key = timesheet_key(entry)
    found = await erp.model(
        "timesheet.line", "search", [["description", "like", f"%[mediator {key}]"]], 0, None, None
    )
    assert found == [line_id]  # what a connector checks before it creates again
    fields = ["date", "duration", "employee", "work", "description", "uuid"]
    (back,) = read_timesheet_lines(await erp.model("timesheet.line", "read", [line_id], fields))
    assert back.hours == Decimal("2.11")
    assert back.notes == "Ingestion pipeline"
    assert back.external_reference == key

    rate = Money(amount=18_050, currency=currency)
    invoice_line = InvoiceLine(
        description="7.25 h consulting",
        quantity=Decimal("7.25"),
        unit_amount=rate,
        amount=rate.scale(Decimal("7.25")),
        origin_id="time_entry:636708723",
    )
    invoice = Invoice(
        source_system="stripe",
        source_id="in_codecs",
        client_id="cus_1",
        number="INITECH-0001",
        status="open",
        currency=currency,
        lines=(invoice_line,),
        subtotal=invoice_line.amount,
        total=invoice_line.amount,
        amount_due=invoice_line.amount,
        issued_on=dt.date.today(),
    )
    values = invoice_to_tryton(
        invoice, party=party, invoice_address=read["addresses"][0], setup=setup
    )
    (invoice_id,) = await erp.model("account.invoice", "create", [values])
    await erp.model("account.invoice", "post", [invoice_id])
    fields = [
        "type", "number", "reference", "state", "party", "currency.code", "invoice_date",
        "untaxed_amount", "tax_amount", "total_amount", "amount_to_pay",
        "lines.description", "lines.quantity", "lines.unit_price", "lines.amount", "lines.note",
    ]  # fmt: skip
    (posted,) = read_invoices(await erp.model("account.invoice", "read", [invoice_id], fields))
    assert posted.status == "open"
    assert posted.total == invoice.total
    assert posted.lines[0].amount == invoice_line.amount
    assert posted.lines[0].origin_id == "time_entry:636708723"
    assert posted.number is not None
