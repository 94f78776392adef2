"""What billing remembers, in the journal's flow state: contributions, shards, invoices.

An entry's *contribution* is what it adds to one invoice line: hours (or one expense) at a
unit price, with the facts it was billed for. Contributions live in *shards*, one per client,
invoice period, project and consultant (`SHARD`), written by that project's entity actor
alone, so a delivery rewrites a consultant's month on a project, not a client's. Each entry's
own record (`ENTRY`) lists its contributions, so a later version knows what it corrects. The
*invoice* state (`INVOICE`) is small: the draft's Stripe ids, what was pushed per line, and
whether it is dirty. `OPEN` lists the invoices not finalized yet, for the flush and close
schedules. The invoice state is saved under the flow's name and the invoice's journal key,
where the admin API's entity history (``GET /entities/invoice:<client>:<period>``) finds it:
what holds a close is shown there.

Applying a contribution replaces it by id, so a redelivery, a replay or a crash between two
saves converges on the same state instead of counting twice. Every save is a compare-and-set
(`save_flow`'s `expected_version`) in a loop: concurrent writers re-read and re-apply.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Literal, TypeAlias

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.flows.flow_state import load, update

__all__ = [
    "ENTRY",
    "INVOICE",
    "OPEN",
    "SHARD",
    "Contribution",
    "EntryRecord",
    "InvoiceState",
    "OpenInvoices",
    "PushedItem",
    "Shard",
    "load",
    "shard_id",
    "update",
]

#: flow-state names
ENTRY = "billing.entry"
SHARD = "billing.shard"
INVOICE = "billing"  # the flow's own name: the admin API shows it for the invoice's key
OPEN = "billing.open"

InvoiceStatus: TypeAlias = Literal["draft", "closing", "finalized"]
"""A client-period invoice: taking items, being finalized (no more items), or sent."""


class Contribution(msgspec.Struct, frozen=True, kw_only=True):
    """What one entry adds to one invoice line.

    `line` is the aggregate's identity (project, what, unit price, origin period); `quantity`
    is hours (an expense counts 1) and `amount` is exact only for expenses: a time line's
    amount is its total hours × its unit price, rounded once. A correction of a finalized
    invoice is a contribution with negative quantity on a later invoice.
    """

    id: str
    entry_id: str
    invoice_period: str
    origin_period: str
    project_id: str
    consultant_id: str
    what: str  # the role or task (time), the category (expense)
    unit: Literal["hour", "expense", "adjustment"]
    unit_rate: Money
    quantity: Decimal
    amount: Money
    spent_on: datetime.date
    description: str = ""
    #: the client whose invoice carries it (canonical id)
    client_id: str = ""

    @property
    def shard(self) -> str:
        """The shard it is kept in: one project's one consultant, a few dozen entries a
        month, so a booking rewrites little (a project's month would be quadratic)."""
        return f"{self.project_id}|{self.consultant_id}"

    @property
    def line(self) -> str:
        """The aggregate this adds to: its invoice line's identity on the invoice."""
        rate = f"{self.unit_rate.amount}{self.unit_rate.currency}" if self.unit == "hour" else ""
        return "|".join((self.unit, self.origin_period, self.project_id, self.what, rate))


class EntryRecord(msgspec.Struct, frozen=True, kw_only=True):
    """Where one entry (``time:<id>``, ``expense:<id>``) is billed: client and contributions."""

    client_id: str
    contributions: tuple[Contribution, ...] = ()
    #: the version (``updated_at``) booked last: an older one delivered late changes nothing
    version: str = ""


class Shard(msgspec.Struct, frozen=True, kw_only=True):
    """The contributions of one project to one client's invoice of one period, by id."""

    contributions: dict[str, Contribution] = msgspec.field(default_factory=dict)


class PushedItem(msgspec.Struct, frozen=True, kw_only=True):
    """An invoice line as Stripe has it: the item's id, its amount and quantity."""

    item_id: str
    amount: int
    quantity: str


class InvoiceState(msgspec.Struct, frozen=True, kw_only=True):
    """A client's invoice of one period: draft id, what was pushed, and what is pending.

    `revision` counts changes to its shards; `flushed` is the revision last pushed, so the
    invoice is dirty while they differ. `held` names what holds a close back (dead letters).
    """

    client_id: str
    period: str
    currency: str = ""
    status: InvoiceStatus = "draft"
    #: its shards' parts (``<project>|<consultant>``, `Contribution.shard`)
    shards: tuple[str, ...] = ()
    #: the journal keys its entries arrive under (what a close asks the journal about)
    keys: tuple[str, ...] = ()
    #: entries being booked onto it right now (a close waits for them)
    writing: tuple[str, ...] = ()
    revision: int = 0
    flushed: int = 0
    dirty_since: float | None = None
    customer: str = ""
    invoice_id: str = ""
    items: dict[str, PushedItem] = msgspec.field(default_factory=dict)
    number: str = ""
    held: tuple[str, ...] = ()
    note: str = ""

    @property
    def dirty(self) -> bool:
        """Whether the shards changed since the last flush."""
        return self.revision != self.flushed


class OpenInvoices(msgspec.Struct, frozen=True, kw_only=True):
    """The invoices (their entities, ``invoice:<client>:<period>``) not finalized yet."""

    keys: tuple[str, ...] = ()


def shard_id(client_id: str, period: str, part: str) -> str:
    """The flow-state entity of one shard (`Contribution.shard`) of a client's invoice."""
    return f"{client_id}|{period}|{part}"
