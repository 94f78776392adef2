"""StripeConnector against the Stripe sandbox over loopback: keys, idempotency, lists, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import msgspec
import pytest

from mediator.codecs import Client
from mediator.codecs.stripe import decode_form
from mediator.codecs.stripe import wire as stripe_wire
from mediator.errors import AuthenticationFailed, RemoteRejected
from mediator.sandbox.faults import FaultPlan
from mediator.systems.stripe import (
    API_VERSION,
    CreateCustomer,
    CreateDraftInvoice,
    FinalizeInvoice,
    PayInvoice,
    StripeCommand,
    VoidInvoice,
    idempotency_header,
)
from mediator.testing import drive

from .harness_stripe import StripeHarness, item, open_harness


@pytest.fixture
async def harness() -> AsyncIterator[StripeHarness]:
    async with open_harness() as found:
        yield found


async def run(harness: StripeHarness, commands: Sequence[StripeCommand]) -> Sequence[object]:
    """Execute `commands` as one batch, on the clock (the 25/s limiter may make it wait)."""
    return await drive(harness.clock, harness.connector.execute_batch(commands))


def client(key: str) -> Client:
    return Client(
        source_system="salesforce", source_id=key, name=f"Client {key}", email=f"{key}@x.test"
    )


async def test_every_post_is_form_encoded_with_a_stable_idempotency_key(
    harness: StripeHarness,
) -> None:
    command = CreateCustomer(idempotency_key="journal-entry-1", client=client("C-1"))

    (customer,) = await run(harness, [command])

    assert isinstance(customer, stripe_wire.StCustomer)
    assert customer.metadata == {
        "mediator_client": "salesforce:C-1",
        "mediator_key": idempotency_header(command),  # what it is found by again
    }
    (request,) = harness.sandbox.requests.matching("POST", "/v1/customers")
    assert request.header("Idempotency-Key") == idempotency_header(command)
    assert request.header("Authorization") == "Bearer sk_test_harness"
    assert request.header("Stripe-Version") == API_VERSION
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert decode_form(request.body)["name"] == "Client C-1"
    again = CreateCustomer(idempotency_key="journal-entry-1", client=client("C-1"), attempt=2)
    assert idempotency_header(again) == idempotency_header(command)
    assert idempotency_header(FinalizeInvoice(idempotency_key="journal-entry-1", invoice="x")) != (
        idempotency_header(command)
    )


async def test_an_invoice_goes_draft_open_paid_and_reads_back(harness: StripeHarness) -> None:
    connector = harness.connector
    (draft,) = await run(
        harness,
        [CreateDraftInvoice(idempotency_key="inv-1", customer=harness.customer, currency="USD")],
    )
    assert isinstance(draft, stripe_wire.StInvoice)
    lines = [item(f"te-{i}", customer=harness.customer, cents=10_000 + i) for i in range(3)]
    lines = [msgspec.structs.replace(line, invoice=draft.id) for line in lines]
    added = await run(harness, lines)
    assert all(isinstance(a, stripe_wire.StInvoiceItem) for a in added)
    (opened,) = await run(harness, [FinalizeInvoice(idempotency_key="inv-1", invoice=draft.id)])
    (paid,) = await run(harness, [PayInvoice(idempotency_key="inv-1", invoice=draft.id)])

    assert isinstance(opened, stripe_wire.StInvoice)
    assert isinstance(paid, stripe_wire.StInvoice)
    assert (opened.status, paid.status, paid.amount_paid) == ("open", "paid", 30_003)
    read = await drive(harness.clock, connector.get_invoice(draft.id))
    assert read.status == "paid"
    assert read.lines is not None
    assert sorted(line.metadata["mediator_origin"] for line in read.lines.data) == [
        "te-0",
        "te-1",
        "te-2",
    ]
    listed = await drive(harness.clock, connector.list_events(event_type="invoice.*", page_size=2))
    events = listed.records
    assert [e.type for e in events][:3] == ["invoice.created", "invoice.finalized", "invoice.paid"]
    newer = await drive(harness.clock, connector.list_events(since=events[1].id, page_size=2))
    assert [e.id for e in newer.records] == [e.id for e in events[2:]]
    assert listed.rejected == newer.rejected == []


async def test_a_lost_answer_is_replayed_by_stripe_not_repeated(harness: StripeHarness) -> None:
    (draft,) = await run(
        harness,
        [CreateDraftInvoice(idempotency_key="inv-2", customer=harness.customer, currency="usd")],
    )
    assert isinstance(draft, stripe_wire.StInvoice)
    billed = item("te-9", customer=harness.customer)
    await run(harness, [msgspec.structs.replace(billed, invoice=draft.id)])
    harness.install_faults(FaultPlan(drop_next=1))

    (opened,) = await drive(
        harness.clock,
        harness.connector.execute_batch(
            [FinalizeInvoice(idempotency_key="inv-2", invoice=draft.id)]
        ),
    )

    assert isinstance(opened, stripe_wire.StInvoice)
    assert opened.status == "open"
    finalizes = harness.sandbox.requests.matching("POST", f"/v1/invoices/{draft.id}/finalize")
    assert [r.dropped for r in finalizes] == [True, False]
    assert len({r.header("Idempotency-Key") for r in finalizes}) == 1
    kinds = [e["type"] for e in harness.sandbox.store.events.values()]
    assert kinds.count("invoice.finalized") == 1


async def test_lists_follow_starting_after_to_the_last_page(harness: StripeHarness) -> None:
    seeded = await harness.seed_readable(11)

    customers = await drive(
        harness.clock,
        harness.connector.list_customers(email="seed@harness.test", page_size=4),
    )

    assert [c.id for c in customers] == list(reversed(seeded))  # Stripe lists newest first
    pages = harness.sandbox.requests.matching("GET", "/v1/customers")
    assert len(pages) == 3
    assert "starting_after" not in pages[0].query
    assert f"starting_after={customers[3].id}" in pages[1].query


async def test_a_decline_is_dead_with_its_code_and_not_retried(harness: StripeHarness) -> None:
    store = harness.sandbox.store
    declining = store.create_customer(
        {"name": "Declines", "currency": "usd", "metadata": {"sandbox_payment": "decline"}}
    )
    invoice = store.create_invoice({"customer": declining["id"]}, include_pending=False)
    store.create_invoiceitem(
        {"customer": declining["id"], "amount": 500, "currency": "usd", "quantity": 1},
        str(invoice["id"]),
    )
    store.finalize(str(invoice["id"]))

    (result,) = await run(
        harness, [PayInvoice(idempotency_key="pay-1", invoice=str(invoice["id"]))]
    )

    assert isinstance(result, RemoteRejected)
    assert (result.status, result.code) == (402, "card_error")
    assert len(harness.sandbox.requests.matching("POST")) == 1


async def test_void_of_a_draft_is_refused_as_invalid(harness: StripeHarness) -> None:
    (draft,) = await run(
        harness,
        [CreateDraftInvoice(idempotency_key="inv-3", customer=harness.customer, currency="usd")],
    )
    assert isinstance(draft, stripe_wire.StInvoice)

    (result,) = await run(harness, [VoidInvoice(idempotency_key="inv-3", invoice=draft.id)])

    assert isinstance(result, RemoteRejected)
    assert (result.status, result.code) == (400, "invalid_request_error")


async def test_a_rolled_key_is_reloaded_once_and_a_revoked_one_fails(
    harness: StripeHarness,
) -> None:
    await run(harness, [item("k-1", customer=harness.customer)])
    harness.keys.roll()
    (second,) = await run(harness, [item("k-2", customer=harness.customer)])
    assert isinstance(second, stripe_wire.StInvoiceItem)
    assert harness.connector.credential_loads == 2

    harness.sandbox.api_keys = {"sk_test_someone_else"}  # revoked: no key we can load works
    (third,) = await run(harness, [item("k-3", customer=harness.customer)])

    assert isinstance(third, AuthenticationFailed)
    assert harness.keys.key not in str(third)
    assert harness.connector.credential_loads == 3


async def test_a_key_still_in_flight_is_retried_until_stripe_replays_it(
    harness: StripeHarness,
) -> None:
    harness.sandbox.processing_time = 2.0  # each POST holds its key for 2 s on the clock
    command = item("racing", customer=harness.customer)

    first, second = await drive(harness.clock, harness.connector.execute_batch([command, command]))

    assert isinstance(first, stripe_wire.StInvoiceItem)
    assert first == second
    assert await harness.count_written("racing") == 1
    statuses = [r.status for r in harness.sandbox.requests.matching("POST", "/v1/invoiceitems")]
    assert 409 in statuses


async def test_a_create_replayed_after_stripe_forgot_its_key_finds_the_first_object(
    harness: StripeHarness,
) -> None:
    # Stripe keeps an Idempotency-Key 24 hours: a replay days after a lost answer must find
    # what the first attempt made (its key in metadata), never make a second one.
    customer = CreateCustomer(idempotency_key="onboarding:account:1:stripe", client=client("C-9"))
    (first,) = await run(harness, [customer])
    draft = CreateDraftInvoice(idempotency_key="milestone:a0B1:draft", customer=harness.customer,
                               currency="USD")  # fmt: skip
    (invoice,) = await run(harness, [draft])
    assert isinstance(first, stripe_wire.StCustomer)
    assert isinstance(invoice, stripe_wire.StInvoice)
    fee = msgspec.structs.replace(item("m-1", customer=harness.customer, cents=500_000),
                                  invoice=invoice.id)  # fmt: skip
    (line,) = await run(harness, [fee])
    assert isinstance(line, stripe_wire.StInvoiceItem)
    await harness.clock.advance(3 * 86_400.0)  # Stripe has forgotten the keys
    posts = len(harness.sandbox.requests.matching("POST", "/v1/"))

    again = await run(harness, [customer, draft, fee])

    assert [getattr(made, "id", None) for made in again] == [first.id, invoice.id, line.id]
    assert len(harness.sandbox.requests.matching("POST", "/v1/")) == posts  # nothing sent
    assert len(harness.sandbox.store.customers) == 2  # the harness's and C-9's
