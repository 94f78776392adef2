"""Booking an entry's version onto invoices: aggregates updated, finalized ones never touched.

`book(journal, client_id, entry_id, facts, ...)` makes an entry's billed total equal `facts`
(its current version: one contribution, or none when it stopped being billable). What it
contributed to invoices still in draft is replaced; what it contributed to finalized invoices
stays, and is reversed on the client's first open invoice (from the entry's own period on),
so the difference goes out as an adjustment line, never as a change to a sent invoice.

With `credit_notes` (``corrections = "credit_note"``), a correction that LOWERS what a line of
a finalized invoice carries for the entry is booked instead as a *credit* (`is_credit`): a
contribution with the negative difference, kept on the finalized invoice's period in the
entry's record and that invoice's shard (so the hours it bills are net of it; the sent
invoice is never pushed again), which `credit_notes` issues as a Stripe credit note on it.
A credit note cannot add, so a correction that raises a line still goes on the next open
invoice (the finalized amount reversed, the new one added).

A delivery and a period close meet at the invoice state: a booking first registers itself
there (`writing`, allowed only while the invoice is a draft), then writes the shards, then
clears itself and bumps the revision. A close turns the invoice to ``closing`` only when no
booking is registered, so the shards it finalizes from cannot change under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

from mediator.codecs.canonical.money import Money
from mediator.errors import ActorError, BusinessRejected
from mediator.flows.billed_periods import period_of
from mediator.flows.billing.kinds import invoice_key
from mediator.flows.billing.state import (
    ENTRY,
    INVOICE,
    OPEN,
    SHARD,
    Contribution,
    EntryRecord,
    InvoiceState,
    OpenInvoices,
    Shard,
    load,
    shard_id,
    update,
)
from mediator.journal import Journal

__all__ = [
    "BookingRaced",
    "book",
    "invoice_entity",
    "is_credit",
    "next_period",
    "note_key",
    "period_of",
]

_HORIZON = 36  # months an open invoice is looked for after a finalized one
_encode = msgspec.json.Encoder().encode


class BookingRaced(ActorError):
    """The invoice stopped taking items while an entry was being booked: the delivery is
    retried, and books onto the next open invoice."""

    def __init__(self, invoice: str) -> None:
        super().__init__(f"invoice {invoice}", "closed while an entry was booked; retried")


def next_period(period: str) -> str:
    """The period after `period`."""
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def invoice_entity(client_id: str, period: str) -> str:
    """The flow-state entity of a client's invoice of `period`: its journal key, so the admin
    API's history of ``invoice:<client>:<period>`` shows the state with its requests."""
    return invoice_key(client_id, period)


async def book(
    journal: Journal,
    *,
    client_id: str,
    entry_id: str,
    facts: Sequence[Contribution],
    currency: str,
    delivery_key: str,
    clock_time: float,
    version: str = "",
    credit_notes: bool = False,
) -> tuple[Contribution, ...]:
    """Make `entry_id`'s contributions add up to `facts`; return what is booked now.

    `facts` carry their origin period; their invoice period is chosen here (the origin's
    invoice while it is a draft, else the next open one). `delivery_key` is the journal key
    the entry's versions arrive under (what a close asks the journal about). `version` (the
    entry's ``updated_at``) keeps an older version, delivered late, from undoing a newer one.
    An entry moved to another client is taken back from the first client's invoices.
    With `credit_notes`, lowering a finalized line is booked as a credit on its invoice.
    """
    record, record_version = await load(journal, ENTRY, entry_id, EntryRecord)
    if record is not None and version and record.version and version < record.version:
        return record.contributions  # an older version than the one booked: nothing to do
    old = [_of_client(c, record.client_id) for c in record.contributions] if record else []
    placed = [msgspec.structs.replace(c, client_id=client_id) for c in facts]
    invoices = {(c.client_id, c.origin_period) for c in placed}
    invoices |= {(c.client_id, c.invoice_period) for c in old}
    statuses = {key: await _status(journal, *key) for key in sorted(invoices)}
    known = dict(statuses)  # read once per booking: the open period's search starts here
    frozen = [c for c in old if statuses[c.client_id, c.invoice_period] != "draft"]
    mutable = [c for c in old if statuses[c.client_id, c.invoice_period] == "draft"]
    credits: list[Contribution] = []
    if credit_notes:
        placed, credits = await _credited(journal, entry_id, frozen, placed)
    credited = {(c.client_id, c.line) for c in credits}
    wanted = [
        _placed(c, await _open_period(journal, c.client_id, c.origin_period, known), c.id)
        for c in placed
    ]
    for client in sorted({c.client_id for c in frozen}):
        theirs = [c for c in frozen if c.client_id == client and (client, c.line) not in credited]
        if not theirs:
            continue
        start = min(c.origin_period for c in theirs)
        target = await _open_period(journal, client, start, known)
        wanted += _reversals(entry_id, theirs, target)
    booked = (*frozen, *credits, *wanted)
    if not credits and {c.id: c for c in wanted} == {c.id: c for c in mutable}:
        if record is not None and version > record.version:
            await _remember(journal, entry_id, client_id, booked, version, record_version)
        return booked  # this version is booked already
    touched = sorted({(c.client_id, c.invoice_period) for c in (*wanted, *mutable)})
    currencies = {(c.client_id, c.invoice_period): c.amount.currency for c in wanted}
    registered: list[tuple[str, str]] = []
    try:
        for client, period in touched:
            here = currencies.get((client, period), currency if client == client_id else "")
            await _register(journal, client, period, entry_id, here, delivery_key)
            registered.append((client, period))
    except BookingRaced:
        # the retry books elsewhere: the invoices it registered with must not wait for it
        for client, period in registered:
            await _release(journal, client, period, entry_id, set(), clock_time)
        raise
    for client, period in touched:
        by_shard: dict[str, tuple[list[Contribution], set[str]]] = {}
        for c in wanted:
            if (c.client_id, c.invoice_period) == (client, period):
                by_shard.setdefault(c.shard, ([], set()))[0].append(c)
        for c in mutable:
            if (c.client_id, c.invoice_period) == (client, period):
                by_shard.setdefault(c.shard, ([], set()))[1].add(c.id)
        for part, (adds, removes) in by_shard.items():
            await _write_shard(journal, shard_id(client, period, part), adds, removes)
    for client, period in touched:
        parts = {c.shard for c in wanted if (c.client_id, c.invoice_period) == (client, period)}
        await _release(journal, client, period, entry_id, parts, clock_time)
    for c in credits:
        # kept with what the finalized invoice bills, so the hours billed for its period
        # (`read_billed_period`, change orders' back-billing) are net of the credit; a
        # finalized invoice's shards are never pushed again, and only this project's
        # deliveries, one at a time, write this shard
        await _write_shard(journal, shard_id(c.client_id, c.invoice_period, c.shard), [c], set())
    await _remember(journal, entry_id, client_id, booked, version, record_version)
    return booked


