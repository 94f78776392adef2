"""Salesforce's changes into the journal, against the sandbox over HTTP.

The connector's watermark reads: a record whose value does not decode
(``"Payment_Terms_Days__c": "NaN"``) comes back in `rejected` with its path and identity, and
the others and the watermark as if it were not there (issue #13). The pollers: one query per
object paged through ``nextRecordsUrl``, the watermark committed with the entries, boundary
records read again as duplicates, bad records as dead letters naming the field, and a spent
allowance waited out.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiohttp
import msgspec
import pytest

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.codecs.canonical import (
    ChangeOrder,
    Contract,
    Deal,
    Entity,
    Milestone,
    Money,
    StaffingLine,
)
from mediator.config import parse_config
from mediator.errors import BusinessRejected
from mediator.flows.kinds import (
    ACCOUNT_CHANGED,
    CHANGE_ORDER_CHANGED,
    CONTRACT_CHANGED,
    FLOW_PAYLOADS,
    MILESTONE_CHANGED,
    OPPORTUNITY_WON,
)
from mediator.ingress.salesforce_changes import (
    SALESFORCE_POLLERS,
    SalesforceChangesPoller,
    SalesforcePollReport,
    invalid_kind,
    salesforce_pollers,
)
from mediator.journal import (
    DeadLetterFilter,
    Dispatcher,
    Journal,
    open_dispatcher,
    open_journal,
)
from mediator.runtime import FlowContext, Mediator, Poller
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.salesforce.store import SalesforceStore
from mediator.systems.salesforce import SalesforceConnector
from mediator.testing import FakeClock
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


async def test_a_read_stopped_by_the_spent_allowance_returns_what_it_read() -> None:
    async with open_harness(daily_api_requests=10) as harness:
        store, clock = harness.sandbox.store, harness.clock
        account = store.create("Account", {"Name": "Acme"})
        ids = []
        for i in range(60):  # 12 pages of five; the pollers' 80 % of 10 calls reads fewer
            await clock.advance(1.0)
            values = {"Name": f"Deal {i}", "AccountId": account, "StageName": "Closed Won"}
            ids.append(store.create("Opportunity", {**values, "CloseDate": "2026-11-01"}))
        read = await harness.connector.won_opportunities(priority="crm_poll")
        assert read.resets_at is not None
        assert read.resets_at > clock.time() + 86_000
        got = [o.Id for o in read.records]
        assert 0 < len(got) < 60
        assert got == ids[: len(got)]
        assert read.watermark == read.records[-1].SystemModstamp
        assert harness.sandbox.api_usage() <= 10  # refused before the org had to refuse


# -- the pollers: one per object, into the journal ---------------------------------------------


class DealRejected(BusinessRejected):
    """What the onboarding flow raises for a deal that breaks its rules (by class name)."""


class Recipient:
    """Every entity's actor: keeps what it was given; rejects deals without a service line."""

    def __init__(self) -> None:
        self.delivered: list[Envelope] = []
        #: while set and not open, deals wait to be judged (a flow busy with a backlog)
        self.hold: asyncio.Event | None = None

    async def ask(self, message: Envelope, *, timeout: float) -> object:
        if message.kind == OPPORTUNITY_WON:
            if self.hold is not None:
                await self.hold.wait()
            deal = FLOW_PAYLOADS.decode_as(message, Deal)
            if deal.service_line is None:
                raise DealRejected(f"deal {deal.source_id}", "no service line")
        self.delivered.append(message)
        return None

    def ids(self, kind: str) -> list[str]:
        return [
            FLOW_PAYLOADS.decode_as(e, Entity).source_id for e in self.delivered if e.kind == kind
        ]


