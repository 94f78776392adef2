"""The operator's actions on the PostgreSQL journal, each written with its audit record.

The same actions and semantics as `SqliteOperatorStore` (mediator/journal/operator.py), run
as ops of the journal's group-commit transactions (`PostgresJournal.run_op`): an action that
is durable is audited, in the same transaction. Replays, redrives and the entries a release
unparks carry that transaction's id (`txid`), so whichever daemon holds their partition
delivers them (see _operator_ops).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import msgspec

from mediator.codecs import new_id
from mediator.journal.operator import (
    APPROVAL_COLUMNS,
    Approval,
    AuditRecord,
    approval_of,
)
from mediator.journal.postgres import _operator_ops as ops
from mediator.journal.postgres._operator_ops import Connection
from mediator.journal.records import DeadLetterFilter, Entry, ReleaseReport, ReplayReport

__all__ = ["OpRunner", "PostgresOperatorStore"]

T = TypeVar("T")

_SELECT_APPROVAL = f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?"


class OpRunner(Protocol):
    """What runs an op in one of the journal's transactions: `PostgresJournal`."""

    async def run_op(self, op: Callable[[Connection, float], Awaitable[T]]) -> T:
        """Run `op(conn, now)` inside a transaction; its result once committed."""
        ...


class PostgresOperatorStore:
    """The operator's actions on one PostgreSQL journal, each written with its audit record.

    Safe across daemons: the dead letter acted on is locked in the transaction, so two
    operators releasing or replaying it at once act once (the second finds none)."""

    def __init__(self, journal: OpRunner) -> None:
        self._journal = journal

    async def replay(
        self, where: DeadLetterFilter, *, audit: AuditRecord, max_replays: int = 3
    ) -> ReplayReport:
        """Replay the matching dead letters as new entries, audited; the caller queues
        `report.sent` for delivery."""

        async def op(conn: Connection, now: float) -> ReplayReport:
            report = await ops.replay(conn, now, where, False, max_replays)
            detail = f"sent {len(report.sent)}, quarantined {len(report.quarantined)}"
            await ops.insert_audit(conn, now, _with_detail(audit, detail))
            return report

        return await self._journal.run_op(op)

    async def redrive(self, entry_id: str, *, audit: AuditRecord) -> Entry:
        """Deliver a delivered entry again with its original idempotency key, audited; raise
        `LookupError` if `entry_id` is no delivered entry."""

        async def op(conn: Connection, now: float) -> Entry | None:
            fresh = await ops.redrive(conn, now, entry_id)
            if fresh is not None:
                await ops.insert_audit(conn, now, _with_detail(audit, f"sent {fresh.id}"))
            return fresh

        fresh = await self._journal.run_op(op)
        if fresh is None:
            raise LookupError(f"no delivered entry with id {entry_id}")
        return fresh

    async def note(self, audit: AuditRecord) -> None:
        """Write an audit record of an action kept outside the entries."""

        async def op(conn: Connection, now: float) -> None:
            await ops.insert_audit(conn, now, audit)

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
            report = await ops.release(conn, now, entry_id, reason, audit.who, discard=discard)
            if report is not None:
                await ops.insert_audit(conn, now, audit)
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
            await ops.execute(
                conn,
                f"INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
                "ON CONFLICT (id) DO NOTHING",
                (approval.id, flow, entity, what, amount, currency, now, approval.state,
                 None, None, None),
            )  # fmt: skip
            return approval_of((await ops.rows(conn, _SELECT_APPROVAL, (approval.id,)))[0])

        return await self._journal.run_op(op)

    async def decide(
        self, approval_id: str, *, approve: bool, reason: str, audit: AuditRecord
    ) -> Approval:
        """Approve or reject a pending request, audited; raise `LookupError` if there is no
        pending request with that id (a decision is made once)."""

        async def op(conn: Connection, now: float) -> Approval | None:
            changed = await ops.execute(
                conn,
                "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, reason = ? "
                "WHERE id = ? AND state = 'pending'",
                ("approved" if approve else "rejected", audit.who, now, reason, approval_id),
            )
            if not changed:
                return None
            await ops.insert_audit(conn, now, audit)
            return approval_of((await ops.rows(conn, _SELECT_APPROVAL, (approval_id,)))[0])

        decided = await self._journal.run_op(op)
        if decided is None:
            raise LookupError(f"no pending approval with id {approval_id}")
        return decided


def _with_detail(audit: AuditRecord, detail: str) -> AuditRecord:
    return msgspec.structs.replace(audit, detail=detail)
