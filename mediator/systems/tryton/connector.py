"""`TrytonConnector`: a Tryton ERP database over JSON-RPC, as one system actor's connector.

Reads are ``search_read`` in pages of `page_size` (offset/limit, ordered by id) until a short
page; like trytond itself they do not see archived (inactive) records. Writes are
`CreateRecord` (queued creates of one model coalesced into one list ``create`` after one lookup
of their references), `WriteRecord` (queued writes of one model as one ``write``),
`PostInvoice` (create, validate, post) and `ApplyPayment` (the pay wizard, for what is not
paid yet); `mediator.systems.tryton.writes`, `.updates` and `.payments` have the how. The
lookup sees archived records too: a party
whose code is the reference but which was archived is refused with `BusinessRejected` naming
the reference and the record (a dead letter to reactivate and replay), never created twice
and never reactivated behind the back of whoever archived it. Every call goes through the
shared policies (bulkhead: trytond serves SQLite with one worker) and `run_with_retries`.
Every read takes a `priority`, the class its calls are admitted in (``reconciliation`` reads
below the live flows: the bulkhead's `shares`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence

import aiohttp

from mediator.clock import Clock
from mediator.codecs.canonical.commands import PostTimesheetLine
from mediator.codecs.tryton import RpcValue
from mediator.codecs.tryton import errors as tryton_errors
from mediator.codecs.tryton.mapping import ErpSetup
from mediator.errors import DecodeError, MediatorError, MissingReference
from mediator.policies import PolicyRegistry
from mediator.systems.connector import Command, Connector
from mediator.systems.secrets import Secret
from mediator.systems.tryton.canonical import recorded, timesheet_line_create
from mediator.systems.tryton.commands import ApplyPayment, CreateRecord, PostInvoice, WriteRecord
from mediator.systems.tryton.payments import apply_payment
from mediator.systems.tryton.session import TrytonSession, TrytonSessions
from mediator.systems.tryton.updates import write_records
from mediator.systems.tryton.writes import create_records, post_invoice

__all__ = ["TrytonConnector"]

Row = dict[str, RpcValue]


class TrytonConnector(Connector):
    """One Tryton database, logged in as `login` with the password `secret` returns.

    `max_create` bounds one list ``create``; `page_size` is the default page of reads.
    `setup` holds this database's company and accounting ids, which the canonical commands
    (`PostTimesheetLine`) need and do not carry.
    """

    system = "tryton"
    error_code = staticmethod(tryton_errors.error_code)
    error_codes = tryton_errors.ERROR_CODES

    def __init__(
        self,
        *,
        base_url: str,
        database: str,
        login: str,
        secret: Callable[[], Secret],
        policies: PolicyRegistry,
        clock: Clock,
        session: aiohttp.ClientSession | None = None,
        page_size: int = 100,
        max_create: int = 100,
        inline_retry_cap: float = 30.0,
        setup: ErpSetup | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            policies=policies,
            clock=clock,
            session=session,
            inline_retry_cap=inline_retry_cap,
        )
        self.sessions = TrytonSessions(
            self.transport,
            database=database,
            login=login,
            secret=secret,
        )
        self.page_size = page_size
        self.max_create = max_create
        #: the company and accounting ids canonical commands are filled in with
        self.setup = setup
        # project.work id → the timesheet.work its lines are booked on (a project's never
        # changes once it is available on timesheets: learnt once per connector)
        self._timesheet_works: dict[int, int] = {}

    @property
    def credential_loads(self) -> int:
        """How many times this connector has logged in (reading the password each time)."""
        return self.sessions.logins

    @property
    def session(self) -> TrytonSession | None:
        """The session in use, if logged in."""
        return self.sessions.session

    # -- calls --------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        *args: RpcValue,
        attempt: int = 1,
        context: Mapping[str, RpcValue] | None = None,
        priority: str | None = None,
    ) -> RpcValue:
        """Call `method` (``model.party.party.read``) with `args`; the context is appended.

        `context` adds to the session's context for this call (``{"active_test": False}``).
        Transient failures are retried on the clock (`run_with_retries`); a lost session is
        replaced once per call. Raises `RemoteRejected` with the exception name as `code`
        (``UserError``) when Tryton refuses. `priority` is the class the call is admitted in.
        """
        return await self.run_with_retries(
            lambda: self.call_once(method, *args, context=context, priority=priority),
            endpoint=method,
            attempt=attempt,
        )

    async def call_once(
        self,
        method: str,
        *args: RpcValue,
        context: Mapping[str, RpcValue] | None = None,
        priority: str | None = None,
    ) -> RpcValue:
        """Call `method` once, without retries (for steps retried as a unit).

        `context` adds to the session's context for this call (``{"active_test": False}``).
        """
        return await self.sessions.call(method, list(args), context, priority=priority)

    async def search_read(
        self,
        model: str,
        domain: list[RpcValue],
        fields: Sequence[str],
        *,
        page_size: int | None = None,
        archived: bool = False,
        priority: str | None = None,
    ) -> list[Row]:
        """Every `model` record matching `domain`, by id, reading page after page to the end.

        Archived (inactive) records are left out, as Tryton leaves them out, unless `archived`.
        """
        limit = page_size or self.page_size
        rows: list[Row] = []
        context: dict[str, RpcValue] | None = {"active_test": False} if archived else None
        while True:
            page = await self.call(
                f"model.{model}.search_read",
                domain,
                len(rows),
                limit,
                [["id", "ASC"]],
                list(fields),
                context=context,
                priority=priority,
            )
            found = _rows(page, model)
            rows.extend(found)
            if len(found) < limit:
                return rows

    async def changed_since(
        self,
        model: str,
        since: dt.datetime,
        fields: Sequence[str],
        *,
        domain: Sequence[RpcValue] = (),
        page_size: int | None = None,
        priority: str | None = None,
    ) -> list[Row]:
        """Records of `model` created or written at or after `since`: an incremental read.

        Tryton stamps ``create_date``/``write_date`` in UTC; an aware `since` is converted, a
        naive one is taken as UTC. Keep the newest stamp read as the next watermark. Archived
        records are included: archiving is a write, and a reader that missed it would go on
        treating the record as live (ask for ``active`` to tell them apart).
        """
        window: list[RpcValue] = ["OR", ["create_date", ">=", since], ["write_date", ">=", since]]
        return await self.search_read(
            model,
            [window, *domain],
            fields,
            page_size=page_size,
            archived=True,
            priority=priority,
        )

    async def read(
        self,
        model: str,
        ids: Sequence[int],
        fields: Sequence[str],
        *,
        priority: str | None = None,
    ) -> list[Row]:
        """Read `fields` of the `model` records `ids`, in that order."""
        answer = await self.call(f"model.{model}.read", list(ids), list(fields), priority=priority)
        return _rows(answer, model)

    # -- writes -------------------------------------------------------------------------------

    async def _timesheet_works_of(self, lines: Sequence[PostTimesheetLine]) -> dict[int, int]:
        """The timesheet work of each line's project (``project.work`` → the
        ``timesheet.work`` a line's `work` must name: Tryton makes one for a project available
        on timesheets); those not learnt before read in one call. A project with none is left
        out (its lines are refused by name, not booked on another record)."""
        wanted = {int(line.project) for line in lines} - self._timesheet_works.keys()
        if wanted:
            # a search, not a read: an id that is no project (a wrong xref) must refuse its
            # own lines, not fail the batch with every other project's
            ids: list[RpcValue] = [*sorted(wanted)]
            rows = await self.search_read(
                "project.work", [["id", "in", ids]], ["timesheet_works"], archived=True
            )
            for row in rows:
                found = row.get("timesheet_works")
                if isinstance(found, list) and found and isinstance(found[0], int):
                    self._timesheet_works[int(str(row["id"]))] = found[0]
        return self._timesheet_works

    async def execute_batch(self, commands: Sequence[Command]) -> Sequence[object]:
        """Creates of one model as one list create each, then writes of one model as one
        write each; invoices and payments one by one.

        Canonical commands are mapped to Tryton's first (`canonical`) and answered in
        canonical terms. Returns a `RecordRef`, `Written`, `PostedInvoice`, `AppliedPayment` or
        `Recorded` per command, or the error that command met.
        """
        results: list[object] = [None] * len(commands)
        creates: list[tuple[int, CreateRecord]] = []
        canonical: set[int] = set()
        lines = [c for c in commands if isinstance(c, PostTimesheetLine)]
        works = await self._timesheet_works_of(lines) if lines and self.setup else {}
        for index, command in enumerate(commands):
            if isinstance(command, CreateRecord):
                creates.append((index, command))
            elif isinstance(command, PostTimesheetLine):
                if self.setup is None:
                    # a wiring bug, not a bad message: the Mediator always passes the setup
                    results[index] = ValueError("PostTimesheetLine needs TrytonConnector(setup=)")
                    continue
                work = works.get(int(command.project))
                if work is None:
                    results[index] = MissingReference(
                        "project",
                        f"ERP project (project.work {command.project}) has no timesheet work: "
                        "make it available on timesheets in Tryton, then replay the entry",
                    )
                    continue
                creates.append((index, timesheet_line_create(command, self.setup, work=work)))
                canonical.add(index)
        for (index, _), result in zip(
            creates, await create_records(self, [c for _, c in creates]), strict=True
        ):
            results[index] = recorded(result) if index in canonical else result
        writes = [(i, c) for i, c in enumerate(commands) if isinstance(c, WriteRecord)]
        for (index, _), result in zip(
            writes, await write_records(self, [c for _, c in writes]), strict=True
        ):
            results[index] = result
        for index, command in enumerate(commands):
            if isinstance(command, PostInvoice | ApplyPayment):
                try:
                    results[index] = await (
                        post_invoice(self, command)
                        if isinstance(command, PostInvoice)
                        else apply_payment(self, command)
                    )
                except MediatorError as exc:
                    results[index] = exc
            elif results[index] is None and not isinstance(command, CreateRecord | WriteRecord):
                results[index] = TypeError(f"not a Tryton command: {type(command).__name__}")
        return results


def _rows(answer: RpcValue, model: str) -> list[Row]:
    if not isinstance(answer, list) or not all(isinstance(row, dict) for row in answer):
        raise DecodeError("tryton", "$.result", f"{model}: expected a list of records")
    return answer  # type: ignore[return-value]  # checked: a list of dicts
