"""Pushing a client's period aggregates to its Stripe draft, and finalizing it at close.

`flush` reads the invoice's shards, sums each line (a time line is its total hours × its
unit price, rounded once; expense and adjustment lines add their amounts) and brings Stripe in
line with the fewest writes: the draft is created once, each line's item is created once
(keyed by its line) and afterwards only UPDATED when its total changed (keyed by the
revision and the new total), so Stripe sees a few writes per line per flush, whatever the
number of entries behind it.

`close` finalizes a client's invoice once nothing of that client is still on its way: the
journal is asked for open billing entries under the client's keys (accepted, in flight, due
for retry: the close waits for the next tick; dead, quarantined or parked: the close itself
becomes a dead letter for finance naming them, and is replayed once they are dealt with).

The invoice is due `payment_terms_days` after it is finalized, or after the client's own terms
when the flow state ``billing.terms`` holds them (days, per canonical client id): the seam for
onboarding to record a deal's payment terms. The draft carries the tax rate of the client's
treatment (`TaxRates`), so Stripe computes each line's tax and the invoice's total with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from decimal import Decimal
from typing import Protocol, TypeVar

import msgspec

from mediator.actors import ActorRef
from mediator.codecs.canonical.billing import InvoiceLine
from mediator.codecs.canonical.money import Money
from mediator.codecs.stripe import wire
from mediator.codecs.stripe.mapping import ORIGIN_KEY, to_stripe_amount
from mediator.errors import BusinessRejected, MissingReference
from mediator.flows.billing.kinds import APPROVED_EXPENSE, BILLABLE_TIME
from mediator.flows.billing.ledger import invoice_entity
from mediator.flows.billing.periods import record_finalized
from mediator.flows.billing.state import (
    INVOICE,
    OPEN,
    SHARD,
    Contribution,
    InvoiceState,
    OpenInvoices,
    PushedItem,
    Shard,
    load,
    shard_id,
    update,
)
from mediator.flows.billing.taxes import TaxRates
from mediator.journal import EntryState, Journal
from mediator.systems import Command
from mediator.systems.stripe import (
    AddInvoiceItem,
    CreateDraftInvoice,
    FinalizeInvoice,
    UpdateInvoiceItem,
)

__all__ = ["Invoicing", "ItemLookup", "invoice_lines"]

T = TypeVar("T", wire.StInvoice, wire.StInvoiceItem)
_STUCK = frozenset({EntryState.DEAD, EntryState.QUARANTINED, EntryState.PARKED})
_TERMS = "billing.terms"  # payment terms per client (days), when onboarding records them


def invoice_lines(contributions: list[Contribution], period: str) -> dict[str, InvoiceLine]:
    """The invoice lines of `contributions`, by line identity (the aggregates)."""
    grouped: dict[str, list[Contribution]] = {}
    for c in contributions:
        grouped.setdefault(c.line, []).append(c)
    lines = {}
    for line, group in sorted(grouped.items()):
        first = group[0]
        quantity = sum((c.quantity for c in group), Decimal(0))
        if first.unit == "hour":
            amount = first.unit_rate.scale(quantity)
            unit_amount = first.unit_rate
            text = f"{first.project_id} · {first.what} · {quantity} h"
        else:
            amount = Money.zero(first.amount.currency)
            for c in group:
                amount = amount + c.amount
            unit_amount, quantity = amount, Decimal(1)
            text = f"{first.project_id} · {first.description or first.what}"
        if first.origin_period != period:
            text += f" (correction for {first.origin_period})"
        lines[line] = InvoiceLine(
            description=text,
            quantity=quantity,
            unit_amount=unit_amount,
            amount=amount,
            origin_id=line,
        )
    return lines


class Invoicing:
    """One client's invoice for one period: flushed to Stripe and closed, never re-sent."""

    def __init__(
        self,
        journal: Journal,
        *,
        stripe: ActorRef[Command],
        client_id: str,
        period: str,
        payment_terms_days: int,
        timeout: float,
        item_lookup: ItemLookup | None = None,
        taxes: TaxRates | None = None,
    ) -> None:
        self.journal = journal
        self.taxes = taxes
        self.stripe = stripe
        self.item_lookup = item_lookup
        self.client_id = client_id
        self.period = period
        self.entity = invoice_entity(client_id, period)
        self.terms = payment_terms_days
        self.timeout = timeout

    async def flush(self) -> InvoiceState | None:
        """Push the aggregates if they changed since the last flush (a finalized invoice or
        one being closed is left alone: the close pushes its last state itself)."""
        state, _ = await load(self.journal, INVOICE, self.entity, InvoiceState)
        if state is None or state.status != "draft" or not state.dirty:
            return state
        return await self._push(state)

    async def close(self) -> InvoiceState | None:
        """Finalize the invoice once everything of its client has been booked.

        Returns None when there is nothing to bill for the period; the state, with `note`
        saying what it waits for, when entries are still on their way. Raises
        `BusinessRejected` naming the dead letters that hold it back.
        """
        state, _ = await load(self.journal, INVOICE, self.entity, InvoiceState)
        if state is None or state.status == "finalized":
            return state
        if state.status == "draft":
            waiting = await self._waiting(state)
            if waiting:
                return await self._note(waiting)
            # nothing of the client is open in the journal, so no booking is under way: an
            # entry still marked as being booked was left so by a crash (its delivery ended)
            state = await self._start_closing(stale=frozenset(state.writing))
            if state.status == "draft":
                return await self._note(f"entries being booked: {', '.join(state.writing)}")
        state = await self._push(state)
        number = ""
        if state.invoice_id:
            finalized = await self._ask(
                FinalizeInvoice(
                    idempotency_key=f"billing:finalize:{self.client_id}:{self.period}",
                    invoice=state.invoice_id,
                ),
                wire.StInvoice,
            )
            number = finalized.number or ""
        # recorded before the invoice's own state: a crash in between finalizes again (a no-op
        # at Stripe, by its idempotency key) and records again, instead of never recording
        await record_finalized(self.journal, self.client_id, self.period)
        _, state = await update(
            self.journal,
            INVOICE,
            self.entity,
            InvoiceState,
            lambda s: msgspec.structs.replace(
                _present(s), status="finalized", number=number, held=(), note=""
            ),
        )
        await update(
            self.journal,
            OPEN,
            "all",
            OpenInvoices,
            lambda o: OpenInvoices(
                keys=tuple(k for k in (o.keys if o else ()) if k != self.entity)
            ),
        )
        return state

    async def _waiting(self, state: InvoiceState) -> str:
        open_entries = await self.journal.open_entries(
            state.keys, (BILLABLE_TIME, APPROVED_EXPENSE)
        )
        stuck = [e for e in open_entries if e.state in _STUCK]
        if stuck:
            named = ", ".join(f"{e.id} ({e.state.name.lower()}, {e.key})" for e in stuck[:20])
            await update(
                self.journal,
                INVOICE,
                self.entity,
                InvoiceState,
                lambda s: msgspec.structs.replace(
                    _present(s),
                    held=tuple(e.id for e in stuck),
                    note=f"held: {len(stuck)} entries are dead letters or parked",
                ),
            )
            raise BusinessRejected(
                "period close",
                f"client {self.client_id}'s invoice for {self.period} waits: {len(stuck)} "
                f"billing entries are dead letters or parked behind one ({named}); resolve "
                "them (replay or release), then replay this close",
            )
        if open_entries:
            return f"waiting for {len(open_entries)} entries still being delivered"
        return ""

    async def _note(self, note: str) -> InvoiceState:
        _, state = await update(
            self.journal,
            INVOICE,
            self.entity,
            InvoiceState,
            lambda s: msgspec.structs.replace(_present(s), note=note),
        )
        return state

    async def _start_closing(self, *, stale: frozenset[str]) -> InvoiceState:
        def change(state: InvoiceState | None) -> InvoiceState:
            state = _present(state)
            if state.status != "draft" or not stale.issuperset(state.writing):
                return state  # a booking began since the journal was asked: not now
            return msgspec.structs.replace(
                state, status="closing", writing=(), held=(), note="closing"
            )

        _, state = await update(self.journal, INVOICE, self.entity, InvoiceState, change)
        return state

    async def _push(self, state: InvoiceState) -> InvoiceState:
        revision = state.revision
        contributions: list[Contribution] = []
        for part in state.shards:
            shard, _ = await load(
                self.journal, SHARD, shard_id(self.client_id, self.period, part), Shard
            )
            if shard is not None:
                contributions.extend(shard.contributions.values())
        lines = invoice_lines(contributions, self.period)
        if not state.invoice_id and any(line.amount.amount for line in lines.values()):
            state = await self._draft(state)
        commands: dict[str, Command] = {}
        pushed: dict[str, PushedItem] = {}
        for line_id in sorted({*lines, *state.items}):
            line = lines.get(line_id) or _zero(state.items[line_id], state.currency, line_id)
            amount, quantity = to_stripe_amount(line.amount), str(line.quantity)
            item = state.items.get(line_id)
            key = f"billing:item:{self.client_id}:{self.period}:{line_id}"
            if item is None:
                if amount == 0:
                    continue
                commands[line_id] = AddInvoiceItem(
                    idempotency_key=key,
                    customer=state.customer,
                    line=line,
                    invoice=state.invoice_id,
                )
            elif item.amount != amount or item.quantity != quantity:
                commands[line_id] = UpdateInvoiceItem(
                    idempotency_key=f"{key}:r{revision}:{amount}:{quantity}",
                    item=item.item_id,
                    line=line,
                )
            else:
                continue
            pushed[line_id] = PushedItem(item_id="", amount=amount, quantity=quantity)
        adopted = await self._adopt(state, commands, revision)
        results, failure = await self._ask_all(commands)
        made = {line_id: item.id for line_id, item in results.items()}
        pushed = {
            line_id: msgspec.structs.replace(item, item_id=made.get(line_id) or adopted[line_id])
            for line_id, item in pushed.items()
            if line_id in made or line_id in adopted
        }

        def change(current: InvoiceState | None) -> InvoiceState:
            current = _present(current)
            done = current.revision == revision and failure is None
            return msgspec.structs.replace(
                current,
                items={**current.items, **pushed},
                flushed=revision if failure is None else current.flushed,
                dirty_since=None if done else current.dirty_since,
            )

        # what was made is saved even when another line failed: its answer is not lost
        _, state = await update(self.journal, INVOICE, self.entity, InvoiceState, change)
        if failure is not None:
            raise failure
        return state

    async def _adopt(
        self, state: InvoiceState, commands: dict[str, Command], revision: int
    ) -> dict[str, str]:
        """Find on the draft the items this invoice made but never learnt of (an answer lost,
        a flush that failed part-way), by their line (``metadata[mediator_origin]``): each is
        updated to the line's amount instead of made twice. Returns their ids by line."""
        creates = [line for line, c in commands.items() if isinstance(c, AddInvoiceItem)]
        if not creates or self.item_lookup is None or not state.invoice_id:
            return {}
        on_draft = {
            item.metadata.get(ORIGIN_KEY): item for item in await self.item_lookup(state.invoice_id)
        }
        adopted: dict[str, str] = {}
        for line_id in creates:
            item = on_draft.get(line_id)
            if item is None:
                continue
            command = commands.pop(line_id)
            assert isinstance(command, AddInvoiceItem)
            adopted[line_id] = item.id
            if item.amount != to_stripe_amount(command.line.amount):
                key = command.idempotency_key
                commands[line_id] = UpdateInvoiceItem(
                    idempotency_key=f"{key}:r{revision}:adopted", item=item.id, line=command.line
                )
        return adopted

    async def _draft(self, state: InvoiceState) -> InvoiceState:
        xref = await self.journal.xref_to("client", self.client_id, "stripe")
        if xref is None:
            raise MissingReference(
                "client", f"client {self.client_id} has no Stripe customer (not onboarded)"
            )
        terms, _ = await load(self.journal, _TERMS, self.client_id, int)  # type: ignore[type-var]  # a bare int state
        rates = await self.taxes.for_customer(xref.system_id) if self.taxes else ()
        draft = await self._ask(
            CreateDraftInvoice(
                idempotency_key=f"billing:invoice:{self.client_id}:{self.period}",
                customer=xref.system_id,
                currency=state.currency,
                days_until_due=self.terms if terms is None else terms,
                period=self.period,
                tax_rates=rates,
            ),
            wire.StInvoice,
        )
        _, state = await update(
            self.journal,
            INVOICE,
            self.entity,
            InvoiceState,
            lambda s: msgspec.structs.replace(
                _present(s), invoice_id=draft.id, customer=xref.system_id
            ),
        )
        return state

    async def _ask_all(
        self, commands: Mapping[str, Command]
    ) -> tuple[dict[str, wire.StInvoiceItem], BaseException | None]:
        # Sent together (the Stripe actor batches them under its own concurrency and limits),
        # and each to its end: one refused must not cancel the others, whose effects would
        # be made but their answers lost. Returns what was made, and the first failure.
        lines = list(commands)
        outcomes = await asyncio.gather(
            *(self._ask(commands[line], wire.StInvoiceItem) for line in lines),
            return_exceptions=True,
        )
        made = {
            line: outcome
            for line, outcome in zip(lines, outcomes, strict=True)
            if isinstance(outcome, wire.StInvoiceItem)
        }
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        return made, failure

    async def _ask(self, command: Command, kind: type[T]) -> T:
        result = await self.stripe.ask(command, timeout=self.timeout)
        if not isinstance(result, kind):
            raise TypeError(f"Stripe answered {type(result).__name__}, not {kind.__name__}")
        return result


class ItemLookup(Protocol):
    """Reads the items on a Stripe invoice (`StripeConnector.list_invoice_items`)."""

    async def __call__(self, invoice: str) -> list[wire.StInvoiceItem]:
        """Every item on `invoice`."""
        ...


def _present(state: InvoiceState | None) -> InvoiceState:
    assert state is not None  # an invoice state is never deleted
    return state


def _zero(item: PushedItem, currency: str, line_id: str) -> InvoiceLine:
    # a line whose entries all moved away: its item stays on the draft at zero
    zero = Money.zero(currency)
    return InvoiceLine(
        description=f"{line_id.split('|')[2]} (no longer billed)",
        quantity=Decimal(0),
        unit_amount=zero,
        amount=zero,
        origin_id=line_id,
    )