@dataclass
class Crm:
    harness: SalesforceHarness
    journal: Journal
    dispatcher: Dispatcher
    recipient: Recipient
    pollers: dict[str, SalesforceChangesPoller]

    @property
    def store(self) -> SalesforceStore:
        return self.harness.sandbox.store

    async def poll(self, name: str) -> SalesforcePollReport:
        report = await self.pollers[name].poll(self.journal, self.dispatcher)
        await self.dispatcher.wait_idle()
        return report

    async def stamped(self, obj: str, values: dict[str, object]) -> str:
        """Create a record one second after the last, so every record has its own stamp."""
        await self.harness.clock.advance(1.0)
        return self.store.create(obj, values)

    async def edit(self, obj: str, record_id: str, values: dict[str, object]) -> None:
        await self.harness.clock.advance(1.0)
        self.store.update(obj, record_id, values)

    async def watermark(self, name: str) -> str | None:
        mark = await self.journal.get_watermark(name)
        return None if mark is None else mark.value


@asynccontextmanager
async def open_crm(path: Path, harness: SalesforceHarness) -> AsyncIterator[Crm]:
    recipient = Recipient()
    async with (
        open_journal(path, clock=harness.clock) as journal,
        open_dispatcher(journal, lambda key: recipient, clock=harness.clock) as dispatcher,
    ):
        pollers = salesforce_pollers(harness.connector, SALESFORCE_POLLERS, org_currency="USD")
        yield Crm(harness, journal, dispatcher, recipient, {p.name: p for p in pollers})


@pytest.fixture
async def crm(harness: SalesforceHarness, tmp_path: Path) -> AsyncIterator[Crm]:
    async with open_crm(tmp_path / "journal.sqlite", harness) as opened:
        yield opened


def won(account: str, name: str, **fields: object) -> dict[str, object]:
    values: dict[str, object] = {
        "Name": name,
        "AccountId": account,
        "StageName": "Closed Won",
        "CloseDate": "2026-11-01",
        "Service_Line__c": "Advisory",
    }
    return {**values, **fields}


async def test_each_object_is_journaled_under_its_kind_and_entity_key(crm: Crm) -> None:
    parent = await crm.stamped("Account", {"Name": "Acme Group"})
    account = await crm.stamped("Account", {"Name": "Acme", "ParentId": parent})
    staffing = "ada@firm.example = Architect\n\n  bob@firm.example=Engineer  \n"
    deal = await crm.stamped(
        "Opportunity",
        won(account, "Platform", Amount=120000.5, Staffing__c=staffing, Project_Key__c="P-1042"),
    )
    await crm.stamped("Opportunity", {**won(account, "Lost"), "StageName": "Closed Lost"})
    contract = await crm.stamped("Contract", {"AccountId": account, "StartDate": "2026-12-01"})
    milestone = await crm.stamped(
        "Milestone__c", {"Name": "Design", "Opportunity__c": deal, "Amount__c": 5000}
    )
    order = await crm.stamped(
        "Change_Order__c",
        {"Opportunity__c": deal, "Effective_Date__c": "2026-12-15", "Status__c": "Approved"},
    )
    reports = {name: await crm.poll(name) for name in SALESFORCE_POLLERS}
    assert {n: r.journaled for n, r in reports.items()} == {
        "salesforce_accounts": 2,
        "salesforce_opportunities": 1,  # the lost one is no won deal
        "salesforce_contracts": 1,
        "salesforce_milestones": 1,
        "salesforce_change_orders": 1,
    }
    by_kind = {e.kind: e for e in crm.recipient.delivered}
    assert {e.key for e in crm.recipient.delivered if e.kind == ACCOUNT_CHANGED} == {
        f"account:{parent}",
        f"account:{account}",
    }
    assert by_kind[OPPORTUNITY_WON].key == f"opportunity:{deal}"
    assert by_kind[CONTRACT_CHANGED].key == f"contract:{contract}"
    assert by_kind[MILESTONE_CHANGED].key == f"opportunity:{deal}"  # behind its deal
    assert by_kind[CHANGE_ORDER_CHANGED].key == f"opportunity:{deal}"
    stamp = crm.store.get("Opportunity", deal)["SystemModstamp"]
    moment = datetime.datetime.fromisoformat(str(stamp).replace("+0000", "+00:00"))
    assert by_kind[OPPORTUNITY_WON].idempotency_key == (
        f"salesforce:Opportunity:{deal}:{moment.isoformat()}"
    )
    assert by_kind[OPPORTUNITY_WON].occurred_at == moment
    payload = FLOW_PAYLOADS.decode_as(by_kind[OPPORTUNITY_WON], Deal)
    assert (payload.project_code, payload.service_line, payload.currency) == (
        "P-1042",
        "Advisory",
        "USD",
    )
    assert payload.amount == Money(amount=12000050, currency="USD")
    assert payload.staffing == (
        StaffingLine(email="ada@firm.example", role="Architect"),
        StaffingLine(email="bob@firm.example", role="Engineer"),
    )
    assert payload.updated_at == moment
    assert FLOW_PAYLOADS.decode_as(by_kind[CHANGE_ORDER_CHANGED], ChangeOrder).status == "approved"
    assert FLOW_PAYLOADS.decode_as(by_kind[MILESTONE_CHANGED], Milestone).source_id == milestone
    assert FLOW_PAYLOADS.decode_as(by_kind[CHANGE_ORDER_CHANGED], ChangeOrder).source_id == order
    contracts = FLOW_PAYLOADS.decode_as(by_kind[CONTRACT_CHANGED], Contract)
    assert (contracts.account_id, contracts.starts_on) == (account, datetime.date(2026, 12, 1))
    for name, report in reports.items():
        assert report.watermark == await crm.watermark(name)


