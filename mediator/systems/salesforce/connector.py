"""`SalesforceConnector`: SOQL reads to the last page, writes batched into sObject Collections.

Every call carries the OAuth session; a 401 ``INVALID_SESSION_ID`` gets one fresh grant and
the call once more. Salesforce signals its limits with 403 ``REQUEST_LIMIT_EXCEEDED`` and no
``Retry-After``: when the daily allowance (``Sforce-Limit-Info``, fed to the shared quota by
the transport) is spent the call fails with `QuotaExhausted` and the journal holds the work
until the reset; otherwise the refusal is the concurrent-request limit and the connector
pauses `limit_pause` seconds before trying again.
"""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import aiohttp
import msgspec

from mediator.clock import Clock
from mediator.codecs.records import Undecodable
from mediator.codecs.salesforce import errors as salesforce_errors
from mediator.codecs.salesforce.mapping import decode_salesforce, decode_salesforce_records
from mediator.codecs.salesforce.wire import (
    SfAccount,
    SfChangeOrder,
    SfContract,
    SfMilestone,
    SfOpportunity,
    SoqlPage,
)
from mediator.errors import MediatorError, QuotaExhausted, RemoteRejected
from mediator.policies import PolicyRegistry
from mediator.systems._reauth import send_with_reauth
from mediator.systems.connector import Command, Connector
from mediator.systems.http import HttpResponse
from mediator.systems.salesforce._collections import (
    chunk_updates,
    chunk_upserts,
    collection_body,
    read_results,
    update_body,
)
from mediator.systems.salesforce.auth import ClientCredentials, SalesforceAuth, SalesforceSession
from mediator.systems.salesforce.commands import ChangedRecords, UpdateRecord, UpsertRecord
from mediator.systems.secrets import Secret

__all__ = ["SalesforceConnector", "soql_datetime"]

R = TypeVar("R")

QUERY = "/services/data/query"
COLLECTIONS = "/services/data/composite/sobjects"


