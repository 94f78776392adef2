"""Deals as the CRM holds them, before any business rule has judged them.

`Deal` is a won opportunity read as it is: every term the onboarding rules check is optional
here, because a deal that breaks several rules must reach the flow whole, so that its
business exception can list *every* failed rule (the strict `Engagement` mapping stops at the
first missing field). `Contract` is the signed terms of an account (dates).
"""

from __future__ import annotations

import datetime

import msgspec

from mediator.codecs.canonical.entity import Entity
from mediator.codecs.canonical.money import Money

__all__ = ["Contract", "Deal", "StaffingLine"]


class StaffingLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A consultant the deal is staffed with (by e-mail, the key every system shares), in a
    role of the rate card."""

    email: str
    role: str


class Deal(Entity, frozen=True, kw_only=True):
    """A won opportunity with its raw terms; `updated_at` is its version in the CRM.

    `project_code` is the delivery project's code (the canonical project id) when sales gave
    one; `billing_model`, `retainer_interval` are the CRM's labels, judged by the flow.
    """

    name: str
    account_id: str | None = None
    contract_id: str | None = None
    is_won: bool = True
    close_date: datetime.date | None = None
    amount: Money | None = None
    currency: str | None = None
    billing_model: str | None = None
    payment_terms_days: int | None = None
    retainer_interval: str | None = None
    service_line: str | None = None
    delivery_region: str | None = None
    legal_entity: str | None = None
    project_code: str | None = None
    staffing: tuple[StaffingLine, ...] = ()
    updated_at: datetime.datetime | None = None


class Contract(Entity, frozen=True, kw_only=True):
    """The signed terms of an account: when delivery starts and ends."""

    account_id: str
    number: str | None = None
    status: str | None = None
    starts_on: datetime.date | None = None
    ends_on: datetime.date | None = None
    updated_at: datetime.datetime | None = None