async def _remember(
    journal: Journal,
    entry_id: str,
    client_id: str,
    booked: tuple[Contribution, ...],
    version: str,
    expected_version: int,
) -> None:
    # saved over the version read at the start: only this entry's deliveries write it, and
    # they are serialized by its journal key, so a conflict is a bug, not a race to retry
    record = EntryRecord(client_id=client_id, contributions=booked, version=version)
    saved = await journal.save_flow(
        ENTRY, entry_id, _encode(record), expected_version=expected_version
    )
    if saved is None:
        raise ActorError(f"billing entry {entry_id}", "saved concurrently; retried")


def _of_client(c: Contribution, client_id: str) -> Contribution:
    # contributions saved before they named their client belong to the entry's
    return c if c.client_id else msgspec.structs.replace(c, client_id=client_id)


def _placed(c: Contribution, period: str, cid: str) -> Contribution:
    return msgspec.structs.replace(c, invoice_period=period, id=cid)


def is_credit(c: Contribution) -> bool:
    """Whether `c` is a credit of a finalized invoice (a credit note), not an invoice line."""
    return c.id.startswith(f"{c.entry_id}:credit:")


async def _credited(
    journal: Journal,
    entry_id: str,
    frozen: Sequence[Contribution],
    placed: list[Contribution],
) -> tuple[list[Contribution], list[Contribution]]:
    # Per line a finalized invoice carries for the entry: what the new version puts on that
    # line, less what is carried. Lowered: a credit on the finalized invoice that carries
    # enough of the line (the latest such), and the new version's part of that line is
    # already there. Raised, unchanged, or no single invoice to credit: the next invoice.
    lines: dict[tuple[str, str], list[Contribution]] = {}
    for c in frozen:
        lines.setdefault((c.client_id, c.line), []).append(c)
    credits: list[Contribution] = []
    kept = list(placed)
    for (client, line), group in sorted(lines.items()):
        new = [c for c in kept if c.client_id == client and c.line == line]
        carried = _sum(group)
        if carried is None:
            continue
        now = _sum(new)
        amount = carried[1] if now is None else now[1] - carried[1]
        quantity = -carried[0] if now is None else now[0] - carried[0]
        if amount.amount >= 0:
            continue
        target = await _creditable(journal, client, group, -amount.amount)
        if target is None:
            continue
        sequence = sum(1 for c in group if is_credit(c))
        credits.append(
            msgspec.structs.replace(
                group[0],
                id=f"{entry_id}:credit:{client}:{line}:{sequence}",
                invoice_period=target,
                quantity=quantity,
                amount=amount,
            )
        )
        kept = [c for c in kept if not (c.client_id == client and c.line == line)]
    return kept, credits


def _sum(group: Sequence[Contribution]) -> tuple[Decimal, Money] | None:
    if not group:
        return None
    amount = group[0].amount
    for c in group[1:]:
        amount = amount + c.amount
    return sum((c.quantity for c in group), Decimal(0)), amount


