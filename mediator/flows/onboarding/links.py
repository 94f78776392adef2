"""Which deals wait on, or were refused for, which account or contract: so they run again.

A deal that waits for its parent account's client, or that was rejected, is remembered in the
flow state of every CRM record it depends on (`LINKS`, keyed ``account:<id>`` and
``contract:<id>``). When that record changes (``crm.account.changed``,
``crm.contract.changed``), or when the waited-for client is onboarded, each dependent deal
gets a ``crm.opportunity.recheck`` entry whose idempotency key is derived from the deal and
the cause, so the same cause never rechecks a deal twice and a crash in between is repeated
harmlessly. An account also remembers the rejections of its own deals, so a subsidiary that
waits on it can say that its parent was rejected.
"""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Literal

import msgspec

from mediator.codecs import Envelope
from mediator.codecs.canonical.payloads import PayloadSchema
from mediator.flows.kinds import FLOW_PAYLOADS, OPPORTUNITY_RECHECK, opportunity_key
from mediator.journal import Appended, Journal

__all__ = [
    "LINKS",
    "PAYLOADS",
    "Links",
    "Recheck",
    "load_links",
    "recheck_dependents",
    "update_links",
]

#: The flow-state name of the links, keyed by the CRM record (``account:<id>``...).
LINKS = "onboarding.links"

Why = Literal["waiting", "rejected"]


class Recheck(msgspec.Struct, frozen=True, kw_only=True):
    """The payload of ``crm.opportunity.recheck``: judge the deal again, because of `cause`."""

    opportunity_id: str
    cause: str


#: The flows' payloads with the recheck kind added (the onboarding flow reads both).
PAYLOADS = FLOW_PAYLOADS.with_schema(PayloadSchema(kind=OPPORTUNITY_RECHECK, type=Recheck))


class Links(msgspec.Struct, frozen=True, kw_only=True):
    """One CRM record's dependent deals (opportunity id → why), and the rejections of the
    account's own deals (opportunity id → reason)."""

    dependents: dict[str, Why] = msgspec.field(default_factory=dict)
    rejections: dict[str, str] = msgspec.field(default_factory=dict)


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Links).decode


async def load_links(journal: Journal, record: str) -> Links:
    """The links of the CRM record `record` (``account:<id>``), empty when there are none."""
    saved = await journal.load_flow(LINKS, record)
    return Links() if saved is None else _decode(saved.state)


async def update_links(journal: Journal, record: str, change: Callable[[Links], Links]) -> Links:
    """Apply `change` to the saved links of `record` and save them (again on a concurrent
    save, as two deals of one account may register at the same time)."""
    while True:
        saved = await journal.load_flow(LINKS, record)
        current = Links() if saved is None else _decode(saved.state)
        updated = change(current)
        if updated == current:
            return current
        version = 0 if saved is None else saved.version
        if await journal.save_flow(LINKS, record, _encode(updated), expected_version=version):
            return updated


async def recheck_dependents(
    journal: Journal,
    follow_up: Callable[[Sequence[Envelope]], Awaitable[list[Appended]]],
    record: str,
    *,
    cause: str,
    only: Iterable[Why] = ("waiting", "rejected"),
    now: datetime.datetime,
) -> list[str]:
    """Journal a recheck for each deal depending on `record` for one of the reasons `only`;
    return their opportunity ids. `cause` makes the idempotency keys (same cause, no repeat)."""
    wanted = frozenset(only)
    links = await load_links(journal, record)
    deals = sorted(deal for deal, why in links.dependents.items() if why in wanted)
    if deals:
        await follow_up(
            [
                PAYLOADS.envelope(
                    OPPORTUNITY_RECHECK,
                    Recheck(opportunity_id=deal, cause=cause),
                    key=opportunity_key(deal),
                    source="mediator",
                    idempotency_key=f"onboarding:recheck:{deal}:{cause}",
                    occurred_at=now,
                )
                for deal in deals
            ]
        )
    return deals
