"""Reconciliation: run it over a period, read stored runs, repair, accept, sign a period off.

A run reads every system through its connectors, so it is an operator's action (it spends
the vendors' allowances, in the ``reconciliation`` priority class). Repairs are a dry run
unless ``dry_run`` is false (then it needs a reason); every repair, acceptance and sign-off is
audited. A bad period or check is a 400 naming the field, an unknown run (``path.id``) or
break a 404, a sign-off of a run with open breaks, or of one that did not make every check, a
409; a run that a system fails (down, refusing, a limit or allowance spent) a 503 naming it,
with ``Retry-After`` when the wait is known: the vendor's state, not a bug of ours.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import msgspec

from mediator.admin.endpoint import Call, Endpoint
from mediator.admin.models import Reason
from mediator.admin.problems import ProblemError
from mediator.errors import JournalError, MediatorError, QuotaExhausted
from mediator.reconciliation import (
    CHECKS,
    Acceptance,
    InvalidRun,
    NotConfigured,
    NotFound,
    RepairReport,
    Report,
    RunSummary,
    SignOff,
    Unsettled,
)

__all__ = [
    "RECONCILIATION_ENDPOINTS",
    "AcceptRequest",
    "RepairRequest",
    "RunList",
    "RunQuery",
    "RunRequest",
    "SignOffRequest",
]

Period = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
CheckName = Literal["presence", "time", "money", "invoices", "payments"]
BreakId = Annotated[str, msgspec.Meta(pattern=r"^brk_[0-9a-f]{20}$")]
_RUN_SCHEMA: dict[str, object] = {"type": "string", "pattern": "^rec_[0-9A-Za-z_]{1,64}$"}
_BREAK_SCHEMA: dict[str, object] = {"type": "string", "pattern": "^brk_[0-9a-f]{20}$"}
_PERIOD_SCHEMA: dict[str, object] = {"type": "string", "pattern": r"^\d{4}-(0[1-9]|1[0-2])$"}


class _Request(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class RunRequest(_Request, frozen=True):
    """`POST /reconciliation/runs`: the period (``YYYY-MM``) and the checks (all by default)."""

    period: Period
    scope: list[CheckName] = msgspec.field(default_factory=lambda: list(CHECKS))


class RunQuery(_Request, frozen=True):
    """`GET /reconciliation/runs`: the runs of one period only, if given."""

    period: Period | None = None


class RunList(msgspec.Struct, frozen=True, kw_only=True):
    """The stored runs, newest first."""

    items: list[RunSummary]


class RepairRequest(_Request, frozen=True):
    """Which open breaks to repair (all when empty), and whether only to say how."""

    breaks: list[BreakId] = msgspec.field(default_factory=list)
    dry_run: bool = True
    reason: Reason | None = None


class AcceptRequest(_Request, frozen=True):
    """Why the break is accepted (written to the audit log)."""

    reason: Reason


class SignOffRequest(_Request, frozen=True):
    """The run to sign the period off on (its latest by default), and why."""

    run_id: str | None = None
    reason: Reason | None = None


def _run_id(call: Call) -> str:
    run_id = call.path("id")
    if not run_id.startswith("rec_") or len(run_id) > 68:
        raise ProblemError(400, "Bad Request", "a run id starts with rec_", field="path.id")
    return run_id


async def _start(call: Call) -> Report:
    assert isinstance(call.body, RunRequest)
    if not call.body.scope:
        raise ProblemError(400, "Bad Request", "name at least one check", field="body.scope")
    try:
        return await call.mediator.reconciliation.reconcile(call.body.period, call.body.scope)
    except InvalidRun as exc:
        raise ProblemError(400, "Bad Request", str(exc), field=f"body.{exc.field}") from None
    except NotConfigured as exc:
        raise ProblemError(409, "Conflict", str(exc), field="body.scope") from None
    except JournalError:
        raise  # the app's 503 for the journal
    except MediatorError as exc:  # a system down or refusing, a limit or an allowance spent
        raise ProblemError(
            503,
            "Service Unavailable",
            f"the reconciliation could not read the systems: {exc}",
            headers=_retry_after(exc, call.mediator.clock.time()),
        ) from None


def _retry_after(exc: MediatorError, now: float) -> dict[str, str]:
    wait = (
        exc.resets_at - now
        if isinstance(exc, QuotaExhausted)
        else getattr(exc, "retry_after", None)
    )
    return {} if wait is None else {"Retry-After": str(max(1, math.ceil(wait)))}


async def _runs(call: Call) -> RunList:
    assert isinstance(call.query, RunQuery)
    runs = await call.mediator.reconciliation.runs(period=call.query.period)
    return RunList(items=list(runs))


async def _run(call: Call) -> Report:
    try:
        return await call.mediator.reconciliation.run(_run_id(call))
    except NotFound as exc:
        raise ProblemError(404, "Not Found", exc.what, field="path.id") from None


async def _stored(call: Call) -> str:
    """The path's run id, once it is known to be a stored run (else a 404 naming path.id)."""
    run_id = _run_id(call)
    try:
        await call.mediator.reconciliation.run(run_id)
    except NotFound as exc:
        raise ProblemError(404, "Not Found", exc.what, field="path.id") from None
    return run_id


