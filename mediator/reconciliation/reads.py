"""Reading the four systems for a reconciliation: through their connectors, in big pages, at
the ``reconciliation`` priority.

Every read goes through the same connector (auth, retries, breaker, rate limit, quota) as the
live flows, in the priority class ``reconciliation``, whose share of each vendor's limits is
below the flows' (see `mediator/policies/defaults.toml`), so a run never starves a posting.
Lists are read in the largest pages each API gives: Harvest 2,000 a page (``from``/``to`` to
the period), Stripe 100, Tryton ``search_read`` in batches of the connector's page size,
Salesforce SOQL with ``nextRecordsUrl``. Nothing is read from a sandbox's memory: what a run
sees is what the vendor's API says.
"""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import Awaitable, Callable
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

T = TypeVar("T")
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

    def _once(self, name: str, read: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        task = self._read.get(name)
        if task is None or (task.done() and task.exception() is not None):
            task = self._read[name] = asyncio.ensure_future(read())
        return task

    def calls(self) -> dict[str, int]:
        """API calls made by each connector since these reads began."""
        return {name: _calls(c) - self._calls_at_start[name] for name, c in self.connectors.items()}

    def _get(self, name: str, kind: type[Connector]) -> Connector:
        connector = self.connectors.get(name)
        if not isinstance(connector, kind):
            raise NotConfigured(name)
        return connector

    @property
    def harvest(self) -> HarvestConnector:
        """The PSA."""
        found = self._get("harvest", HarvestConnector)
        assert isinstance(found, HarvestConnector)
        return found

    @property
    def stripe(self) -> StripeConnector:
        """Billing."""
        found = self._get("stripe", StripeConnector)
        assert isinstance(found, StripeConnector)
        return found

    @property
    def tryton(self) -> TrytonConnector:
        """The ERP."""
        found = self._get("tryton", TrytonConnector)
        assert isinstance(found, TrytonConnector)
        return found

    @property
    def salesforce(self) -> SalesforceConnector:
        """The CRM."""
        found = self._get("salesforce", SalesforceConnector)
        assert isinstance(found, SalesforceConnector)
        return found

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
        return [
            project
            async for page in self.harvest.pages(
                "/v2/projects", hv.HvProjectPage, priority=PRIORITY
            )
            for project in page.projects
        ]

    async def harvest_clients(self) -> list[hv.HvClient]:
        """Every Harvest client (active or not)."""
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
        return await self.stripe.list_invoice_items(priority=PRIORITY)

    async def customers(self) -> list[st.StCustomer]:
        """Every Stripe customer, 100 a page."""
        return await self.stripe.list_customers(priority=PRIORITY)

    # -- Tryton -------------------------------------------------------------------------------

    async def erp_lines(self, period: str) -> list[ErpLine]:
        """The timesheet lines of `period` that mediator posted (tagged with their entry)."""
        first, last = period_bounds(period)
        domain: list[RpcValue] = [
            ["date", ">=", first],
            ["date", "<=", last],
            ["description", "like", "%[mediator harvest:%"],
        ]
        rows = await self.tryton.search_read(
            "timesheet.line", domain, ("id", "date", "duration", "description"), priority=PRIORITY
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
        rows = await self.tryton.search_read("account.invoice", domain, fields, priority=PRIORITY)
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
        """Which of `ids` exist in `model` (archived ones included)."""
        if not ids:
            return set()
        rows = await self.tryton.search_read(
            model, [["id", "in", list(ids)]], ("id",), archived=True, priority=PRIORITY
        )
        return {int(str(row["id"])) for row in rows}

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
        soql = (
            "SELECT Id, Invoice_Number__c, Invoice_Status__c, Amount_Paid__c FROM Opportunity "
            "WHERE Invoice_Number__c != null"
        )
        return await self.salesforce.query_all(soql, SfInvoiceStatus, priority=PRIORITY)


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
