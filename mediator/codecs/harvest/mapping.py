"""Harvest v2 → canonical: clients, projects, people, rates, time, expenses (writes: harvest_write).

Money: a client's rates and fees are in the client's currency (``client.currency``); cost
rates are in the account's currency, which the caller passes as `account_currency`.
Hours stay exact `Decimal`s as Harvest wrote them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TypeVar

import msgspec

from mediator.codecs.canonical.currencies import EXPONENTS
from mediator.codecs.canonical.engagements import BillingModel, Project
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Client, Consultant
from mediator.codecs.canonical.rates import Assignment
from mediator.codecs.canonical.time_and_expenses import Expense, TimeEntry
from mediator.codecs.harvest import wire
from mediator.codecs.page import Page
from mediator.codecs.records import Decoded, decode_each
from mediator.codecs.validation import WireDecoder
from mediator.errors import DecodeError

__all__ = [
    "assignment_from_harvest",
    "client_from_harvest",
    "consultant_from_harvest",
    "decode_harvest",
    "decode_harvest_records",
    "expense_from_harvest",
    "expenses_from_harvest",
    "is_approved",
    "project_from_harvest",
    "time_entries_from_harvest",
    "time_entry_from_harvest",
]

SYSTEM: Final = "harvest"
W = TypeVar("W", bound=msgspec.Struct)
_MAX_HOURS = Decimal(10_000)  # a runaway timer, not a typo, is the largest real value

_DECODERS: Mapping[type[msgspec.Struct], WireDecoder[msgspec.Struct]] = MappingProxyType(
    {
        kind: WireDecoder(SYSTEM, kind)
        for kind in (
            wire.HvClient, wire.HvProject, wire.HvUser, wire.HvUserAssignment,
            wire.HvTaskAssignment, wire.HvTimeEntry, wire.HvExpense, wire.HvClientPage,
            wire.HvProjectPage, wire.HvUserPage, wire.HvUserAssignmentPage,
            wire.HvTaskAssignmentPage, wire.HvTimeEntryPage, wire.HvExpensePage,
            wire.HvRawTimeEntryPage, wire.HvRawExpensePage, wire.HvTaskPage,
        )
    }
)  # fmt: skip


def decode_harvest(body: bytes | str, type: type[W]) -> W:
    """Decode a Harvest response into wire `type` (an ``Hv*`` Struct); `DecodeError` with path."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        raise TypeError(f"{type.__name__} is not a Harvest wire type")
    result = decoder.decode(body)
    assert isinstance(result, type)
    return result


