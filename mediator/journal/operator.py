"""The operator's writes: replay, release and discard of dead letters, and approvals, audited.

Every action an operator takes through the admin API is written together with its audit
record (who, role, when, what, on what, why) in one journal transaction: an action that is
durable is audited, and an audit record never names an action that did not happen. The
writes go through the journal's one writer like every other write (on PostgreSQL, its
group-commit transactions: postgres/operator.py); reads of the audit log and the approvals
go through `JournalReader` (reads.py), never the writer.

Approvals are generic: a flow that must hold a posting for a person (see
`mediator.policies.ApprovalRules`) files a request with `request_approval`; an operator
approves or rejects it, and the flow reads the decision back with `approval`.
"""

from __future__ import annotations

import sqlite3
from functools import partial
from typing import Literal, Protocol, cast

import msgspec

from mediator.codecs import new_id
from mediator.journal import _ops
from mediator.journal.records import (
    DeadLetterFilter,
    Entry,
    EntryState,
    ReleaseReport,
    ReplayReport,
)
from mediator.journal.sqlite import SqliteJournal

__all__ = [
    "APPROVAL_COLUMNS",
    "Approval",
    "AuditRecord",
    "OperatorStore",
    "SqliteOperatorStore",
    "approval_of",
    "audit_of",
]

