"""What a client was billed per period, and adjustments to bill on a later invoice.

The billing flow keeps, per client and calendar month (``YYYY-MM``), the period's status
(``draft`` while items are still added, ``finalized`` once its invoice was sent) and the time
entries it billed, each with the unit rate it was billed at, in the journal's flow state under
`FLOW`. Other flows read it to know what was invoiced: a change order whose effective date lies
in a finalized period computes the difference from these entries and asks for a back-billing
`Adjustment`, which, once a person approves it, is journaled (kind ``billing.adjustment.approved``)
for the billing flow to put on the client's next invoice. A sent invoice is never changed.

`load_billed_period` and `save_billed_period` are the whole interface; the billing flow writes,
the change-order flow reads.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeAlias

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.flows.flow_state import load, update
from mediator.journal import Journal

__all__ = [
    "FLOW",
    "Adjustment",
    "BilledEntry",
    "BilledPeriod",
    "load_billed_period",
    "period_of",
    "save_billed_period",
]

#: The flow-state name of billed periods, keyed by ``<client id>/<YYYY-MM>``.
FLOW = "billing.period"

PeriodStatus: TypeAlias = Literal["draft", "finalized"]
"""A billing period's invoice: still being filled (``draft``) or sent (``finalized``)."""

Period = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class BilledEntry(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One time entry on a period's invoice: who, when, how long, at which unit rate.

    `project_id` and `consultant_id` are canonical ids; `unit_rate` is the hourly rate the
    entry was billed at, in minor units of its period's currency.
    """

    entry_id: str
    project_id: str
    consultant_id: str
    role: str | None = None
    spent_on: datetime.date
    hours: Decimal
    unit_rate: int


class BilledPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """One client's billing for one month: its status and the entries billed in it."""

    client_id: str
    period: Period
    currency: str
    status: PeriodStatus = "draft"
    #: the billing platform's invoice id, once there is one
    invoice_id: str | None = None
    entries: tuple[BilledEntry, ...] = ()


class Adjustment(msgspec.Struct, frozen=True, kw_only=True):
    """An approved amount to bill (or credit, when negative) on a client's next invoice.

    `period` is the invoiced month it corrects; `source` says what caused it
    (``change_order:<id>``) and, with `period`, identifies it.
    """

    client_id: str
    period: Period
    description: str
    amount: Money
    source: str


def period_of(day: datetime.date) -> str:
    """The billing period (``YYYY-MM``) of `day`."""
    return f"{day.year:04d}-{day.month:02d}"


def _entity(client_id: str, period: str) -> str:
    return f"{client_id}/{period}"


async def load_billed_period(journal: Journal, client_id: str, period: str) -> BilledPeriod | None:
    """What `client_id` was billed in `period` (``YYYY-MM``), or None if nothing yet."""
    return (await load(journal, FLOW, _entity(client_id, period), BilledPeriod))[0]


async def save_billed_period(journal: Journal, billed: BilledPeriod) -> BilledPeriod:
    """Store `billed` as its client's period, replacing what was stored (the billing flow is
    its only writer, one delivery per client at a time; a concurrent save is retried)."""
    entity = _entity(billed.client_id, billed.period)
    return (await update(journal, FLOW, entity, BilledPeriod, lambda _: billed))[1]
