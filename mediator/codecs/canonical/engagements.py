"""What was sold and how it is delivered: engagements, projects, milestones, change orders."""

from __future__ import annotations

import datetime
from typing import Literal, TypeAlias

import msgspec

from mediator.codecs.canonical.entity import Entity
from mediator.codecs.canonical.money import Money, require_currency

__all__ = [
    "ChangeOrder",
    "Engagement",
    "Milestone",
    "Project",
    "RateChange",
]

BillingModel: TypeAlias = Literal["time_and_materials", "fixed_fee", "retainer"]
"""How an engagement is billed: hours at rates, fixed-fee milestones, or a periodic retainer."""

MilestoneStatus: TypeAlias = Literal["planned", "approved", "invoiced", "cancelled"]
"""Where a fixed-fee milestone stands; only an approved one becomes an invoice."""

ChangeOrderStatus: TypeAlias = Literal["draft", "approved", "applied", "cancelled"]
"""Where a change order stands: only an approved one is applied (then marked ``applied``)."""


class Engagement(Entity, frozen=True, kw_only=True):
    """A won deal's contract terms: the agreement under which projects are delivered.

    `value` is the contract amount (the fee for fixed-fee, the period amount for a retainer);
    `payment_terms_days` is net days from the invoice date.
    """

    name: str
    client_id: str
    billing_model: BillingModel
    currency: str
    value: Money | None = None
    payment_terms_days: int = 30
    service_line: str
    delivery_region: str
    legal_entity: str | None = None
    won_on: datetime.date | None = None
    starts_on: datetime.date | None = None
    ends_on: datetime.date | None = None
    retainer_interval: Literal["month", "quarter", "year"] | None = None

    def __post_init__(self) -> None:
        require_currency(self.currency, self.value)


class Project(Entity, frozen=True, kw_only=True):
    """Delivery of an engagement: where time and expenses are recorded."""

    name: str
    client_id: str
    engagement_id: str | None = None
    code: str | None = None
    billing_model: BillingModel = "time_and_materials"
    currency: str | None = None
    fee: Money | None = None
    budget: Money | None = None
    hourly_rate: Money | None = None
    starts_on: datetime.date | None = None
    ends_on: datetime.date | None = None
    is_active: bool = True
    is_billable: bool = True

    def __post_init__(self) -> None:
        if self.currency is not None:
            require_currency(self.currency, self.fee, self.budget, self.hourly_rate)


class Milestone(Entity, frozen=True, kw_only=True):
    """A fixed-fee deliverable: invoiced for `amount` once approved."""

    name: str
    engagement_id: str
    project_id: str | None = None
    amount: Money
    due_on: datetime.date | None = None
    status: MilestoneStatus = "planned"
    approved_on: datetime.date | None = None


class RateChange(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A new bill (and cost) rate for a role, or for one consultant when `consultant_id` is set."""

    role: str
    consultant_id: str | None = None
    bill_rate: Money
    cost_rate: Money | None = None


class ChangeOrder(Entity, frozen=True, kw_only=True):
    """A change of scope or rates on an engagement, from `effective_on`.

    Time recorded on or after `effective_on` is billed at the new rates; `value_delta` moves
    the contract value (and a fixed fee) up or down. `status` is the CRM's: a flow applies an
    ``approved`` one and leaves drafts alone. Its default is ``approved`` because change orders
    journaled before the field existed were all taken as approved (so they need no upcaster);
    the Salesforce mapping reads a change order without a status as a ``draft``.
    """

    engagement_id: str
    effective_on: datetime.date
    description: str = ""
    value_delta: Money | None = None
    rate_changes: tuple[RateChange, ...] = ()
    new_ends_on: datetime.date | None = None
    status: ChangeOrderStatus = "approved"