async def _creditable(
    journal: Journal, client: str, group: Sequence[Contribution], needed: int
) -> str | None:
    # the latest finalized invoice, sent to Stripe, whose part of this line covers the credit
    by_period: dict[str, int] = {}
    for c in group:
        by_period[c.invoice_period] = by_period.get(c.invoice_period, 0) + c.amount.amount
    for period in sorted(by_period, reverse=True):
        if by_period[period] < needed:
            continue
        state, _ = await load(journal, INVOICE, invoice_entity(client, period), InvoiceState)
        if state is not None and state.status == "finalized" and state.invoice_id:
            return period
    return None


def _reversals(entry_id: str, frozen: Sequence[Contribution], target: str) -> list[Contribution]:
    # what finalized invoices carry for this entry, netted per line and taken back
    lines: dict[str, list[Contribution]] = {}
    for c in frozen:
        lines.setdefault(c.line, []).append(c)
    out = []
    for line, group in sorted(lines.items()):
        quantity = sum((c.quantity for c in group), Decimal(0))
        amount = group[0].amount
        for c in group[1:]:
            amount = amount + c.amount
        if quantity == 0 and amount.amount == 0:
            continue
        out.append(
            msgspec.structs.replace(
                group[0],
                id=f"{entry_id}:reversal:{group[0].client_id}:{line}",
                invoice_period=target,
                quantity=-quantity,
                amount=-amount,
            )
        )
    return out


async def _status(journal: Journal, client_id: str, period: str) -> str:
    state, _ = await load(journal, INVOICE, invoice_entity(client_id, period), InvoiceState)
    return "draft" if state is None else state.status


async def _open_period(
    journal: Journal, client_id: str, period: str, known: dict[tuple[str, str], str]
) -> str:
    candidate = period
    for _ in range(_HORIZON):
        status = known.get((client_id, candidate))
        if status is None:
            status = known[client_id, candidate] = await _status(journal, client_id, candidate)
        if status == "draft":
            return candidate
        candidate = next_period(candidate)
    raise BusinessRejected(
        "invoice", f"client {client_id} has no open invoice within {_HORIZON} months of {period}"
    )


async def _register(
    journal: Journal,
    client_id: str,
    period: str,
    entry_id: str,
    currency: str,
    delivery_key: str,
) -> None:
    entity = invoice_entity(client_id, period)

    def change(state: InvoiceState | None) -> InvoiceState:
        state = state or InvoiceState(client_id=client_id, period=period, currency=currency)
        if not state.currency and currency:
            state = msgspec.structs.replace(state, currency=currency)
        if state.status != "draft":
            raise BookingRaced(entity)
        if currency and state.currency and state.currency != currency:
            raise BusinessRejected(
                "currency",
                f"entry {entry_id} is in {currency}, the invoice {entity} in {state.currency}",
            )
        return msgspec.structs.replace(
            state,
            writing=tuple(sorted({*state.writing, entry_id})),
            keys=tuple(sorted({*state.keys, delivery_key})),
        )

    await update(journal, INVOICE, entity, InvoiceState, change)
    # listed for the schedules every time, not only when new: a crash right after the invoice
    # was saved must not leave it unlisted (a listed one is read, not written)
    await update(
        journal,
        OPEN,
        "all",
        OpenInvoices,
        lambda o: OpenInvoices(keys=tuple(sorted({*(o.keys if o else ()), entity}))),
    )


async def note_key(journal: Journal, client_id: str, period: str, delivery_key: str) -> None:
    """Tell the client's draft for `period` that entries of `delivery_key` are on their way,
    though none could be booked (the first of a project's month failed before booking): its
    close then finds that key's dead letter or retries and waits, instead of going out
    without the project. A finalized invoice is left alone (corrections find the next)."""
    entity = invoice_entity(client_id, period)

    def change(state: InvoiceState | None) -> InvoiceState:
        state = state or InvoiceState(client_id=client_id, period=period, currency="")
        if state.status != "draft" or delivery_key in state.keys:
            return state
        return msgspec.structs.replace(state, keys=tuple(sorted({*state.keys, delivery_key})))

    await update(journal, INVOICE, entity, InvoiceState, change)


async def _release(
    journal: Journal, client_id: str, period: str, entry_id: str, parts: set[str], now: float
) -> None:
    def change(state: InvoiceState | None) -> InvoiceState:
        assert state is not None  # registered above
        return msgspec.structs.replace(
            state,
            writing=tuple(w for w in state.writing if w != entry_id),
            shards=tuple(sorted({*state.shards, *parts})),
            revision=state.revision + 1,
            dirty_since=state.dirty_since if state.dirty else now,
        )

    await update(journal, INVOICE, invoice_entity(client_id, period), InvoiceState, change)


async def _write_shard(
    journal: Journal, entity: str, adds: list[Contribution], removes: set[str]
) -> None:
    def change(shard: Shard | None) -> Shard:
        contributions = dict(shard.contributions) if shard is not None else {}
        for cid in removes:
            contributions.pop(cid, None)
        for c in adds:
            contributions[c.id] = c
        return Shard(contributions=contributions)

    await update(journal, SHARD, entity, Shard, change)
