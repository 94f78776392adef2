"""Reading the four systems for a reconciliation: through their connectors, in big pages, at
the ``reconciliation`` priority.

Every read goes through the same connector (auth, retries, breaker, rate limit, quota) as the
live flows, in the priority class ``reconciliation``, whose share of each vendor's limits is
below the flows' (see `mediator/policies/defaults.toml`), so a run never starves a posting.
Lists are read in the largest pages each API gives: Harvest 2,000 a page (``from``/``to`` to
the period), Stripe 100, Tryton ``search_read`` in pages of `ERP_PAGE` (10,000) rows,
Salesforce SOQL with ``nextRecordsUrl``. Nothing is read from a sandbox's memory: what a run
sees is what the vendor's API says.

A run starts reading each system's lists at once (`prefetch`): one system's pages after
another, but the four systems side by side, so a run waits for its slowest vendor rather than
for the sum of them (bench/reconcile.py). Each list is read once a run, whichever check asks.
"""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import Awaitable, Callable, Collection
from decimal import Decimal
from typing import Any, Final, TypeVar

import msgspec

from mediator.codecs.harvest import wire as hv
from mediator.codecs.harvest.mapping import decode_harvest_records
from mediator.codecs.salesforce.wire import SfInvoiceStatus, SfRecordId
from mediator.codecs.stripe import wire as st
from mediator.codecs.tryton import RpcValue
from mediator.systems import Connector, HarvestConnector
from mediator.systems.salesforce import SalesforceConnector
from mediator.systems.stripe import StripeConnector
from mediator.systems.tryton import TrytonConnector
from mediator.systems.tryton.connector import Row

__all__ = [
    "ERP_PAGE",
    "PRIORITY",
    "ErpInvoice",
    "ErpLine",
    "NotConfigured",
    "SystemReads",
    "harvest_entry_of_line",
    "period_bounds",
]

#: the priority class of every reconciliation read
PRIORITY: Final = "reconciliation"
#: rows a page of the ERP's big lists (a period's timesheet lines, the receivables): Tryton
#: pages by offset, which costs the database the rows it skips, so reading n rows in pages of
#: k costs about n²/2k; at 100,000 lines, pages of the connector's default 100 are 1,000 calls
#: and 50 million rows skipped (bench/reconcile.py)
ERP_PAGE: Final = 10_000

T = TypeVar("T")
C = TypeVar("C", bound=Connector)
_TAG = re.compile(r"\[mediator harvest:(\d+):r(\d+)\]$")


def harvest_entry_of_line(description: str) -> tuple[str, int] | None:
    """The Harvest entry id and revision an ERP timesheet line was posted for (its
    ``[mediator harvest:<id>:r<revision>]`` tag, `effect_reference`), or None for a line
    mediator did not make."""
    found = _TAG.search(description)
    return None if found is None else (found.group(1), int(found.group(2)))


