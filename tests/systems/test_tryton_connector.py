"""TrytonConnector against the Tryton sandbox over loopback: batching, references, sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal

import msgspec
import pytest

from mediator.actors import open_supervisor
from mediator.codecs.tryton.rpc import loads as tryton_loads
from mediator.errors import AuthenticationFailed, BusinessRejected, DecodeError, RemoteRejected
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.sandbox.faults import FaultPlan
from mediator.sandbox.tryton.sessions import Session
from mediator.systems import Secret, SystemActor
from mediator.systems.tryton import (
    CreateRecord,
    PostedInvoice,
    PostInvoice,
    RecordRef,
    TrytonConnector,
    WriteRecord,
    Written,
)
from mediator.testing import drive

from .harness_tryton import DATABASE, TrytonHarness, open_harness, record_ids, timesheet_line


@pytest.fixture
async def harness() -> AsyncIterator[TrytonHarness]:
    async with open_harness() as found:
        yield found


def methods(harness: TrytonHarness) -> list[str]:
    """The JSON-RPC methods the sandbox received, in order."""
    found = []
    for request in harness.sandbox.requests:
        body = tryton_loads(request.body)
        assert isinstance(body, dict)
        found.append(str(body["method"]))
    return found


def line(harness: TrytonHarness, key: str, *, valid: bool = True) -> CreateRecord:
    company = harness.sandbox.setup.company
    return timesheet_line(
        key, work=harness.work, employee=harness.employee, company=company, valid=valid
    )


async def test_creates_of_one_model_are_one_lookup_and_one_list_create(
    harness: TrytonHarness,
) -> None:
    results = await harness.connector.execute_batch([line(harness, f"k{i}") for i in range(5)])

    assert all(isinstance(r, RecordRef) and not r.existed for r in results)
    assert len({r.id for r in results if isinstance(r, RecordRef)}) == 5
    assert methods(harness) == [
        "common.db.login",
        "model.res.user.get_preferences",
        "model.timesheet.line.search_read",
        "model.timesheet.line.create",
    ]
    stats = harness.connector.statistics()
    assert (stats.batches, stats.batched_commands, stats.average_batch) == (1, 5, 5.0)


async def test_a_repeated_batch_finds_its_records_and_creates_nothing(
    harness: TrytonHarness,
) -> None:
    batch = [line(harness, f"again-{i}") for i in range(3)]
    first = await harness.connector.execute_batch(batch)
    harness.sandbox.requests.clear()

    second = await harness.connector.execute_batch(batch)

    assert [r.id for r in second] == [r.id for r in first]  # type: ignore[attr-defined]  # RecordRefs, asserted next
    assert all(isinstance(r, RecordRef) and r.existed for r in second)
    assert methods(harness) == ["model.timesheet.line.search_read"]


async def test_one_reference_twice_in_a_batch_makes_one_record(harness: TrytonHarness) -> None:
    results = await harness.connector.execute_batch([line(harness, "twin"), line(harness, "twin")])

    assert results[0] == results[1]
    assert await harness.count_written("twin") == 1


async def test_a_refused_record_is_found_item_by_item_and_the_rest_commit(
    harness: TrytonHarness,
) -> None:
    commands = [line(harness, f"mix-{i}", valid=i != 2) for i in range(4)]

    results = await harness.connector.execute_batch(commands)

    bad = results[2]
    assert isinstance(bad, RemoteRejected)
    assert (bad.status, bad.code) == (200, "UserError")
    assert "is not valid according to its domain" in bad.detail  # trytond 8.2 words it so
    assert [isinstance(r, RecordRef) for r in results] == [True, True, False, True]
    for i in (0, 1, 3):
        assert await harness.count_written(f"mix-{i}") == 1
    # one list create refused as a whole, then each item alone: its own lookup and create
    sent = methods(harness)[2:]
    assert sent[:2] == ["model.timesheet.line.search_read", "model.timesheet.line.create"]
    assert sent[2:].count("model.timesheet.line.create") == 4


async def test_a_malformed_command_is_refused_without_costing_the_others(
    harness: TrytonHarness,
) -> None:
    good = line(harness, "fine")
    unencodable = msgspec.structs.replace(
        line(harness, "odd"),
        values={**line(harness, "odd").values, "duration": object()},
    )
    unknown = CreateRecord(idempotency_key="u", model="sale.sale", values={}, reference="S-1")
    clash = msgspec.structs.replace(
        line(harness, "clash"), values={**line(harness, "clash").values, "description": "other"}
    )

    results = await harness.connector.execute_batch([unencodable, good, unknown, clash])

    assert isinstance(results[1], RecordRef)
    assert [type(r) for r in (results[0], results[2], results[3])] == [DecodeError] * 3
    assert methods(harness).count("model.timesheet.line.create") == 1


async def test_writes_of_one_model_are_one_write_and_a_refused_one_fails_alone(
    harness: TrytonHarness,
) -> None:
    work = harness.work
    note = WriteRecord(
        idempotency_key="w1", model="project.work", ids=(work,), values={"comment": "CO-1"}
    )
    price = WriteRecord(
        idempotency_key="w2",
        model="project.work",
        ids=(work,),
        values={"list_price": Decimal("120")},
    )
    results = await harness.connector.execute_batch([note, price])
    assert results == [Written(model="project.work", ids=(work,))] * 2
    assert methods(harness)[-1:] == ["model.project.work.write"]
    (row,) = await harness.connector.read("project.work", [work], ["comment", "list_price"])
    assert (row["comment"], row["list_price"]) == ("CO-1", Decimal("120"))

    gone = WriteRecord(
        idempotency_key="w3", model="project.work", ids=(999_999,), values={"comment": "x"}
    )
    reference = WriteRecord(
        idempotency_key="w4", model="project.work", ids=(work,), values={"name": "x"}
    )
    again = msgspec.structs.replace(note, values={"comment": "CO-2"})
    results = await harness.connector.execute_batch([gone, reference, again])
    assert isinstance(results[0], RemoteRejected)
    assert isinstance(results[1], DecodeError)  # the reference field is never written
    assert results[2] == Written(model="project.work", ids=(work,))
    (row,) = await harness.connector.read("project.work", [work], ["comment"])
    assert row["comment"] == "CO-2"


async def test_reads_page_through_search_read_to_the_last_page(harness: TrytonHarness) -> None:
    seeded = await harness.seed_readable(12)

    rows = await harness.connector.search_read(
        "party.party", [["code", "like", "SEED-%"]], ["id", "name"], page_size=5
    )

    assert [str(r["id"]) for r in rows] == list(seeded)
    offsets = [
        tryton_loads(r.body)["params"][1]  # type: ignore[index, call-overload]  # a request we sent
        for r in harness.sandbox.requests
        if b"search_read" in r.body
    ]
    assert offsets == [0, 5, 10]


async def test_an_error_envelope_is_rejected_with_the_exception_name_once(
    harness: TrytonHarness,
) -> None:
    with pytest.raises(RemoteRejected) as refused:
        await harness.connector.call("model.party.party.read", [424242], ["name"])

    assert (refused.value.status, refused.value.code) == (200, "UserError")
    assert "don't exist" in refused.value.detail
    assert methods(harness).count("model.party.party.read") == 1  # dead: not retried


async def test_a_session_ended_at_the_server_is_replaced_once(harness: TrytonHarness) -> None:
    await harness.connector.execute_batch([line(harness, "before")])
    await harness.expire_credentials()

    (result,) = await harness.connector.execute_batch([line(harness, "after")])

    assert isinstance(result, RecordRef)
    assert harness.connector.credential_loads == 2
    statuses = [r.status for r in harness.sandbox.requests]
    assert statuses.count(401) == 1


async def test_a_refused_password_is_authentication_failed_without_the_password(
    harness: TrytonHarness,
) -> None:
    connector = TrytonConnector(
        base_url=harness.url,
        database=DATABASE,
        login="admin",
        secret=lambda: Secret("not-the-password"),
        policies=PolicyRegistry(default_policy_config(), clock=harness.clock),
        clock=harness.clock,
    )
    try:
        with pytest.raises(AuthenticationFailed) as refused:
            await connector.call("model.party.party.search_count", [])
    finally:
        await connector.aclose()
    assert "not-the-password" not in str(refused.value)
    assert "not-the-password" not in repr(refused.value.__cause__)


def invoice(harness: TrytonHarness, reference: str, party: int, address: int) -> PostInvoice:
    setup = harness.sandbox.setup
    return PostInvoice(
        idempotency_key=f"invoice:{reference}",
        reference=reference,
        values={
            "company": setup.company,
            "party": party,
            "invoice_address": address,
            "currency": setup.currency,
            "journal": setup.journal,
            "account": setup.receivable,
            "payment_term": setup.payment_term,
            "invoice_date": dt.date(2026, 11, 30),
            "lines": [
                [
                    "create",
                    [
                        {
                            "product": setup.product,
                            "description": "Consulting, November",
                            "quantity": 10.5,
                            "unit": setup.unit,
                            "unit_price": Decimal("120.00"),
                            "account": setup.revenue,
                        }
                    ],
                ]
            ],
        },
    )


async def _customer(harness: TrytonHarness) -> tuple[int, int]:
    (party,) = await harness.connector.execute_batch(
        [
            CreateRecord(
                idempotency_key="client:C-7",
                model="party.party",
                values={"name": "Initech", "addresses": [["create", [{"city": "Austin"}]]]},
                reference="C-7",
            )
        ]
    )
    assert isinstance(party, RecordRef)
    (row,) = await harness.connector.read("party.party", [party.id], ["addresses"])
    (address,) = record_ids(row["addresses"])
    return party.id, address


async def test_an_invoice_is_created_validated_posted_and_found_on_retry(
    harness: TrytonHarness,
) -> None:
    party, address = await _customer(harness)

    (posted,) = await harness.connector.execute_batch(
        [invoice(harness, "INV-EXT-1", party, address)]
    )
    (again,) = await harness.connector.execute_batch(
        [invoice(harness, "INV-EXT-1", party, address)]
    )

    assert isinstance(posted, PostedInvoice)
    assert (posted.state, posted.total_amount, posted.existed) == (
        "posted",
        Decimal("1260.00"),
        False,
    )
    assert posted.number.startswith("INV2026-")
    assert again == msgspec.structs.replace(posted, existed=True)
    sent = methods(harness)
    assert sent.count("model.account.invoice.create") == 1
    assert sent.count("model.account.invoice.post") == 1
    assert sent.index("model.account.invoice.validate_invoice") < sent.index(
        "model.account.invoice.post"
    )


async def test_a_post_refused_as_stale_is_repeated_in_a_new_session(
    harness: TrytonHarness,
) -> None:
    party, address = await _customer(harness)
    sessions = harness.sandbox.sessions
    fresh = sessions.require_fresh
    refused: list[str] = []

    def stale_once(session: Session, headers: Mapping[str, str]) -> None:
        if not refused:  # as trytond answers past [session] timeout: deleted, then 401
            refused.append(session.key)
            session.fresh = False
        fresh(session, headers)

    sessions.require_fresh = stale_once  # type: ignore[method-assign]  # one refusal, then trytond's rule again
    (posted,) = await drive(
        harness.clock,
        harness.connector.execute_batch([invoice(harness, "INV-STALE", party, address)]),
    )

    assert isinstance(posted, PostedInvoice)
    assert posted.state == "posted"
    assert harness.connector.credential_loads == 2
    assert [r.status for r in harness.sandbox.requests].count(401) == 1


async def test_lost_answers_never_make_a_second_record(harness: TrytonHarness) -> None:
    await harness.connector.execute_batch([line(harness, "warm-up")])
    harness.install_faults(FaultPlan(seed=3, drop_rate=0.4))
    keys = [f"lossy-{i}" for i in range(8)]

    for key in keys:  # the journal's retry: the same command again until it lands
        for _ in range(20):
            (result,) = await drive(
                harness.clock, harness.connector.execute_batch([line(harness, key)])
            )
            if isinstance(result, RecordRef):
                break

    assert harness.sandbox.faults.statistics().drops > 3
    assert [await harness.count_written(key) for key in keys] == [1] * len(keys)


async def test_a_system_actor_coalesces_queued_creates_into_list_creates(
    harness: TrytonHarness,
) -> None:
    async with open_supervisor() as supervisor:
        ref = supervisor.spawn(lambda: SystemActor(harness.connector), name="tryton")
        asks = [
            asyncio.create_task(ref.ask(line(harness, f"actor-{i}", valid=i != 7)))
            for i in range(30)
        ]
        done = await asyncio.gather(*asks, return_exceptions=True)

    assert isinstance(done[7], RemoteRejected)
    assert all(isinstance(r, RecordRef) for i, r in enumerate(done) if i != 7)
    # the first ask may go alone; the rest queue into one list create, which the bad record
    # sinks, so its batch is retried item by item
    lists = [
        r
        for r in harness.sandbox.requests
        if b"timesheet.line.create" in r.body and r.body.count(b'"duration"') > 1
    ]
    assert 1 <= len(lists) <= 2
    assert [await harness.count_written(f"actor-{i}") for i in range(30)] == [
        0 if i == 7 else 1 for i in range(30)
    ]


async def test_changed_since_reads_what_was_created_or_written_after_the_watermark(
    harness: TrytonHarness,
) -> None:
    db = harness.sandbox.db
    old, touched = db.create("party.party", [{"name": "Old"}, {"name": "Touched"}])
    await harness.clock.advance(60.0)
    watermark = dt.datetime.fromtimestamp(harness.clock.time(), dt.UTC)
    await harness.clock.advance(1.0)
    [new] = db.create("party.party", [{"name": "New"}])
    db.write("party.party", [[touched], {"name": "Touched again"}], {})

    rows = await harness.connector.changed_since(
        "party.party", watermark, ["name", "write_date"], page_size=1
    )

    assert [row["id"] for row in rows] == [touched, new]
    assert old not in [row["id"] for row in rows]


async def test_an_archived_party_is_refused_by_name_and_never_made_twice(
    harness: TrytonHarness,
) -> None:
    # The finance team archived the customer: no duplicate, no silent reactivation.
    [archived] = harness.sandbox.db.create("party.party", [{"name": "Old Co", "code": "C-OLD"}])
    harness.sandbox.db.write("party.party", [[archived], {"active": False}], {})
    batch = [
        CreateRecord(
            model="party.party",
            values={"name": "Old Co again"},
            reference="C-OLD",
            idempotency_key="a",
        ),
        CreateRecord(
            model="party.party", values={"name": "New Co"}, reference="C-NEW", idempotency_key="b"
        ),
    ]

    refused, made = await harness.connector.execute_batch(batch)

    assert isinstance(refused, BusinessRejected)
    assert "'C-OLD'" in str(refused)
    assert f"record {archived}" in str(refused)
    assert isinstance(made, RecordRef)
    assert not made.existed
    parties = harness.sandbox.db.tables["party.party"].values()
    assert sorted(str(p["code"]) for p in parties if p["code"] in ("C-OLD", "C-NEW")) == [
        "C-NEW",
        "C-OLD",
    ]
    assert harness.sandbox.db.tables["party.party"][archived]["active"] is False
    # reactivated in Tryton, the same command now finds it
    harness.sandbox.db.write("party.party", [[archived], {"active": True}], {})
    [found] = await harness.connector.execute_batch(batch[:1])
    assert isinstance(found, RecordRef)
    assert (found.id, found.existed) == (archived, True)


async def test_changed_since_sees_a_party_archived_after_the_watermark(
    harness: TrytonHarness,
) -> None:
    db = harness.sandbox.db
    live, archived = db.create("party.party", [{"name": "Live"}, {"name": "Archived"}])
    await harness.clock.advance(60.0)
    watermark = dt.datetime.fromtimestamp(harness.clock.time(), dt.UTC)
    await harness.clock.advance(1.0)
    db.write("party.party", [[archived], {"active": False}], {})

    rows = await harness.connector.changed_since("party.party", watermark, ["active"])

    assert [(row["id"], row["active"]) for row in rows] == [(archived, False)]
    # plain reads leave it out, as Tryton does; asked for, it is there
    everyone = await harness.connector.search_read("party.party", [], ["id"])
    assert archived not in [row["id"] for row in everyone]
    assert live in [row["id"] for row in everyone]
    with_archived = await harness.connector.search_read("party.party", [], ["id"], archived=True)
    assert archived in [row["id"] for row in with_archived]