ApprovalState = Literal["pending", "approved", "rejected"]


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One operator action: who (the token's name) with which role, when, what, on what, why.

    `detail` is a short summary of the outcome (``sent 2, quarantined 1``); `seq` orders the
    log (0 until written).
    """

    who: str
    role: str
    action: str
    target: str
    reason: str | None = None
    detail: str | None = None
    at: float = 0.0
    seq: int = 0


class Approval(msgspec.Struct, frozen=True, kw_only=True):
    """A request of a flow for a person's approval, and its decision once made.

    `what` says what waits (``post invoice in_1 to the ledger``); `amount` is in minor units
    of `currency` when the request is about money.
    """

    id: str
    flow: str
    entity: str
    what: str
    amount: int | None = None
    currency: str | None = None
    requested_at: float
    state: ApprovalState = "pending"
    decided_by: str | None = None
    decided_at: float | None = None
    reason: str | None = None


APPROVAL_COLUMNS = (
    "id, flow, entity, what, amount, currency, requested_at, state, decided_by, decided_at, reason"
)


def approval_of(row: tuple[object, ...]) -> Approval:
    """Rebuild an approval from a row of APPROVAL_COLUMNS."""
    names = APPROVAL_COLUMNS.split(", ")
    return msgspec.convert(dict(zip(names, row, strict=True)), Approval)


def audit_of(row: tuple[object, ...]) -> AuditRecord:
    """Rebuild an audit record from a row of (seq, at, who, role, action, target, reason,
    detail)."""
    seq, at, who, role, action, target, reason, detail = row
    return AuditRecord(
        seq=int(cast(int, seq)),
        at=float(cast(float, at)),
        who=str(who),
        role=str(role),
        action=str(action),
        target=str(target),
        reason=None if reason is None else str(reason),
        detail=None if detail is None else str(detail),
    )


class OperatorStore(Protocol):
    """The operator's actions on a journal, each written with its audit record in one
    transaction: `SqliteOperatorStore` here, `PostgresOperatorStore` on PostgreSQL."""

    async def replay(
        self, where: DeadLetterFilter, *, audit: AuditRecord, max_replays: int = 3
    ) -> ReplayReport:
        """Replay the matching dead letters as new entries, audited; the caller queues
        `report.sent` for delivery."""
        ...

    async def redrive(self, entry_id: str, *, audit: AuditRecord) -> Entry:
        """Deliver a delivered entry again with its original idempotency key, audited; raise
        `LookupError` if `entry_id` is no delivered entry."""
        ...

    async def note(self, audit: AuditRecord) -> None:
        """Write an audit record of an action kept outside the entries."""
        ...

    async def release(self, entry_id: str, *, reason: str, audit: AuditRecord) -> ReleaseReport:
        """Close a dead letter without sending it, audited; raise `LookupError` if `entry_id`
        is no open dead letter."""
        ...

    async def discard(self, entry_id: str, *, reason: str, audit: AuditRecord) -> ReleaseReport:
        """Close a dead letter for good as `DISCARDED`, audited; raise `LookupError` if
        `entry_id` is no open dead letter."""
        ...

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
        """File a pending approval request (idempotent by `approval_id`)."""
        ...

    async def decide(
        self, approval_id: str, *, approve: bool, reason: str, audit: AuditRecord
    ) -> Approval:
        """Approve or reject a pending request, audited; raise `LookupError` if there is no
        pending request with that id."""
        ...


class SqliteOperatorStore:
    """The operator's actions on one `SqliteJournal`, each written with its audit record."""

    def __init__(self, journal: SqliteJournal) -> None:
        # the journal's own writer: the one writer of the file (same package, so no leak)
        self._writer = journal._writer

    async def replay(
        self,
        where: DeadLetterFilter,
        *,
        audit: AuditRecord,
        max_replays: int = 3,
    ) -> ReplayReport:
        """Replay the matching dead letters as new entries (not a dry run: use the journal's
        `replay` for that), audited. The caller queues `report.sent` for delivery."""

        def op(conn: sqlite3.Connection, now: float) -> ReplayReport:
            report = _ops.replay(conn, now, where, False, max_replays)
            detail = f"sent {len(report.sent)}, quarantined {len(report.quarantined)}"
            _insert_audit(conn, now, msgspec.structs.replace(audit, detail=detail))
            return report

        return cast(ReplayReport, await self._writer.op(op))

    async def redrive(self, entry_id: str, *, audit: AuditRecord) -> Entry:
        """Deliver a delivered entry again with its original idempotency key (see
        `_ops.redrive`), audited; raise `LookupError` if `entry_id` is no delivered entry. The
        caller queues the returned entry for delivery."""

        def op(conn: sqlite3.Connection, now: float) -> Entry | None:
            fresh = _ops.redrive(conn, now, entry_id)
            if fresh is not None:
                detail = f"sent {fresh.id}"
                _insert_audit(conn, now, msgspec.structs.replace(audit, detail=detail))
            return fresh

        fresh = await self._writer.op(op)
        if fresh is None:
            raise LookupError(f"no delivered entry with id {entry_id}")
        return cast(Entry, fresh)

    async def note(self, audit: AuditRecord) -> None:
        """Write an audit record of an action kept outside the entries (a reconciliation
        break accepted, a period signed off), in its own transaction."""
        await self._writer.op(lambda conn, now: _insert_audit(conn, now, audit))

    async def release(self, entry_id: str, *, reason: str, audit: AuditRecord) -> ReleaseReport:
        """Close a dead letter without sending it (see `Journal.release`), audited; raise
        `LookupError` if `entry_id` is no open dead letter."""
        op = partial(_closing, entry_id=entry_id, reason=reason, audit=audit, discard=False)
        report = await self._writer.op(op)
        if report is None:
            raise LookupError(f"no open dead letter with id {entry_id}")
        return cast(ReleaseReport, report)

    async def discard(self, entry_id: str, *, reason: str, audit: AuditRecord) -> ReleaseReport:
        """Close a dead letter for good as `DISCARDED`, audited; raise `LookupError` if
        `entry_id` is no open dead letter.

        Unlike a release (the operator settled it by other means, say by hand in the target
        system, so it counts as handled), a discard says the message itself is wrong and must
        never take effect: a test record, a duplicate the source sent under another key. Both
        are final and both let the entity's parked entries go on; reports and the entity's
        history tell the two apart.
        """
        op = partial(_closing, entry_id=entry_id, reason=reason, audit=audit, discard=True)
        report = await self._writer.op(op)
        if report is None:
            raise LookupError(f"no open dead letter with id {entry_id}")
        return cast(ReleaseReport, report)

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
        """File a pending approval request of `flow` about `entity` (durable on return).

        With `approval_id`, filing is idempotent: a request with that id already filed is
        returned as it is now (pending or decided) and nothing is written.
        """

        def op(conn: sqlite3.Connection, now: float) -> Approval:
            approval = Approval(
                id=approval_id or new_id(), flow=flow, entity=entity, what=what,
                amount=amount, currency=currency, requested_at=now,
            )  # fmt: skip
            conn.execute(
                f"INSERT OR IGNORE INTO approvals ({APPROVAL_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                msgspec.structs.astuple(approval),
            )
            row = conn.execute(
                f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (approval.id,)
            ).fetchone()
            return approval_of(row)

        return cast(Approval, await self._writer.op(op))

    async def decide(
        self, approval_id: str, *, approve: bool, reason: str, audit: AuditRecord
    ) -> Approval:
        """Approve or reject a pending request, audited; raise `LookupError` if there is no
        pending request with that id (a decision is made once)."""

        def op(conn: sqlite3.Connection, now: float) -> Approval | None:
            state = "approved" if approve else "rejected"
            changed = conn.execute(
                "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, reason = ? "
                "WHERE id = ? AND state = 'pending'",
                (state, audit.who, now, reason, approval_id),
            ).rowcount
            if not changed:
                return None
            _insert_audit(conn, now, audit)
            row = conn.execute(
                f"SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?", (approval_id,)
            ).fetchone()
            return approval_of(row)

        decided = await self._writer.op(op)
        if decided is None:
            raise LookupError(f"no pending approval with id {approval_id}")
        return cast(Approval, decided)


def _closing(
    conn: sqlite3.Connection,
    now: float,
    entry_id: str,
    reason: str,
    audit: AuditRecord,
    discard: bool,
) -> ReleaseReport | None:
    report = _ops.release(conn, now, entry_id, reason, audit.who)
    if report is None:
        return None
    if discard:
        conn.execute(
            "UPDATE entries SET state = ? WHERE id = ?",
            (int(EntryState.DISCARDED), bytes.fromhex(entry_id)),
        )
        released = msgspec.structs.replace(report.released, state=EntryState.DISCARDED)
        report = ReleaseReport(released=released, unparked=report.unparked)
    _insert_audit(conn, now, audit)
    return report


def _insert_audit(conn: sqlite3.Connection, now: float, audit: AuditRecord) -> None:
    conn.execute(
        "INSERT INTO audit (at, who, role, action, target, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now, audit.who, audit.role, audit.action, audit.target, audit.reason, audit.detail),
    )
