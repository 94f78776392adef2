"""`StripeConnector`: Stripe API v1 with a secret key, form bodies and idempotent POSTs.

Stripe has no bulk endpoint, so a batch runs command by command, a few at a time
(`concurrency`), every call passing the shared 25 requests/s limiter. Each POST carries the
command's `Idempotency-Key`, so a retry after a lost answer gets Stripe's stored first answer.
A 401 re-reads the key once from `secret` (a rotated key file or variable) before giving
up with `AuthenticationFailed`. Lists are read with ``starting_after`` while ``has_more``.
Every read takes a `priority`, the class its calls are admitted in (``reconciliation`` reads
below the live flows: the limiter's `shares`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Protocol, TypeVar

import aiohttp
import msgspec

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.codecs.records import Decoded, Undecodable
from mediator.codecs.stripe import encode_form, wire
from mediator.codecs.stripe import errors as stripe_errors
from mediator.codecs.stripe.mapping import decode_stripe, decode_stripe_records
from mediator.errors import MediatorError, RemoteRejected
from mediator.policies import PolicyRegistry
from mediator.systems._reauth import ReloadedSecret, send_with_reauth
from mediator.systems.connector import Command, Connector
from mediator.systems.http import HttpResponse
from mediator.systems.secrets import Secret
from mediator.systems.stripe.commands import (
    AddInvoiceItem,
    CreateCreditNote,
    CreateCustomer,
    CreateDraftInvoice,
    CreateTaxRate,
    StripeCommand,
    UpdateInvoiceItem,
    idempotency_header,
)

__all__ = ["API_VERSION", "EventPage", "StripeConnector"]

API_VERSION = "2026-10-28.endive"  # what the stripe 16.1 SDK pins (tryton/REPORT.md §7)


class _Listed(Protocol):
    @property
    def id(self) -> str: ...


class _Tagged(Protocol):
    @property
    def metadata(self) -> Mapping[str, str]: ...


T = TypeVar("T", bound=_Listed)
_FORM = "application/x-www-form-urlencoded"
#: the metadata key under which a created object carries the Idempotency-Key that made it
_KEY = "mediator_key"
#: the creates looked for before they are made (the others are updates or transitions)
_CREATES = (CreateCustomer, CreateDraftInvoice, AddInvoiceItem, CreateCreditNote)
_DECODE_JSON = msgspec.json.Decoder()
_log = logging.getLogger("mediator.systems.stripe")


@dataclasses.dataclass(frozen=True, slots=True)
class EventPage:
    """A page of the events feed, oldest first: each event that decoded with its raw JSON (what
    a webhook would have delivered), those that did not, and the id of the newest event on
    the page (decoded or not: the cursor and watermark the next page starts after)."""

    events: list[tuple[wire.StEvent, msgspec.Raw]]
    rejected: list[Undecodable]
    newest: str | None

    @property
    def records(self) -> list[wire.StEvent]:
        """The events that decoded, oldest first."""
        return [event for event, _ in self.events]


class StripeConnector(Connector):
    """Stripe for one account: `execute_batch` for writes, `list_*` reads to the last page.

    `secret` returns the secret key; it is called once up front and again after a 401.
    """

    system = "stripe"
    error_code = staticmethod(stripe_errors.error_code)
    error_codes = stripe_errors.ERROR_CODES

    def __init__(
        self,
        *,
        base_url: str,
        policies: PolicyRegistry,
        clock: Clock,
        secret: Callable[[], Secret],
        session: aiohttp.ClientSession | None = None,
        concurrency: int = 4,
        inline_retry_cap: float = 30.0,
    ) -> None:
        super().__init__(
            base_url=base_url,
            policies=policies,
            clock=clock,
            session=session,
            inline_retry_cap=inline_retry_cap,
        )
        self._key = ReloadedSecret(self.system, secret)
        self._concurrency = concurrency

    @property
    def credential_loads(self) -> int:
        """How many times the key was read from `secret`."""
        return self._key.loads

    # -- writes -------------------------------------------------------------------------------

    async def execute_batch(self, commands: Sequence[Command]) -> Sequence[object]:
        """POST each command (a few at once); its decoded object, or the error, per command."""
        results: list[object] = [None] * len(commands)
        gate = asyncio.Semaphore(self._concurrency)

        async def run(index: int, command: Command) -> None:
            async with gate:
                results[index] = await self._outcome(command)

        async with TaskGroup() as group:
            for index, command in enumerate(commands):
                group.create_task(run(index, command))
        return results

    async def execute(self, command: StripeCommand) -> object:
        """Carry out one command; return its decoded object or raise its error.

        An object a create makes carries its Idempotency-Key in ``metadata[mediator_key]``,
        and is looked for by it first: Stripe forgets a key after 24 hours, so a replay days
        after an answer was lost finds the first object instead of making a second.
        """
        path, endpoint, params = command.request()
        key = idempotency_header(command)
        if isinstance(command, _CREATES):
            made = await self._made_before(command, key)
            if made is not None:
                return made
            metadata = params.get("metadata")
            params["metadata"] = {**(metadata if isinstance(metadata, dict) else {}), _KEY: key}
        body = encode_form(params).encode()
        headers = {"Idempotency-Key": key, "Content-Type": _FORM}
        response = await self.run_with_retries(
            lambda: self._send("POST", path, endpoint, body=body, headers=headers),
            endpoint=endpoint,
            attempt=command.attempt,
        )
        self.count_batch(1)  # no bulk endpoint: every command is its own call
        if isinstance(command, CreateCustomer):
            return decode_stripe(response.body, wire.StCustomer)
        if isinstance(command, AddInvoiceItem | UpdateInvoiceItem):
            return decode_stripe(response.body, wire.StInvoiceItem)
        if isinstance(command, CreateCreditNote):
            return decode_stripe(response.body, wire.StCreditNote)
        if isinstance(command, CreateTaxRate):
            return decode_stripe(response.body, wire.StTaxRate)
        return decode_stripe(response.body, wire.StInvoice)

    async def _made_before(self, command: StripeCommand, key: str) -> object | None:
        # the objects a create of this kind could have made, narrowed as far as Stripe lists
        found: Sequence[_Tagged]
        if isinstance(command, CreateCustomer):
            found = await self.list_customers()
        elif isinstance(command, CreateDraftInvoice):
            found = await self.list_invoices(customer=command.customer, status="draft")
        elif isinstance(command, AddInvoiceItem):
            if command.invoice is None:
                return None  # a pending item: nothing narrows the search (Stripe's key only)
            found = await self.list_invoice_items(invoice=command.invoice)
        elif isinstance(command, CreateCreditNote):
            found = await self.list_credit_notes(invoice=command.invoice)
        else:
            return None
        return next((made for made in found if made.metadata.get(_KEY) == key), None)

    async def _outcome(self, command: Command) -> object:
        if not isinstance(command, StripeCommand):
            return TypeError(f"not a Stripe command: {type(command).__name__}")
        try:
            return await self.execute(command)
        except MediatorError as exc:
            return exc

    # -- reads --------------------------------------------------------------------------------

    async def get_customer(self, customer: str, *, priority: str | None = None) -> wire.StCustomer:
        """Read one customer (its `tax_exempt` says how its invoices are taxed)."""
        path = f"/v1/customers/{customer}"
        response = await self._get(path, "/v1/customers/{id}", {}, priority)
        return decode_stripe(response.body, wire.StCustomer)

    async def get_invoice(self, invoice: str, *, priority: str | None = None) -> wire.StInvoice:
        """Read one invoice with its lines."""
        path = f"/v1/invoices/{invoice}"
        response = await self._get(path, "/v1/invoices/{id}", {}, priority)
        return decode_stripe(response.body, wire.StInvoice)

    async def get_invoice_with_lines(
        self, invoice: str, *, priority: str | None = None
    ) -> wire.StInvoice:
        """Read one invoice with every line: Stripe embeds the first lines only (``has_more``
        says there are others), which are then read from ``/v1/invoices/{id}/lines``."""
        found = await self.get_invoice(invoice, priority=priority)
        if found.lines is None or found.lines.has_more:
            path = f"/v1/invoices/{invoice}/lines"
            lines = await self._list(path, wire.StList[wire.StLineItem], {}, 100, priority)
            found = msgspec.structs.replace(
                found, lines=wire.StList[wire.StLineItem](data=lines, has_more=False)
            )
        return found

    async def list_customers(
        self, *, email: str | None = None, page_size: int = 100, priority: str | None = None
    ) -> list[wire.StCustomer]:
        """Every customer (with `email`, if given), newest first, reading every page."""
        params = {"email": email} if email else {}
        kind = wire.StList[wire.StCustomer]
        return await self._list("/v1/customers", kind, params, page_size, priority)

    async def list_invoice_items(
        self,
        *,
        customer: str | None = None,
        invoice: str | None = None,
        pending: bool | None = None,
        page_size: int = 100,
        priority: str | None = None,
    ) -> list[wire.StInvoiceItem]:
        """Every invoice item matching the filters, newest first."""
        params = {"customer": customer, "invoice": invoice}
        if pending is not None:
            params["pending"] = "true" if pending else "false"
        kind = wire.StList[wire.StInvoiceItem]
        return await self._list("/v1/invoiceitems", kind, params, page_size, priority)

    async def list_invoices(
        self,
        *,
        customer: str | None = None,
        status: str | None = None,
        page_size: int = 100,
        priority: str | None = None,
    ) -> list[wire.StInvoice]:
        """Every invoice matching the filters, newest first."""
        params = {"customer": customer, "status": status}
        kind = wire.StList[wire.StInvoice]
        return await self._list("/v1/invoices", kind, params, page_size, priority)

    async def get_credit_note(
        self, credit_note: str, *, priority: str | None = None
    ) -> wire.StCreditNote:
        """Read one credit note with its lines."""
        path = f"/v1/credit_notes/{credit_note}"
        response = await self._get(path, "/v1/credit_notes/{id}", {}, priority)
        return decode_stripe(response.body, wire.StCreditNote)

    async def list_credit_notes(
        self, *, invoice: str, page_size: int = 100, priority: str | None = None
    ) -> list[wire.StCreditNote]:
        """Every credit note of `invoice`, newest first."""
        kind = wire.StList[wire.StCreditNote]
        params = {"invoice": invoice}
        return await self._list("/v1/credit_notes", kind, params, page_size, priority)

    async def list_events(
        self,
        *,
        event_type: str | None = None,
        since: str | None = None,
        page_size: int = 100,
        priority: str | None = None,
    ) -> Decoded[wire.StEvent]:
        """Events newer than the event `since` (all when None), oldest first: a change feed.

        Each event is decoded on its own: one that does not decode is `rejected` (an
        `Undecodable` naming its field, ``$.data[3].created``) and the others are kept.
        `event_type` may end in ``.*`` (``invoice.*``).
        """
        records: list[wire.StEvent] = []
        rejected: list[Undecodable] = []
        pages = self.event_pages(
            since=since, event_type=event_type, page_size=page_size, priority=priority
        )
        async for page in pages:
            records.extend(page.records)
            rejected.extend(page.rejected)
        return Decoded(records=records, rejected=rejected)

    async def event_pages(
        self,
        *,
        since: str | None,
        event_type: str | None = None,
        page_size: int = 100,
        priority: str | None = None,
    ) -> AsyncIterator[EventPage]:
        """The events after the event `since`, a page at a time, oldest first.

        Stripe lists newest first. From a known event the feed walks towards the newest with
        ``ending_before`` (each page holds the events just newer than the cursor, and the
        cursor moves to the newest of them), so an event created while it reads lands on a
        later page instead of shifting one: nothing is skipped, nothing read twice. Without
        `since` (the first poll), or when Stripe no longer has that event (it keeps 30 days),
        every event it has is read newest first with ``starting_after`` and handed out oldest
        first, `page_size` at a time.
        """
        query = {"limit": str(page_size)}
        if event_type is not None:
            query["type"] = event_type
        if since is not None:
            cursor = since
            try:
                while True:
                    raws, more = await self._raw_page(
                        "/v1/events", {**query, "ending_before": cursor}, priority
                    )
                    page = _event_page(raws[::-1])
                    if page.newest is not None:
                        yield page
                        cursor = page.newest
                    if not more or page.newest is None:
                        return
            except RemoteRejected as exc:
                if not (_missing_cursor(exc) and cursor == since):
                    raise
                _log.warning(
                    "Stripe no longer lists event %s (older than its 30 days): reading every "
                    "event it keeps", since,
                )  # fmt: skip
        everything: list[msgspec.Raw] = []
        after: str | None = None
        while True:
            params = query if after is None else {**query, "starting_after": after}
            raws, more = await self._raw_page("/v1/events", params, priority)
            everything.extend(raws)
            last = _event_id(raws[-1]) if raws else None
            if not more or last is None:
                break
            after = last
        oldest_first = everything[::-1]
        for start in range(0, len(oldest_first), page_size):
            page = _event_page(oldest_first[start : start + page_size])
            if page.newest is not None:
                yield page

    async def _raw_page(
        self, path: str, query: Mapping[str, str], priority: str | None
    ) -> tuple[list[msgspec.Raw], bool]:
        response = await self._get(path, path, query, priority)
        page = decode_stripe(response.body, wire.StList[msgspec.Raw])
        return page.data, page.has_more

    async def _list(
        self,
        path: str,
        kind: type[wire.StList[T]],
        params: Mapping[str, str | None],
        page_size: int,
        priority: str | None = None,
    ) -> list[T]:
        """Every row of every page (``starting_after`` the last row), in class `priority`."""
        rows: list[T] = []
        query = {k: v for k, v in params.items() if v is not None}
        query["limit"] = str(page_size)
        while True:
            response = await self._get(path, path, query, priority)
            page = decode_stripe(response.body, kind)
            rows.extend(page.data)
            if not page.has_more or not page.data:
                return rows
            query = {**query, "starting_after": page.data[-1].id}

    async def _get(
        self,
        path: str,
        endpoint: str,
        query: Mapping[str, str],
        priority: str | None = None,
    ) -> HttpResponse:
        return await self.run_with_retries(
            lambda: self._send("GET", path, endpoint, params=query, priority=priority),
            endpoint=endpoint,
        )

    # -- auth ---------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        endpoint: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        priority: str | None = None,
    ) -> HttpResponse:
        async def send(key: Secret) -> HttpResponse:
            sent = {
                **(headers or {}),
                "Authorization": f"Bearer {key.reveal()}",
                "Stripe-Version": API_VERSION,
            }
            return await self.transport.send(
                method,
                path,
                endpoint=endpoint,
                params=params,
                body=body,
                headers=sent,
                priority=priority,
            )

        return await send_with_reauth(
            self.system,
            send,
            self._key.current(),
            self._key.reload,
            refused="a reloaded key was refused too",
        )


def _event_page(oldest_first: list[msgspec.Raw]) -> EventPage:
    decoded = decode_stripe_records(oldest_first, wire.StEvent, "$.data")
    bad = {u.raw for u in decoded.rejected}
    good = [raw for raw in oldest_first if bytes(raw) not in bad]
    newest = next((i for i in map(_event_id, reversed(oldest_first)) if i is not None), None)
    return EventPage(
        events=list(zip(decoded.records, good, strict=True)),
        rejected=decoded.rejected,
        newest=newest,
    )


def _missing_cursor(exc: RemoteRejected) -> bool:
    # Stripe names the cursor it does not know: 400, code resource_missing, param ending_before
    try:
        body = decode_stripe(exc.detail, wire.StError).error
    except MediatorError:
        return False
    return body.code == "resource_missing" and body.param == "ending_before"


class _Identified(msgspec.Struct, frozen=True):
    id: object = None


_identify = msgspec.json.Decoder(_Identified)


def _event_id(raw: msgspec.Raw) -> str | None:
    # the cursor of a page is the id of its last row, whatever else is wrong with that row
    try:
        found = _identify.decode(raw).id
    except (msgspec.DecodeError, RecursionError):
        return None
    return found if isinstance(found, str) and 0 < len(found) <= 255 else None