async def test_a_poll_pages_through_next_records_url_in_one_query(crm: Crm) -> None:
    account = await crm.stamped("Account", {"Name": "Acme"})
    deals = [await crm.stamped("Opportunity", won(account, f"Deal {i}")) for i in range(12)]
    report = await crm.poll("salesforce_opportunities")
    assert (report.read, report.journaled) == (12, 12)
    assert crm.recipient.ids(OPPORTUNITY_WON) == deals  # oldest change first
    queries = crm.harness.sandbox.requests.matching("GET", "/services/data/v61.0/query")
    assert len(queries) == 3  # pages of five
    assert [q.path.startswith("/services/data/v61.0/query/01g") for q in queries] == [
        False,
        True,
        True,
    ]
    soql = urllib.parse.parse_qs(queries[0].query)["q"][0]
    assert soql.endswith("WHERE IsWon = true ORDER BY SystemModstamp ASC, Id ASC")


async def test_boundary_records_read_again_are_duplicates_and_a_change_is_a_new_version(
    crm: Crm,
) -> None:
    account = await crm.stamped("Account", {"Name": "Acme"})
    deals = [await crm.stamped("Opportunity", won(account, f"Deal {i}")) for i in range(3)]
    first = await crm.poll("salesforce_opportunities")
    again = await crm.poll("salesforce_opportunities")
    # inclusive: the newest record, at the watermark, comes again; the journal knows it
    assert (again.read, again.journaled, again.duplicates) == (1, 0, 1)
    assert again.watermark == first.watermark
    await crm.edit("Opportunity", deals[0], {"Delivery_Region__c": "EMEA"})
    changed = await crm.poll("salesforce_opportunities")
    assert (changed.read, changed.journaled, changed.duplicates) == (2, 1, 1)  # and the boundary
    assert crm.recipient.ids(OPPORTUNITY_WON) == [*deals, deals[0]]
    versions = [e.idempotency_key for e in crm.recipient.delivered]
    assert len(set(versions)) == 4


