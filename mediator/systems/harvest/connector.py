"""`HarvestConnector`: Harvest API v2 with its three headers, cursor pages, idempotent writes.

Every call sends ``Authorization: Bearer``, ``Harvest-Account-Id`` and a ``User-Agent`` naming
the app and a contact (Harvest refuses a call without one). Personal access tokens do not
refresh: on 401 the token is loaded again from its source (an env variable or a file that an
operator or a secret manager rotates) and the call is made once more. 429 answers carry
``Retry-After``; the transport pauses the shared limiter (100 requests / 15 s by default) and
`run_with_retries` waits it out. Harvest has no bulk endpoint, so a batch is one look-up per
scope and then one call per command, `concurrency` at a time; `UpdateProject` is one PATCH of
a project named by id, with no look-up. Every read takes a `priority`, the class its calls
are admitted in (``reconciliation`` reads below the live flows: the limiter's `shares`).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from typing import TypeVar

import aiohttp
import msgspec

from mediator._task_group import TaskGroup
from mediator.clock import Clock
from mediator.codecs.harvest import errors as harvest_errors
from mediator.codecs.harvest import wire
from mediator.codecs.harvest.mapping import (
    decode_harvest,
    decode_harvest_records,
    is_approved,
)
from mediator.codecs.records import Undecodable
from mediator.errors import DecodeError, MediatorError
from mediator.policies import PolicyRegistry
from mediator.systems._reauth import ReloadedSecret, send_with_reauth
from mediator.systems.connector import Command, Connector
from mediator.systems.harvest._write_specs import KINDS, Kind, Listing
from mediator.systems.harvest.commands import ChangedEntries, HarvestWritten, UpdateProject
from mediator.systems.http import HttpResponse
from mediator.systems.secrets import Secret

__all__ = ["HarvestConnector"]

P = TypeVar("P", bound=wire.HvPage)
MAX_PER_PAGE = 2000
_encode = msgspec.json.Encoder(decimal_format="number").encode  # Harvest takes rates as numbers


class HarvestConnector(Connector):
    """Reads and writes one Harvest account; `execute_batch` takes the commands of `commands`.

    `secret` loads the personal access token (e.g. ``lambda: load_secret("file:/run/token")``);
    it is called at the first request and again after a 401. `per_page` sizes list pages.
    """

    system = "harvest"
    error_code = staticmethod(harvest_errors.error_code)
    error_codes = harvest_errors.ERROR_CODES

    def __init__(
        self,
        *,
        base_url: str,
        policies: PolicyRegistry,
        clock: Clock,
        account_id: str,
        secret: Callable[[], Secret],
        user_agent: str,
        session: aiohttp.ClientSession | None = None,
        per_page: int = MAX_PER_PAGE,
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
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1 to {MAX_PER_PAGE}")
        self.account_id = account_id
        self.per_page = per_page
        self.concurrency = concurrency
        self._token = ReloadedSecret(self.system, secret)
        self._user_agent = user_agent

    @property
    def credential_loads(self) -> int:
        """How many times the token was loaded from its source."""
        return self._token.loads

    # -- reads ----------------------------------------------------------------------------------

    async def pages(
        self,
        path: str,
        page_type: type[P],
        params: Mapping[str, str] | None = None,
        *,
        endpoint: str | None = None,
        retry: bool = True,
        priority: str | None = None,
    ) -> AsyncIterator[P]:
        """Yield every page of a list, following ``links.next`` until it is null.

        The first request carries `params` and ``per_page``; the next ones are exactly the
        links Harvest gave (opaque cursors, never built here). `endpoint` names the policy
        target (default `path`). Each page is retried in process while transient, unless
        `retry` is false (a caller that owns the retries itself). `priority` is the class
        every page is admitted in (None: the live flows').
        """
        target = endpoint or path
        url: str | None = path
        query: dict[str, str] | None = {"per_page": str(self.per_page), **(params or {})}
        while url is not None:

            async def fetch(url: str = url, query: dict[str, str] | None = query) -> HttpResponse:
                return await self._call(
                    "GET", url, endpoint=target, params=query, priority=priority
                )

            response = await (self.run_with_retries(fetch, endpoint=target) if retry else fetch())
            page = decode_harvest(response.body, page_type)
            yield page
            url, query = page.links.next, None

    async def approved_time_entries(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedEntries[wire.HvTimeEntry]:
        """Approved time entries updated at or after `since` (all, when None).

        Each entry is decoded apart: one that does not decode is in `rejected`, with its field
        path, and the others are read all the same.
        """
        entries: list[wire.HvTimeEntry] = []
        rejected: list[Undecodable] = []
        params = _approved_since(since)
        pages = self.pages("/v2/time_entries", wire.HvRawTimeEntryPage, params, priority=priority)
        async for page in pages:
            decoded = decode_harvest_records(page.time_entries, wire.HvTimeEntry, "$.time_entries")
            entries.extend(e for e in decoded.records if is_approved(e))
            rejected.extend(decoded.rejected)
        return _changed(entries, rejected, since)

    async def approved_expenses(
        self, *, since: datetime.datetime | None = None, priority: str | None = None
    ) -> ChangedEntries[wire.HvExpense]:
        """Approved expenses updated at or after `since` (all, when None); decoded apart, as
        `approved_time_entries` decodes entries."""
        expenses: list[wire.HvExpense] = []
        rejected: list[Undecodable] = []
        params = _approved_since(since)
        pages = self.pages("/v2/expenses", wire.HvRawExpensePage, params, priority=priority)
        async for page in pages:
            decoded = decode_harvest_records(page.expenses, wire.HvExpense, "$.expenses")
            expenses.extend(e for e in decoded.records if is_approved(e))
            rejected.extend(decoded.rejected)
        return _changed(expenses, rejected, since)

    async def users(self, *, priority: str | None = None) -> list[wire.HvUser]:
        """Every user of the account (active or not), reading every page."""
        pages = self.pages("/v2/users", wire.HvUserPage, priority=priority)
        return [user async for page in pages for user in page.users]

    async def tasks(self, *, priority: str | None = None) -> list[wire.HvTask]:
        """Every task of the account (active or not), reading every page."""
        pages = self.pages("/v2/tasks", wire.HvTaskPage, priority=priority)
        return [task async for page in pages for task in page.tasks]

    async def project(self, project_id: int, *, priority: str | None = None) -> wire.HvProject:
        """The project `project_id` (``GET /v2/projects/{id}``); `RemoteRejected` (404) when
        there is none."""

        async def fetch() -> HttpResponse:
            path = f"/v2/projects/{project_id}"
            return await self._call("GET", path, endpoint="/v2/projects", priority=priority)

        response = await self.run_with_retries(fetch, endpoint="/v2/projects")
        return decode_harvest(response.body, wire.HvProject)

    async def task_assignments(
        self, project_id: int, *, priority: str | None = None
    ) -> list[wire.HvTaskAssignment]:
        """Every task assignment of the project `project_id`, with its task's id and name."""
        found: list[wire.HvTaskAssignment] = []
        path = f"/v2/projects/{project_id}/task_assignments"
        pages = self.pages(
            path,
            wire.HvTaskAssignmentPage,
            endpoint="/v2/projects/*/task_assignments",
            priority=priority,
        )
        async for page in pages:
            found.extend(page.task_assignments)
        return found

    # -- writes ---------------------------------------------------------------------------------

    async def execute_batch(self, commands: Sequence[Command]) -> Sequence[object]:
        """Write each command once: look its record up, create it if absent (or update it).

        One listing per scope (all clients; a client's projects; a project's assignments or
        time entries for the batch's dates) serves the whole batch. Returns `HarvestWritten`
        or the error of each command; a failed look-up fails the commands of its scope.
        """
        results: list[object] = [None] * len(commands)
        scopes: dict[tuple[type[Command], Hashable], list[int]] = {}
        updates: list[int] = []
        for index, command in enumerate(commands):
            if isinstance(command, UpdateProject):
                updates.append(index)
                continue
            kind = KINDS.get(type(command))
            if kind is None:
                results[index] = TypeError(f"harvest cannot run {type(command).__name__}")
                continue
            scopes.setdefault((type(command), kind.scope(command)), []).append(index)
        self.count_batch(len(commands))
        gate = asyncio.Semaphore(self.concurrency)

        async def run_scope(kind: Kind, indexes: list[int]) -> None:
            members = [commands[i] for i in indexes]
            try:
                async with gate:
                    known = await self._index(kind, kind.listing(members))
            except MediatorError as exc:
                for i in indexes:
                    results[i] = exc
                return
            # the same record twice in one batch: the later write must see the earlier one
            by_key: dict[str, list[int]] = {}
            for i in indexes:
                by_key.setdefault(kind.key(commands[i]), []).append(i)
            async with TaskGroup() as group:
                for same in by_key.values():
                    group.create_task(run_key(kind, same, known))

        async def run_key(kind: Kind, indexes: list[int], known: dict[str, int]) -> None:
            for i in indexes:
                async with gate:
                    results[i] = await self._write(kind, commands[i], known)

        async def run_update(index: int) -> None:
            command = commands[index]
            assert isinstance(command, UpdateProject)
            async with gate:
                results[index] = await self._update_project(command)

        async with TaskGroup() as group:
            for (command_type, _), indexes in scopes.items():
                group.create_task(run_scope(KINDS[command_type], indexes))
            for index in updates:
                group.create_task(run_update(index))
        return results

    async def _update_project(self, command: UpdateProject) -> object:
        path = f"/v2/projects/{command.project_id}"

        async def attempt() -> HarvestWritten:
            await self._call("PATCH", path, endpoint="/v2/projects", body=dict(command.fields))
            return HarvestWritten(id=command.project_id, created=False)

        try:
            return await self.run_with_retries(
                attempt, endpoint="/v2/projects", attempt=command.attempt
            )
        except MediatorError as exc:
            return exc

    async def _index(self, kind: Kind, listing: Listing, *, retry: bool = True) -> dict[str, int]:
        known: dict[str, int] = {}
        pages = self.pages(
            listing.path, listing.page, listing.params, endpoint=kind.endpoint, retry=retry
        )
        async for page in pages:
            known.update(kind.keys_of(page))
        return known

    async def _write(self, kind: Kind, command: Command, known: dict[str, int]) -> object:
        key = kind.key(command)
        first = True

        async def attempt() -> HarvestWritten:
            nonlocal first
            if not first:
                # the last try may have been carried out with its answer lost: look again
                # (inside this write's own retries: the look-up is not retried on its own)
                again = await self._index(kind, kind.listing([command]), retry=False)
                known.update(again)
            first = False
            found = known.get(key)
            if found is not None:
                if kind.updates_existing:
                    path, body = kind.update(command, found)
                    await self._call("PATCH", path, endpoint=kind.endpoint, body=body)
                return HarvestWritten(id=found, created=False)
            path, body = kind.create(command)
            response = await self._call("POST", path, endpoint=kind.endpoint, body=body)
            made = _created_id(self.system, response)
            known[key] = made
            return HarvestWritten(id=made, created=True)

        try:
            return await self.run_with_retries(
                attempt, endpoint=kind.endpoint, attempt=command.attempt
            )
        except MediatorError as exc:
            return exc

    # -- one authorized call --------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        body: dict[str, object] | None = None,
        priority: str | None = None,
    ) -> HttpResponse:
        headers = {"Harvest-Account-Id": self.account_id, "User-Agent": self._user_agent}
        if body is not None:
            headers["Content-Type"] = "application/json"
        sent = None if body is None else _encode({k: v for k, v in body.items() if v is not None})

        async def send(token: Secret) -> HttpResponse:
            return await self.transport.send(
                method,
                path,
                endpoint=endpoint,
                params=params,
                body=sent,
                headers={**headers, "Authorization": f"Bearer {token.reveal()}"},
                priority=priority,
            )

        return await send_with_reauth(
            self.system,
            send,
            self._token.current(),
            self._token.reload,
            refused="a reloaded token was refused too",
        )


class _Created(msgspec.Struct, frozen=True):
    id: int


def _created_id(system: str, response: HttpResponse) -> int:
    try:
        return msgspec.json.decode(response.body, type=_Created).id
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise DecodeError(system, "$.id", f"created record without an id: {exc}") from exc


def _approved_since(since: datetime.datetime | None) -> dict[str, str]:
    params = {"approval_status": "approved"}
    if since is not None:
        utc = since.astimezone(datetime.UTC) if since.tzinfo else since
        params["updated_since"] = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return params


R = TypeVar("R", wire.HvTimeEntry, wire.HvExpense)


def _changed(
    records: list[R], rejected: list[Undecodable], since: datetime.datetime | None
) -> ChangedEntries[R]:
    # A rejected record's stamp counts: were it the newest, the watermark would otherwise stay
    # behind it and every later poll would read it again.
    stamps = [r.updated_at for r in records if r.updated_at is not None]
    stamps += [r.updated_at for r in rejected if r.updated_at is not None]
    return ChangedEntries(records=records, watermark=max(stamps, default=since), rejected=rejected)
