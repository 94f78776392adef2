"""The operator's actions on the PostgreSQL journal, each written with its audit record.

The same actions and semantics as `SqliteOperatorStore` (mediator/journal/operator.py), run
as ops of the journal's group-commit transactions (`PostgresJournal.run_op`) with the
journal's own replay, redrive and release ops (_ops): an action that is durable is audited,
in the same transaction. Replays, redrives and the entries a release unparks carry that
transaction's id (`txid`), so whichever daemon holds their partition delivers them; the dead
letter acted on is locked, so two daemons' operators acting on it at once act once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import msgspec

from mediator.codecs import new_id
from mediator.journal.operator import APPROVAL_COLUMNS, Approval, AuditRecord, approval_of
from mediator.journal.postgres import _ops
from mediator.journal.postgres._ops import Connection
from mediator.journal.postgres._rows import numbered
from mediator.journal.records import (
    DeadLetterFilter,
    Entry,
    EntryState,
    ReleaseReport,
    ReplayReport,
)

__all__ = ["OpRunner", "PostgresOperatorStore"]

T = TypeVar("T")

_SELECT_APPROVAL = f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1"
_INSERT_APPROVAL = numbered(
    f"INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT (id) DO NOTHING"
)


class OpRunner(Protocol):
    """What runs an op in one of the journal's transactions: `PostgresJournal`."""

    async def run_op(self, op: Callable[[Connection, float], Awaitable[T]]) -> T:
        """Run `op(conn, now)` inside a transaction; its result once committed."""
        ...


class PostgresOperatorStore:
    """The operator's actions on one PostgreSQL journal, each written with its audit record."""

    def __init__(self, journal: OpRunner) -> None:
        self._journal = journal

    async def replay(
        self, where: DeadLetterFilter, *, audit: AuditRecord, max_replays: int = 3
    ) -> ReplayReport:
        """Replay the matching dead letters as new entries, audited; the caller queues
        `report.sent` for delivery."""

        async def op(conn: Connection, now: float) -> ReplayReport:
            report = await _ops.replay(conn, now, where, False, max_replays)
            detail = f"sent {len(report.sent)}, quarantined {len(report.quarantined)}"
            await _insert_audit(conn, now, msgspec.structs.replace(audit, detail=detail))
            return report

        return await self._journal.run_op(op)

    async def redrive(self, entry_id: str, *, audit: AuditRecord) -> Entry:
        """Deliver a delivered entry again with its original idempotency key, audited; raise
        `LookupError` if `entry_id` is no delivered entry."""

        async def op(conn: Connection, now: float) -> Entry | None:
            fresh = await _ops.redrive(conn, now, entry_id)
            if fresh is not None:
                detail = f"sent {fresh.id}"
                await _insert_audit(conn, now, msgspec.structs.replace(audit, detail=detail))
            return fresh

        fresh = await self._journal.run_op(op)
        if fresh is None:
            raise LookupError(f"no delivered entry with id {entry_id}")
        return fresh

    async def note(self, audit: AuditRecord) -> None:
        """Write an audit record of an action kept outside the entries."""

        async def op(conn: Connection, now: float) -> None:
            await _insert_audit(conn, now, audit)

        await self._journal.run_op(op)

    async def release(self, entry_id: str, *, reason: str, audit: AuditRecord) -> ReleaseReport:
        """Close a dead letter without sending it, audited; raise `LookupError` if `entry_id`
        is no open dead letter."""
        return await self._close(entry_id, reason, audit, discard=False)

    async def discard(self, entry_id: str, *, reason: str, audit: AuditRecord) -> ReleaseReport:
        """Close a dead letter for good as `DISCARDED`, audited; raise `LookupError` if
        `entry_id` is no open dead letter (see `SqliteOperatorStore.discard`)."""
        return await self._close(entry_id, reason, audit, discard=True)

    async def _close(
        self, entry_id: str, reason: str, audit: AuditRecord, *, discard: bool
    ) -> ReleaseReport:
        async def op(conn: Connection, now: float) -> ReleaseReport | None:
            report = await _ops.release(conn, now, entry_id, reason, audit.who)
            if report is None:
                return None
            if discard:
                await conn.execute(
                    "UPDATE entries SET state = $1 WHERE id = $2",
                    int(EntryState.DISCARDED), bytes.fromhex(entry_id),
                )  # fmt: skip
                released = msgspec.structs.replace(report.released, state=EntryState.DISCARDED)
                report = ReleaseReport(released=released, unparked=report.unparked)
            await _insert_audit(conn, now, audit)
            return report

        report = await self._journal.run_op(op)
        if report is None:
            raise LookupError(f"no open dead letter with id {entry_id}")
        return report

    async def request_approval(
        self,
        *,
        flow: str,
        entity: str,
        what: str,
        amount: int | None = None,
        currency: str | None = None,
        approval_id: str | None = None,
    ) -> Approval:
        """File a pending approval request of `flow` about `entity` (durable on return);
        with `approval_id`, a request already filed is returned as it is now."""

        async def op(conn: Connection, now: float) -> Approval:
            approval = Approval(
                id=approval_id or new_id(), flow=flow, entity=entity, what=what,
                amount=amount, currency=currency, requested_at=now,
            )  # fmt: skip
            await conn.execute(_INSERT_APPROVAL, *msgspec.structs.astuple(approval))
            return approval_of(tuple(await conn.fetchrow(_SELECT_APPROVAL, approval.id) or ()))

        return await self._journal.run_op(op)

    async def decide(
        self, approval_id: str, *, approve: bool, reason: str, audit: AuditRecord
    ) -> Approval:
        """Approve or reject a pending request, audited; raise `LookupError` if there is no
        pending request with that id (a decision is made once)."""

        async def op(conn: Connection, now: float) -> Approval | None:
            row = await conn.fetchrow(
                "UPDATE approvals SET state = $1, decided_by = $2, decided_at = $3, reason = $4 "
                f"WHERE id = $5 AND state = 'pending' RETURNING {APPROVAL_COLUMNS}",
                "approved" if approve else "rejected", audit.who, now, reason, approval_id,
            )  # fmt: skip
            if row is None:
                return None
            await _insert_audit(conn, now, audit)
            return approval_of(tuple(row))

        decided = await self._journal.run_op(op)
        if decided is None:
            raise LookupError(f"no pending approval with id {approval_id}")
        return decided


async def _insert_audit(conn: Connection, now: float, audit: AuditRecord) -> None:
    await conn.execute(
        "INSERT INTO audit (at, who, role, action, target, reason, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        now, audit.who, audit.role, audit.action, audit.target, audit.reason, audit.detail,
    )  # fmt: skip
