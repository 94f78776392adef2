"""Approvals (list, approve, reject) and the audit log of operator actions.

A flow files an approval request when a posting needs a person (see
`Mediator.request_approval`); an operator decides it once, with a reason, and the decision
is written with its audit record in one transaction. The audit log is read in order, paged
by its sequence number, on the journal's read-only connection.
"""

from __future__ import annotations

import re

from mediator.admin.endpoint import Call, Endpoint
from mediator.admin.models import (
    ApprovalList,
    ApprovalQuery,
    AuditPage,
    AuditQuery,
    DecisionRequest,
)
from mediator.admin.problems import ProblemError
from mediator.journal.operator import Approval

__all__ = ["APPROVAL_ENDPOINTS"]

_ID_SCHEMA: dict[str, object] = {"type": "string", "pattern": "^[0-9a-f]{32}$"}


async def _list(call: Call) -> ApprovalList:
    query = call.query
    assert isinstance(query, ApprovalQuery)
    items = await call.mediator.reader.approvals(
        state=query.state, entity=query.entity, limit=query.limit
    )
    return ApprovalList(items=items)


async def _decide(call: Call, *, approve: bool) -> Approval:
    assert isinstance(call.body, DecisionRequest)
    assert call.principal is not None
    approval_id = call.path("id")
    if not re.fullmatch(r"[0-9a-f]{32}", approval_id):
        raise ProblemError(400, "Bad Request", "an approval id is 32 lowercase hex digits",
                           field="path.id")  # fmt: skip
    try:
        return await call.mediator.decide_approval(
            approval_id, approve=approve, reason=call.body.reason,
            by=call.principal.name, role=call.principal.role,
        )  # fmt: skip
    except LookupError:
        known = await call.mediator.reader.approval(approval_id)
        if known is None:
            raise ProblemError(404, "Not Found", f"no approval with id {approval_id}",
                               field="path.id") from None  # fmt: skip
        raise ProblemError(409, "Conflict", f"approval {approval_id} is already {known.state} "
                           f"(by {known.decided_by})", field="path.id") from None  # fmt: skip


async def _approve(call: Call) -> Approval:
    return await _decide(call, approve=True)


async def _reject(call: Call) -> Approval:
    return await _decide(call, approve=False)


async def _audit(call: Call) -> AuditPage:
    query = call.query
    assert isinstance(query, AuditQuery)
    items = await call.mediator.reader.audit(after=query.cursor, limit=query.limit + 1)
    more = len(items) > query.limit
    items = items[: query.limit]
    return AuditPage(items=items, next_cursor=items[-1].seq if more else None)


APPROVAL_ENDPOINTS = (
    Endpoint(method="GET", path="/approvals", summary="Approval requests, oldest first",
             role="viewer", response=ApprovalList, query=ApprovalQuery, handler=_list),
    Endpoint(method="POST", path="/approvals/{id}/approve", summary="Approve a pending request",
             role="operator", response=Approval, body=DecisionRequest, handler=_approve,
             path_params={"id": _ID_SCHEMA}),
    Endpoint(method="POST", path="/approvals/{id}/reject", summary="Reject a pending request",
             role="operator", response=Approval, body=DecisionRequest, handler=_reject,
             path_params={"id": _ID_SCHEMA}),
    Endpoint(method="GET", path="/audit", summary="The audit log of operator actions",
             role="viewer", response=AuditPage, query=AuditQuery, handler=_audit),
)  # fmt: skip