def period_bounds(period: str) -> tuple[datetime.date, datetime.date]:
    """The first and last day of a ``YYYY-MM`` period; `ValueError` names a bad one."""
    try:
        first = datetime.date.fromisoformat(f"{period}-01")
    except ValueError:
        raise ValueError(f"period {period!r} is not a month (YYYY-MM)") from None
    if first.year >= datetime.MAXYEAR:
        raise ValueError(f"period {period!r} is beyond the calendar")
    following = (first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return first, following - datetime.timedelta(days=1)


class NotConfigured(LookupError):
    """A check reads a system this mediator has no `[systems.<name>]` for."""

    def __init__(self, system: str) -> None:
        super().__init__(f"the reconciliation needs the {system} system, which is not set up")
        self.system = system


class ErpLine(msgspec.Struct, frozen=True, kw_only=True):
    """A Tryton timesheet line mediator posted (tagged), with the Harvest entry it is for."""

    id: int
    date: datetime.date
    hours: Decimal
    entry_id: str
    revision: int


class ErpInvoice(msgspec.Struct, frozen=True, kw_only=True):
    """A Tryton customer invoice: its number, Stripe reference, state, totals, currency."""

    id: int
    number: str
    reference: str
    state: str
    total: Decimal
    #: what has been paid on it (settled, for a credit note): all of it once ``paid``, the
    #: total less what is still to pay while ``posted``, nothing before
    paid: Decimal
    currency: str
    party: int | None


class SystemReads:
    """The reads one run makes; `calls()` says how many API calls each connector made."""

    def __init__(self, connectors: dict[str, Connector]) -> None:
        self.connectors = connectors
        self._calls_at_start = {name: _calls(c) for name, c in connectors.items()}
        # a list several checks need is read once a run
        self._read: dict[str, asyncio.Task[Any]] = {}
        # the reads `prefetch` started, one chain per system; `aclose` ends them
        self._chains: list[asyncio.Task[None]] = []

    def _once(self, name: str, read: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        task = self._read.get(name)
        if task is None or (task.done() and task.exception() is not None):
            task = self._read[name] = asyncio.ensure_future(read())
        return task

    def prefetch(self, period: str, checks: Collection[str]) -> None:
        """Start reading the lists `checks` will compare, in the background: each system's
        one after another (in the order the checks ask for them), the systems side by side.

        A check asking for a list meets the same read (it waits for it, or has it at once); a
        read that fails is read again by the check that asks, which sees the error. Call
        `aclose` when the run ends, whatever happens."""
        wanted: dict[str, list[Callable[[], Awaitable[object]]]] = {
            "harvest": [], "stripe": [], "tryton": [], "salesforce": [],
        }  # fmt: skip
        if "presence" in checks:
            wanted["harvest"] += [self.harvest_clients, self.harvest_projects]
            wanted["stripe"].append(self.customers)
        if "time" in checks or "money" in checks:
            wanted["harvest"].append(lambda: self.time_entries(period))
        if "time" in checks:
            wanted["tryton"].append(lambda: self.erp_lines(period))
        if "money" in checks:
            wanted["stripe"].append(self.invoice_items)
        if "invoices" in checks or "payments" in checks:
            wanted["stripe"].append(self.invoices)
            wanted["tryton"].append(self.erp_invoices)
        if "payments" in checks:
            wanted["salesforce"].append(self.crm_invoice_statuses)
        for system, reads in wanted.items():
            if reads and system in self.connectors:
                self._chains.append(asyncio.ensure_future(_in_turn(reads)))

    async def aclose(self) -> None:
        """End the run's reads: those no check waited for are cancelled."""
        pending = [*self._chains, *self._read.values()]
        for task in pending:
            task.cancel()
        # their errors were the checks' to see (or nobody's, once cancelled)
        await asyncio.gather(*pending, return_exceptions=True)

    def calls(self) -> dict[str, int]:
        """API calls made by each connector since these reads began."""
        return {name: _calls(c) - self._calls_at_start[name] for name, c in self.connectors.items()}

    def _get(self, name: str, kind: type[C]) -> C:
        connector = self.connectors.get(name)
        if not isinstance(connector, kind):
            raise NotConfigured(name)
        return connector

    @property
    def harvest(self) -> HarvestConnector:
        """The PSA."""
        return self._get("harvest", HarvestConnector)

    @property
    def stripe(self) -> StripeConnector:
        """Billing."""
        return self._get("stripe", StripeConnector)

    @property
    def tryton(self) -> TrytonConnector:
        """The ERP."""
        return self._get("tryton", TrytonConnector)

    @property
    def salesforce(self) -> SalesforceConnector:
        """The CRM."""
        return self._get("salesforce", SalesforceConnector)

    # -- Harvest ------------------------------------------------------------------------------

    async def time_entries(self, period: str) -> list[hv.HvTimeEntry]:
        """Every time entry spent in `period` (any approval state), 2,000 a page."""
        return await self._once(f"time_entries:{period}", lambda: self._time_entries(period))

    async def _time_entries(self, period: str) -> list[hv.HvTimeEntry]:
        first, last = period_bounds(period)
        params = {"from": first.isoformat(), "to": last.isoformat()}
        found: list[hv.HvTimeEntry] = []
        async for page in self.harvest.pages(
            "/v2/time_entries", hv.HvRawTimeEntryPage, params, priority=PRIORITY
        ):
            decoded = decode_harvest_records(page.time_entries, hv.HvTimeEntry, "$.time_entries")
            found.extend(decoded.records)
        return found

    async def harvest_projects(self) -> list[hv.HvProject]:
        """Every Harvest project (active or not)."""
        return await self._once("harvest_projects", self._harvest_projects)

    async def _harvest_projects(self) -> list[hv.HvProject]:
        return [
            project
            async for page in self.harvest.pages(
                "/v2/projects", hv.HvProjectPage, priority=PRIORITY
            )
            for project in page.projects
        ]

    async def harvest_clients(self) -> list[hv.HvClient]:
        """Every Harvest client (active or not)."""
        return await self._once("harvest_clients", self._harvest_clients)

    async def _harvest_clients(self) -> list[hv.HvClient]:
        return [
            client
            async for page in self.harvest.pages("/v2/clients", hv.HvClientPage, priority=PRIORITY)
            for client in page.clients
        ]

    # -- Stripe -------------------------------------------------------------------------------

    async def invoices(self) -> list[st.StInvoice]:
        """Every Stripe invoice, 100 a page."""
        return await self._once("invoices", lambda: self.stripe.list_invoices(priority=PRIORITY))

    async def invoice_items(self) -> list[st.StInvoiceItem]:
        """Every Stripe invoice item, 100 a page (one list, not one per invoice)."""
        return await self._once(
            "invoice_items", lambda: self.stripe.list_invoice_items(priority=PRIORITY)
        )

    async def customers(self) -> list[st.StCustomer]:
        """Every Stripe customer, 100 a page."""
        return await self._once("customers", lambda: self.stripe.list_customers(priority=PRIORITY))

    # -- Tryton -------------------------------------------------------------------------------

    async def erp_lines(self, period: str) -> list[ErpLine]:
        """The timesheet lines of `period` that mediator posted (tagged with their entry)."""
        return await self._once(f"erp_lines:{period}", lambda: self._erp_lines(period))

    async def _erp_lines(self, period: str) -> list[ErpLine]:
        first, last = period_bounds(period)
        domain: list[RpcValue] = [
            ["date", ">=", first],
            ["date", "<=", last],
            ["description", "like", "%[mediator harvest:%"],
        ]
        rows = await self.tryton.search_read(
            "timesheet.line",
            domain,
            ("id", "date", "duration", "description"),
            page_size=ERP_PAGE,
            priority=PRIORITY,
        )
        lines: list[ErpLine] = []
        for row in rows:
            tag = harvest_entry_of_line(str(row.get("description") or ""))
            if tag is None:
                continue
            lines.append(
                ErpLine(
                    id=int(str(row["id"])),
                    date=_day(row.get("date")),
                    hours=_hours(row.get("duration")),
                    entry_id=tag[0],
                    revision=tag[1],
                )
            )
        return lines

    async def erp_invoices(self) -> list[ErpInvoice]:
        """Every Tryton customer invoice whose reference is a Stripe invoice (``in_…``)."""
        return await self._once("erp_invoices", self._erp_invoices)

    async def _erp_invoices(self) -> list[ErpInvoice]:
        domain: list[RpcValue] = [["type", "=", "out"], ["reference", "like", "in_%"]]
        fields = (
            "id", "number", "reference", "state", "total_amount", "amount_to_pay",
            "currency.code", "party",
        )  # fmt: skip
        rows = await self.tryton.search_read(
            "account.invoice", domain, fields, page_size=ERP_PAGE, priority=PRIORITY
        )
        return [
            ErpInvoice(
                id=int(str(row["id"])),
                number=str(row.get("number") or ""),
                reference=str(row.get("reference") or ""),
                state=str(row.get("state") or ""),
                total=_decimal(row.get("total_amount")),
                paid=_paid(row),
                currency=_code(row.get("currency.")),
                party=_int_or_none(row.get("party")),
            )
            for row in rows
            if str(row.get("reference") or "").startswith("in_")  # `_` is LIKE's wildcard
        ]

    async def erp_ids(self, model: str, ids: list[int]) -> set[int]:
        """Which of `ids` exist in `model` (archived ones included), `ERP_PAGE` ids a call."""
        found: set[int] = set()
        for start in range(0, len(ids), ERP_PAGE):
            chunk = ids[start : start + ERP_PAGE]
            # no more rows than ids can match: a page one longer is one call, no empty page
            rows = await self.tryton.search_read(
                model, [["id", "in", list(chunk)]], ("id",), page_size=len(chunk) + 1,
                archived=True, priority=PRIORITY,
            )  # fmt: skip
            found.update(int(str(row["id"])) for row in rows)
        return found

    # -- Salesforce ---------------------------------------------------------------------------

    async def crm_ids(self, sobject: str, ids: list[str]) -> set[str]:
        """Which of `ids` exist as `sobject` records (chunks of 200 ids a query)."""
        found: set[str] = set()
        for start in range(0, len(ids), 200):
            chunk = ", ".join(_soql_string(i) for i in ids[start : start + 200])
            soql = f"SELECT Id FROM {sobject} WHERE Id IN ({chunk})"
            records = await self.salesforce.query_all(soql, SfRecordId, priority=PRIORITY)
            found.update(r.Id for r in records)
        return found

    async def crm_invoice_statuses(self) -> list[SfInvoiceStatus]:
        """The Opportunities whose invoice status mediator wrote (cash application)."""
        return await self._once("crm_invoice_statuses", self._crm_invoice_statuses)

    async def _crm_invoice_statuses(self) -> list[SfInvoiceStatus]:
        soql = (
            "SELECT Id, Invoice_Number__c, Invoice_Status__c, Amount_Paid__c FROM Opportunity "
            "WHERE Invoice_Number__c != null"
        )
        return await self.salesforce.query_all(soql, SfInvoiceStatus, priority=PRIORITY)


async def _in_turn(reads: list[Callable[[], Awaitable[object]]]) -> None:
    for read in reads:
        await read()  # a failure ends the chain: the check that asks reads again, and sees it


def _calls(connector: Connector) -> int:
    return connector.transport.statistics().calls


def _soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _day(value: object) -> datetime.date:
    if isinstance(value, datetime.date):
        return value
    return datetime.date.fromisoformat(str(value))


def _hours(value: object) -> Decimal:
    # Tryton's durations are timedeltas; hours to the second, as Harvest gives them (2 places)
    if isinstance(value, datetime.timedelta):
        seconds = Decimal(int(value.total_seconds()))
    elif isinstance(value, dict):
        seconds = Decimal(str(value.get("seconds", 0)))
    else:
        seconds = Decimal(str(value or 0))
    return (seconds / 3600).quantize(Decimal("0.01"))


def _paid(row: Row) -> Decimal:
    total, state = _decimal(row.get("total_amount")), row.get("state")
    if state == "paid":
        return total
    if state == "posted":
        return total - _decimal(row.get("amount_to_pay"))
    return Decimal(0)


def _code(ref: object) -> str:
    # Tryton answers a dotted field (``currency.code``) as the record under ``currency.``
    return str(ref.get("code") or "") if isinstance(ref, dict) else ""


def _decimal(value: object) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _int_or_none(value: object) -> int | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return None if value is None else int(str(value))