def decode_harvest_records(raws: Sequence[msgspec.Raw], type: type[W], path: str) -> Decoded[W]:
    """Decode each raw record of the list at `path` into `type`, apart: one bad record is an
    `Undecodable` with its field path (``$.time_entries[3].hours``), not a failed page."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        raise TypeError(f"{type.__name__} is not a Harvest wire type")
    return decode_each(decoder, raws, path)  # type: ignore[arg-type]  # keyed by `type`


_Memo = dict[tuple[Decimal, str], Money]


def _money(
    value: Decimal | None, currency: str, path: str, field: str, memo: _Memo | None = None
) -> Money | None:
    if value is None:
        return None
    # A page repeats a handful of rates thousands of times; Money is immutable, so one page
    # shares them (bench/codecs.py: a third of the mapping time without this).
    if memo is not None:
        found = memo.get((value, currency))
        if found is not None:
            return found
    try:
        money = Money.from_decimal(value, currency)
    except ValueError as exc:
        raise DecodeError(SYSTEM, f"{path}.{field}", str(exc)) from exc
    if memo is not None:
        memo[value, currency] = money
    return money


def _currency(client: wire.HvClientRef | None, fallback: str) -> str:
    return client.currency if client is not None and client.currency else fallback


def client_from_harvest(client: wire.HvClient, *, path: str = "$") -> Client:
    """Map a Harvest client; its currency must be ISO 4217."""
    try:
        return Client(
            source_system=SYSTEM,
            source_id=str(client.id),
            name=client.name,
            currency=client.currency,
            is_active=client.is_active,
        )
    except ValueError as exc:
        raise DecodeError(SYSTEM, f"{path}.currency", str(exc)) from exc


def project_from_harvest(project: wire.HvProject, *, path: str = "$") -> Project:
    """Map a Harvest project: fixed-fee projects carry `fee`; a cost budget becomes `budget`."""
    currency = _currency(project.client, "USD")
    model: BillingModel = "fixed_fee" if project.is_fixed_fee else "time_and_materials"
    budget = project.cost_budget if project.budget_by == "project_cost" else None
    if budget is None and project.budget_by == "project_cost":
        budget = project.budget
    try:
        return Project(
            source_system=SYSTEM,
            source_id=str(project.id),
            name=project.name,
            client_id=str(project.client.id),
            code=project.code,
            billing_model=model,
            currency=currency,
            fee=_money(project.fee, currency, path, "fee"),
            budget=_money(budget, currency, path, "budget"),
            hourly_rate=_money(project.hourly_rate, currency, path, "hourly_rate"),
            starts_on=project.starts_on,
            ends_on=project.ends_on,
            is_active=project.is_active,
            is_billable=project.is_billable,
        )
    except ValueError as exc:
        raise DecodeError(SYSTEM, f"{path}.client.currency", str(exc)) from exc


def consultant_from_harvest(user: wire.HvUser) -> Consultant:
    """Map a Harvest user; the first of their roles, if any, is their role."""
    return Consultant(
        source_system=SYSTEM,
        source_id=str(user.id),
        name=f"{user.first_name} {user.last_name}".strip(),
        email=user.email,
        role=user.roles[0] if user.roles else None,
        is_contractor=user.is_contractor,
        is_active=user.is_active,
    )


def assignment_from_harvest(
    assignment: wire.HvUserAssignment,
    *,
    currency: str,
    role: str = "",
    cost_rate: Money | None = None,
    effective_from: datetime.date | None = None,
    path: str = "$",
) -> Assignment:
    """Map a user assignment; `currency` is the project's client currency.

    Harvest keeps no rate history, so `effective_from` defaults to when the assignment was
    created (or last changed, when a change order moved the rate).
    """
    stamp = assignment.updated_at or assignment.created_at
    start = effective_from or (stamp.date() if stamp else datetime.date(1970, 1, 1))
    return Assignment(
        source_system=SYSTEM,
        source_id=str(assignment.id),
        project_id=str(assignment.project.id),
        consultant_id=str(assignment.user.id),
        role=role,
        bill_rate=_money(assignment.hourly_rate, currency, path, "hourly_rate"),
        cost_rate=cost_rate,
        effective_from=start,
    )


def is_approved(entry: wire.HvTimeEntry | wire.HvExpense) -> bool:
    """Whether Harvest approved the entry: ``is_closed`` (or ``approval_status``)."""
    return entry.is_closed or entry.approval_status == "approved"


def time_entry_from_harvest(
    entry: wire.HvTimeEntry, *, account_currency: str, path: str = "$", _memo: _Memo | None = None
) -> TimeEntry:
    """Map a time entry: approved is ``is_closed`` (or ``approval_status == "approved"``)."""
    if not Decimal(0) <= entry.hours <= _MAX_HOURS:
        raise DecodeError(SYSTEM, f"{path}.hours", f"{entry.hours} is not 0 to {_MAX_HOURS}")
    currency = _currency(entry.client, account_currency)
    if currency not in EXPONENTS:
        raise DecodeError(SYSTEM, f"{path}.client.currency", f"unknown currency {currency!r:.20}")
    return TimeEntry(
        source_system=SYSTEM,
        source_id=str(entry.id),
        project_id=str(entry.project.id),
        consultant_id=str(entry.user.id),
        client_id=None if entry.client is None else str(entry.client.id),
        task=None if entry.task is None else entry.task.name,
        spent_on=entry.spent_date,
        hours=entry.hours,
        notes=entry.notes or "",
        billable=entry.billable,
        approved=is_approved(entry),
        locked=entry.is_locked,
        billed=entry.is_billed,
        bill_rate=_money(entry.billable_rate, currency, path, "billable_rate", _memo),
        cost_rate=_money(entry.cost_rate, account_currency, path, "cost_rate", _memo),
        external_reference=None
        if entry.external_reference is None
        else entry.external_reference.id,
        updated_at=entry.updated_at,
    )


def expense_from_harvest(
    expense: wire.HvExpense, *, account_currency: str, path: str = "$"
) -> Expense:
    """Map an expense; `total_cost` is in the client's currency."""
    currency = _currency(expense.client, account_currency)
    if currency not in EXPONENTS:
        raise DecodeError(SYSTEM, f"{path}.client.currency", f"unknown currency {currency!r:.20}")
    amount = _money(expense.total_cost, currency, path, "total_cost")
    assert amount is not None
    return Expense(
        source_system=SYSTEM,
        source_id=str(expense.id),
        project_id=str(expense.project.id),
        consultant_id=str(expense.user.id),
        client_id=None if expense.client is None else str(expense.client.id),
        category=expense.expense_category.name,
        spent_on=expense.spent_date,
        amount=amount,
        notes=expense.notes or "",
        billable=expense.billable,
        approved=is_approved(expense),
        locked=expense.is_locked,
        billed=expense.is_billed,
        updated_at=expense.updated_at,
    )


def time_entries_from_harvest(body: bytes | str, *, account_currency: str) -> Page[TimeEntry]:
    """Decode and map one ``GET /v2/time_entries`` page; errors name ``$.time_entries[i]``."""
    page = decode_harvest(body, wire.HvTimeEntryPage)
    memo: _Memo = {}
    items = [
        time_entry_from_harvest(
            entry, account_currency=account_currency, path=f"$.time_entries[{i}]", _memo=memo
        )
        for i, entry in enumerate(page.time_entries)
    ]
    return Page(items=items, next_url=page.links.next, total=page.total_entries)


def expenses_from_harvest(body: bytes | str, *, account_currency: str) -> Page[Expense]:
    """Decode and map one ``GET /v2/expenses`` page; errors name ``$.expenses[i]``."""
    page = decode_harvest(body, wire.HvExpensePage)
    items = [
        expense_from_harvest(expense, account_currency=account_currency, path=f"$.expenses[{i}]")
        for i, expense in enumerate(page.expenses)
    ]
    return Page(items=items, next_url=page.links.next, total=page.total_entries)