async def _repair(call: Call) -> RepairReport:
    assert isinstance(call.body, RepairRequest)
    assert call.principal is not None
    if not call.body.dry_run and call.body.reason is None:
        raise ProblemError(400, "Bad Request", "a repair that acts needs a reason",
                           field="body.reason")  # fmt: skip
    run_id = await _stored(call)
    try:
        return await call.mediator.reconciliation.repair(
            run_id, breaks=call.body.breaks, dry_run=call.body.dry_run,
            by=call.principal.name, role=call.principal.role, reason=call.body.reason,
        )  # fmt: skip
    except NotFound as exc:
        raise ProblemError(404, "Not Found", exc.what, field="body.breaks") from None


async def _accept(call: Call) -> Acceptance:
    assert isinstance(call.body, AcceptRequest)
    assert call.principal is not None
    break_id = call.path("break")
    run_id = await _stored(call)
    try:
        return await call.mediator.reconciliation.accept(
            run_id, break_id, reason=call.body.reason,
            by=call.principal.name, role=call.principal.role,
        )  # fmt: skip
    except NotFound as exc:
        raise ProblemError(404, "Not Found", exc.what, field="path.break") from None


async def _sign_off(call: Call) -> SignOff:
    assert isinstance(call.body, SignOffRequest)
    assert call.principal is not None
    period = call.path("period")
    try:
        return await call.mediator.reconciliation.sign_off(
            period, run_id=call.body.run_id, by=call.principal.name,
            role=call.principal.role, reason=call.body.reason,
        )  # fmt: skip
    except NotFound as exc:
        raise ProblemError(404, "Not Found", exc.what, field="body.run_id") from None
    except Unsettled as exc:
        raise ProblemError(409, "Conflict", str(exc), field="body.run_id") from None
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", str(exc), field="path.period") from None


async def _signed_off(call: Call) -> SignOff:
    period = call.path("period")
    try:
        found = await call.mediator.reconciliation.signed_off(period)
    except ValueError as exc:
        raise ProblemError(400, "Bad Request", str(exc), field="path.period") from None
    if found is None:
        raise ProblemError(404, "Not Found", f"{period} is not signed off", field="path.period")
    return found


RECONCILIATION_ENDPOINTS = (
    Endpoint(method="POST", path="/reconciliation/runs", summary="Reconcile a period now",
             role="operator", response=Report, body=RunRequest, handler=_start),
    Endpoint(method="GET", path="/reconciliation/runs", summary="Stored runs, newest first",
             role="viewer", response=RunList, query=RunQuery, handler=_runs),
    Endpoint(method="GET", path="/reconciliation/runs/{id}", summary="One run's report",
             role="viewer", response=Report, handler=_run, path_params={"id": _RUN_SCHEMA}),
    Endpoint(method="POST", path="/reconciliation/runs/{id}/repair",
             summary="Repair a run's breaks (a dry run unless dry_run is false)",
             role="operator", response=RepairReport, body=RepairRequest, handler=_repair,
             path_params={"id": _RUN_SCHEMA}),
    Endpoint(method="POST", path="/reconciliation/runs/{id}/breaks/{break}/accept",
             summary="Accept a break with a reason", role="operator", response=Acceptance,
             body=AcceptRequest, handler=_accept,
             path_params={"id": _RUN_SCHEMA, "break": _BREAK_SCHEMA}),
    Endpoint(method="POST", path="/reconciliation/periods/{period}/sign-off",
             summary="Sign a period off on a clean run", role="operator", response=SignOff,
             body=SignOffRequest, handler=_sign_off, path_params={"period": _PERIOD_SCHEMA}),
    Endpoint(method="GET", path="/reconciliation/periods/{period}/sign-off",
             summary="A period's sign-off", role="viewer", response=SignOff,
             handler=_signed_off, path_params={"period": _PERIOD_SCHEMA}),
)  # fmt: skip