async def test_a_record_that_does_not_decode_or_map_is_a_dead_letter_naming_its_field(
    crm: Crm,
) -> None:
    account = await crm.stamped("Account", {"Name": "Acme"})
    deals = [await crm.stamped("Opportunity", won(account, f"Deal {i}")) for i in range(6)]
    crm.store.get("Opportunity", deals[1])["Amount"] = "Infinity"  # what no decoder takes
    await crm.edit("Opportunity", deals[3], {"Staffing__c": "ada@firm.example=Architect\nbob"})
    first = await crm.poll("salesforce_opportunities")
    assert (first.read, first.journaled, first.rejected) == (6, 4, 2)
    assert crm.recipient.ids(OPPORTUNITY_WON) == [deals[0], deals[2], deals[4], deals[5]]
    dead = await crm.journal.list_dead(DeadLetterFilter(kind=invalid_kind("Opportunity")), limit=10)
    by_id = {d.key: d for d in dead}
    amount = by_id[f"salesforce:Opportunity:{deals[1]}"]
    assert amount.reason is not None
    assert "at $.records[1].Amount: Infinity is not a finite number" in amount.reason
    assert amount.error_class == "DecodeError"
    staffing = by_id[f"salesforce:Opportunity:{deals[3]}"]
    assert staffing.reason is not None
    assert f"$.records[?(@.Id=='{deals[3]}')].Staffing__c" in staffing.reason
    assert "line 2 'bob' is not email=role" in staffing.reason
    assert msgspec.json.decode(staffing.envelope.payload)["Id"] == deals[3]
    # the watermark passed them; reading the boundary again makes no second dead letter
    assert first.watermark == await crm.watermark("salesforce_opportunities")
    again = await crm.poll("salesforce_opportunities")
    assert (again.read, again.rejected, again.journaled) == (1, 1, 0)
    assert len(await crm.journal.list_dead(DeadLetterFilter(), limit=10)) == 2


async def test_a_deleted_record_is_left_out(
    crm: Crm, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = await crm.stamped("Account", {"Name": "Acme"})
    deal = await crm.stamped("Opportunity", won(account, "Platform"))
    # A query never returns a deleted record (queryAll would): the read is made to say so.
    original = crm.harness.connector.changed

    async def deleted(*args: Any, **kwargs: Any) -> Any:
        changed = await original(*args, **kwargs)
        records = [msgspec.structs.replace(r, IsDeleted=True) for r in changed.records]
        return msgspec.structs.replace(changed, records=records)

    monkeypatch.setattr(crm.harness.connector, "changed", deleted)
    with caplog.at_level(logging.INFO, logger="mediator.ingress"):
        report = await crm.poll("salesforce_opportunities")
    assert (report.read, report.deleted, report.journaled, report.rejected) == (1, 1, 0, 0)
    assert f"Opportunity {deal} is deleted" in caplog.text
    assert crm.recipient.delivered == []


class _CrashAround:
    """A journal that dies (as a process would) just before or just after appending a batch."""

    def __init__(self, journal: Journal, *, after: bool) -> None:
        self._journal = journal
        self._after = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)

    async def append_many(self, *args: Any, **kwargs: Any) -> Any:
        if not self._after:
            raise OSError("power cut before the commit")
        await self._journal.append_many(*args, **kwargs)
        raise OSError("power cut after the commit")


@pytest.mark.parametrize("after", [False, True])
async def test_a_crash_around_the_commit_skips_nothing(
    harness: SalesforceHarness, tmp_path: Path, after: bool
) -> None:
    path = tmp_path / "journal.sqlite"
    async with open_crm(path, harness) as crm:
        account = await crm.stamped("Account", {"Name": "Acme"})
        deals = [await crm.stamped("Opportunity", won(account, f"Deal {i}")) for i in range(7)]
        dying = cast(Journal, _CrashAround(crm.journal, after=after))
        async with open_dispatcher(dying, lambda key: crm.recipient, clock=crm.harness.clock) as d:
            with pytest.raises(OSError, match="power cut"):
                await crm.pollers["salesforce_opportunities"].poll(dying, d)
        # the entries and the watermark are there together, or neither is
        mark = await crm.watermark("salesforce_opportunities")
        late = await crm.stamped("Opportunity", won(account, "Late"))
    async with open_crm(path, harness) as crm:  # the restart: recovery, then the next poll
        report = await crm.poll("salesforce_opportunities")
        delivered = crm.recipient.ids(OPPORTUNITY_WON)
    if after:
        assert mark is not None
        assert report.journaled == 1  # the late one; the others were committed with the mark
    else:
        assert mark is None
        assert report.journaled == 8
    assert sorted(set(delivered)) == sorted([*deals, late])


# -- a spent allowance, in the running Mediator ----------------------------------------------