class SalesforceConnector(Connector):
    """Reads and writes one Salesforce org over REST; `execute_batch` takes `UpsertRecord`s
    and `UpdateRecord`s.

    `secret` returns the connected app's client secret (read at each token grant).
    `external_ids` names the external id field per object (default `default_external_id`).
    `query_batch_size` asks for smaller SOQL pages (``Sforce-Query-Options``, 200-2000).
    `multi_currency` selects ``CurrencyIsoCode`` (only multi-currency orgs have the field).
    """

    system = "salesforce"
    error_code = staticmethod(salesforce_errors.error_code)
    error_codes = salesforce_errors.ERROR_CODES

    def __init__(
        self,
        *,
        base_url: str,
        policies: PolicyRegistry,
        clock: Clock,
        credentials: ClientCredentials,
        secret: Callable[[], Secret],
        session: aiohttp.ClientSession | None = None,
        api_version: str = "61.0",
        external_ids: Mapping[str, str] | None = None,
        default_external_id: str = "External_Id__c",
        query_batch_size: int | None = None,
        multi_currency: bool = False,
        limit_pause: float = 5.0,
        inline_retry_cap: float = 30.0,
    ) -> None:
        super().__init__(
            base_url=base_url,
            policies=policies,
            clock=clock,
            session=session,
            inline_retry_cap=inline_retry_cap,
        )
        self.auth = SalesforceAuth(self.transport, credentials, secret)
        self.api_version = api_version
        self._external_ids = {k.lower(): v for k, v in (external_ids or {}).items()}
        self._default_external_id = default_external_id
        self._query_options = (
            {}
            if query_batch_size is None
            else {"Sforce-Query-Options": f"batchSize={query_batch_size}"}
        )
        self._multi_currency = multi_currency
        self.limit_pause = limit_pause

    @property
    def credential_loads(self) -> int:
        """How many token grants this connector asked for (each reads the client secret)."""
        return self.auth.logins

    @property
    def data_path(self) -> str:
        """The REST root of the API version in use, e.g. ``/services/data/v61.0``."""
        return f"/services/data/v{self.api_version}"

    def external_id_field(self, sobject: str) -> str:
        """The external id field upserts of `sobject` match on."""
        return self._external_ids.get(sobject.lower(), self._default_external_id)

    # -- reads ----------------------------------------------------------------------------------

    async def pages(
        self, soql: str, record_type: type[R], *, priority: str | None = None
    ) -> AsyncIterator[SoqlPage[R]]:
        """Yield every page of `soql`, following ``nextRecordsUrl`` until ``done``.

        `record_type` is a wire record (``SfAccount``, ``SfOpportunity``, ``SfMilestone``...);
        a record that does not fit raises `DecodeError` with its path. Each page is one call,
        retried in process while transient.
        """
        page_type = cast(Any, SoqlPage)[record_type]
        path, params = f"{self.data_path}/query", {"q": soql}
        next_url: str | None = path
        while next_url is not None:
            url, query = next_url, params if next_url is path else None

            async def fetch(url: str = url, query: dict[str, str] | None = query) -> HttpResponse:
                return await self._call(
                    "GET",
                    url,
                    endpoint=QUERY,
                    params=query,
                    headers=self._query_options,
                    priority=priority,
                )

            response = await self.run_with_retries(fetch, endpoint=QUERY)
            page = cast(SoqlPage[R], decode_salesforce(response.body, page_type))
            yield page
            next_url = None if page.done else page.nextRecordsUrl

    async def query_all(
        self, soql: str, record_type: type[R], *, priority: str | None = None
    ) -> list[R]:
        """Return every record of `soql` (all pages)."""
        records: list[R] = []
        async for page in self.pages(soql, record_type, priority=priority):
            records.extend(page.records)
        return records

    async def changed(
        self,
        sobject: str,
        record_type: type[R],
        *,
        where: str | None = None,
        since: datetime.datetime | None = None,
        priority: str | None = None,
    ) -> ChangedRecords[R]:
        """Records of `sobject` whose ``SystemModstamp`` is at or after `since` (all, when None).

        One SOQL query (``WHERE <where> AND SystemModstamp >= since ORDER BY SystemModstamp,
        Id``) paged through ``nextRecordsUrl``, selecting the fields of the wire type
        `record_type`. Inclusive, as Harvest's ``updated_since`` is: a record stamped in the
        same millisecond as the last one read, but committed after that read, is not skipped;
        the boundary records come again, and their idempotency keys (id and
        ``SystemModstamp``) make that a no-op in the journal. Each record is decoded apart: one
        that does not fit is in `rejected` with its field path, not a failed read.

        When the daily allowance runs out part-way (`QuotaExhausted`), the read stops there
        and returns what it read, with the watermark of what it read and `resets_at` set: the
        rest comes in a later read from that watermark, so nothing is skipped.
        """
        conditions = [where] if where else []
        if since is not None:
            conditions.append(f"SystemModstamp >= {soql_datetime(since)}")
        soql = f"SELECT {', '.join(self._select(record_type))} FROM {sobject}"
        if conditions:
            soql += " WHERE " + " AND ".join(conditions)
        # oldest change first, so a watermark taken part-way never skips a record
        soql += " ORDER BY SystemModstamp ASC, Id ASC"
        records: list[R] = []
        rejected: list[Undecodable] = []
        resets_at: float | None = None
        try:
            async for page in self.pages(soql, msgspec.Raw, priority=priority):
                decoded = decode_salesforce_records(page.records, record_type)
                records.extend(decoded.records)
                rejected.extend(decoded.rejected)
        except QuotaExhausted as exc:
            resets_at = exc.resets_at
        stamps = [cast(Any, r).SystemModstamp for r in records]
        stamps = [s for s in stamps if s is not None]
        stamps += [r.updated_at for r in rejected if r.updated_at is not None]
        return ChangedRecords(
            records=records,
            watermark=max(stamps, default=since),
            rejected=rejected,
            resets_at=resets_at,
        )

    async def accounts(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedRecords[SfAccount]:
        """Accounts changed at or after `since` (see `changed`)."""
        return await self.changed("Account", SfAccount, since=since, priority=priority)

    async def won_opportunities(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedRecords[SfOpportunity]:
        """Won Opportunities (``IsWon = true``) changed at or after `since` (see `changed`)."""
        return await self.changed(
            "Opportunity", SfOpportunity, where="IsWon = true", since=since, priority=priority
        )

    async def contracts(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedRecords[SfContract]:
        """Contracts changed at or after `since` (see `changed`)."""
        return await self.changed("Contract", SfContract, since=since, priority=priority)

    async def milestones(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedRecords[SfMilestone]:
        """``Milestone__c`` records changed at or after `since` (see `changed`)."""
        return await self.changed("Milestone__c", SfMilestone, since=since, priority=priority)

    async def change_orders(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedRecords[SfChangeOrder]:
        """``Change_Order__c`` records changed at or after `since` (see `changed`)."""
        return await self.changed("Change_Order__c", SfChangeOrder, since=since, priority=priority)

    def _select(self, record_type: type[Any]) -> list[str]:
        names = [f.encode_name for f in msgspec.structs.fields(record_type)]
        skip = {"attributes"} | (set() if self._multi_currency else {"CurrencyIsoCode"})
        return [n for n in names if n not in skip]

    # -- writes ---------------------------------------------------------------------------------

    async def execute_batch(self, commands: Sequence[Command]) -> Sequence[object]:
        """Send the batch through sObject Collections: one call per object and 200 records.

        `UpsertRecord`s go to ``PATCH /composite/sobjects/<object>/<external id field>``,
        `UpdateRecord`s to ``PATCH /composite/sobjects`` by record id. Returns, per command,
        `Upserted` or the error for that command: a record Salesforce refused is a
        `RemoteRejected` with its status code while the others commit (``allOrNone`` false);
        a call that failed as a whole fails each of its records.
        """
        results: list[object] = [None] * len(commands)
        upserts: dict[tuple[str, str, str | None], list[tuple[int, UpsertRecord]]] = {}
        updates: dict[tuple[str, str | None], list[tuple[int, UpdateRecord]]] = {}
        for index, command in enumerate(commands):
            if isinstance(command, UpsertRecord):
                field = command.external_id_field or self.external_id_field(command.sobject)
                key = (command.sobject, field, command.priority)
                upserts.setdefault(key, []).append((index, command))
            elif isinstance(command, UpdateRecord):
                updates.setdefault((command.sobject, command.priority), []).append((index, command))
            else:
                results[index] = TypeError(f"salesforce cannot run {type(command).__name__}")
        for (sobject, field, priority), items in upserts.items():
            path = f"{self.data_path}/composite/sobjects/{sobject}/{field}"
            for chunk in chunk_upserts(items):
                body = collection_body(sobject, field, [c for _, c in chunk])
                await self._send_chunk(path, body, priority, chunk, results)
        for (sobject, priority), changes in updates.items():
            path = f"{self.data_path}/composite/sobjects"
            for part in chunk_updates(changes):
                body = update_body(sobject, [c for _, c in part])
                await self._send_chunk(path, body, priority, part, results)
        return results

    async def _send_chunk(
        self,
        path: str,
        body: bytes,
        priority: str | None,
        chunk: Sequence[tuple[int, Command]],
        results: list[object],
    ) -> None:
        async def send() -> HttpResponse:
            return await self._call(
                "PATCH",
                path,
                endpoint=COLLECTIONS,
                body=body,
                headers={"Content-Type": "application/json"},
                priority=priority,
            )

        self.count_batch(len(chunk))
        outcomes: Sequence[object]
        try:
            response = await self.run_with_retries(
                send, endpoint=COLLECTIONS, attempt=min(c.attempt for _, c in chunk)
            )
            outcomes = read_results(self.system, response.body, len(chunk))
        except MediatorError as exc:
            outcomes = [exc] * len(chunk)
        for (index, _), outcome in zip(chunk, outcomes, strict=True):
            results[index] = outcome

    # -- one authorized call --------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        priority: str | None = None,
    ) -> HttpResponse:
        async def send(session: SalesforceSession) -> HttpResponse:
            url = path if path.startswith(("http://", "https://")) else session.instance_url + path
            try:
                return await self.transport.send(
                    method,
                    url,
                    endpoint=endpoint,
                    params=params,
                    body=body,
                    headers={**(headers or {}), **session.authorization()},
                    priority=priority,
                )
            except RemoteRejected as exc:
                if exc.code == "REQUEST_LIMIT_EXCEEDED" and exc.retry_after is None:
                    raise self._limit_refusal(exc, endpoint, priority) from exc
                raise

        return await send_with_reauth(
            self.system,
            send,
            await self.auth.session(),
            self.auth.refresh,
            refused="a fresh session was refused too",
        )

    def _limit_refusal(
        self, exc: RemoteRejected, endpoint: str, priority: str | None
    ) -> MediatorError:
        quota = self.transport.policy_for(endpoint).quota
        if quota is not None and quota.available(priority=priority) < 1:
            resets = quota.resets_at(priority=priority)
            return QuotaExhausted(self.system, resets, priority=priority or "")
        return RemoteRejected(
            self.system, exc.status, exc.code, exc.detail, retry_after=self.limit_pause
        )


def soql_datetime(moment: datetime.datetime) -> str:
    """Format `moment` as a SOQL datetime literal in UTC with milliseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    utc = moment.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