class Keeper(Actor[Envelope]):
    """A deal's entity actor that keeps what it was given."""

    def __init__(self, kept: list[Envelope]) -> None:
        self.kept = kept

    async def receive(self, message: Envelope) -> object:
        self.kept.append(message)
        return None


class DealWatch:
    """A flow fed by the opportunities poller alone (what the onboarding flow's ingress is)."""

    name = "deal_watch"
    kinds = frozenset({OPPORTUNITY_WON})
    owner = "sales-ops"
    systems = frozenset({"salesforce"})
    poller_names = frozenset({"salesforce_opportunities"})
    delivery_timeout = 5.0

    def __init__(self) -> None:
        self.kept: list[Envelope] = []

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        return Keeper(self.kept)

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        connector = context.connectors["salesforce"]
        assert isinstance(connector, SalesforceConnector)
        return salesforce_pollers(connector, self.poller_names, org_currency="USD")


async def test_a_spent_allowance_is_waited_out_shown_on_the_admin_api_and_nothing_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    # 10 calls a day: the pollers' class may spend 80 % of them (8), the token grant counts
    sandbox = SalesforceSandbox(clock=clock, query_batch_size=5, daily_api_requests=10)
    account = sandbox.store.create("Account", {"Name": "Acme"})
    deals = []
    for i in range(40):  # 8 pages of five: more than one day's share
        await clock.advance(1.0)
        deals.append(sandbox.store.create("Opportunity", won(account, f"Deal {i}")))
    monkeypatch.setenv("TEST_SF_SECRET", "sandbox-secret")
    flow = DealWatch()
    async with open_sandbox(sandbox) as url:
        text = f"""\
time_zone = "UTC"

[journal]
path = "journal.sqlite"

[systems.salesforce]
base_url = "{url}"
client_id = "mediator"
client_secret = "env:TEST_SF_SECRET"

[flows.deal_watch]

[ingress.pollers.salesforce_opportunities]
interval = 300.0

[admin]
listen = "127.0.0.1:0"
"""
        loaded = parse_config(text, file="mediator.toml", base_dir=tmp_path)
        async with Mediator(loaded, flows={flow.name: lambda o, f: flow}, clock=clock) as m:
            (poller,) = m.pollers
            await poller.wait_polls(1)
            await m.wait_idle()
            waiting = poller.status()
            assert waiting.failures == 0  # no failure: a wait
            assert waiting.waiting_until is not None
            assert waiting.waiting_until > clock.time() + 86_000
            assert waiting.next_poll_at == waiting.waiting_until
            assert waiting.waiting_reason is not None
            assert "allowance for crm_poll is spent" in waiting.waiting_reason
            read_first = [FLOW_PAYLOADS.decode_as(e, Deal).source_id for e in flow.kept]
            assert 0 < len(read_first) < 40
            assert read_first == deals[: len(read_first)]  # what was read before is journaled
            assert m.journal is not None
            mark = await m.journal.get_watermark("salesforce_opportunities")
            assert mark is not None  # ...with its watermark
            assert m.admin_address is not None
            host, port = m.admin_address
            async with aiohttp.ClientSession(f"http://{host}:{port}") as http:
                async with http.get("/healthz") as health:
                    shown = (await health.json())["parts"]["pollers"]["salesforce_opportunities"]
                assert shown["status"] == "waiting"
                assert shown["waiting_until"] == waiting.waiting_until
                assert shown["detail"] == waiting.waiting_reason

                # nothing polls before the reset; at the reset the poller reads on
                await clock.advance(waiting.waiting_until - clock.time() - 1.0)
                assert poller.status().polls == 1
                await clock.advance(1.0)
                await poller.wait_polls(2)
                await m.wait_idle()
            # (the admin API shows statistics up to 5 s old: the poller's own status is read)
            done = poller.status()
    assert (done.waiting_until, done.failures) == (None, 0)
    kept = [FLOW_PAYLOADS.decode_as(e, Deal).source_id for e in flow.kept]
    assert kept == deals  # every deal once, in order: none skipped, none twice
