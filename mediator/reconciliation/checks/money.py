"""The money check, per client and period: approved billable hours × the rate in force ↔ what
Stripe bills for that time.

The expected amount is computed again from the source, not from billing's memory: each
approved billable Harvest entry of the period, priced at its project's rate history on its day
(the consultant's own rate, else their role's; Harvest's own rate before a history exists, as
billing prices it), summed per client and currency. What Stripe bills is the sum of the time
items (``metadata[mediator_origin]`` ``hour|<period>|…``) of that client's invoices, whatever
invoice they landed on (a late correction lands on a later one), but a voided one. Billing
rounds once per line, this sum once per client, so a few cents' difference is *within
tolerance* (shown with its delta); more is *divergent*, with each item whose amount no longer
equals its quantity × unit price named (an amount changed in Stripe by hand).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from mediator.codecs.harvest import wire as hv
from mediator.codecs.harvest.mapping import is_approved
from mediator.codecs.stripe import wire as st
from mediator.flows.rate_history import FLOW as RATES
from mediator.flows.rate_history import RateHistory
from mediator.reconciliation.checks.timesheets import entry_version, time_entry_key
from mediator.reconciliation.model import FieldDiff
from mediator.reconciliation.run import Run

__all__ = ["check_money"]

_CENT = Decimal("0.01")


async def check_money(run: Run) -> None:
    """Compare each client's billed time of the period with its approved hours × rates."""
    entries = [e for e in await run.reads.time_entries(run.period) if is_approved(e) and e.billable]
    clients = await run.known.xrefs("client")
    by_harvest = {ids["harvest"]: c for c, ids in clients.items() if "harvest" in ids}
    by_customer = {ids["stripe"]: c for c, ids in clients.items() if "stripe" in ids}
    projects = await run.known.xrefs("project")
    project_of = {ids["harvest"]: p for p, ids in projects.items() if "harvest" in ids}
    people = await run.known.xrefs("consultant")
    person_of = {ids["harvest"]: p for p, ids in people.items() if "harvest" in ids}
    rates = await _rate_histories(run, set(project_of.values()))
    billing_keys = {
        str(e.id): time_entry_key(str(e.id), entry_version(e)) + ":billing" for e in entries
    }
    fates = await run.known.fates(billing_keys.values())
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    unsure: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # not booked yet: in flight
    dead: dict[tuple[str, str], list[str]] = defaultdict(list)
    unpriced = 0
    for entry in entries:
        client = by_harvest.get(str(entry.client.id)) if entry.client is not None else None
        project = project_of.get(str(entry.project.id))
        priced = _price(entry, rates.get(project or ""), person_of.get(str(entry.user.id)))
        if client is None or priced is None:
            unpriced += 1  # not onboarded, or no rate: billing's dead letter, named there
            continue
        rate, currency = priced
        at = (client, currency)
        expected[at] += entry.hours * rate
        fate = fates.get(billing_keys[str(entry.id)])
        changed = None if entry.updated_at is None else entry.updated_at.timestamp()
        if fate is None or fate.open or run.recent(changed):
            unsure[at] += entry.hours * rate
        elif fate.dead:
            dead[at].append(fate.latest.id)
    voided = {i.id for i in await run.reads.invoices() if i.status == "void"}
    kept = [i for i in await run.reads.invoice_items() if i.invoice not in voided]
    billed, items = _billed(kept, by_customer, run.period)
    currencies = {c for _, c in expected} | {c for _, c in billed}
    for currency in sorted(currencies):
        sums = [v for (_, c), v in expected.items() if c == currency]
        run.total("harvest", "billable time", len(entries), _cents(sum(sums, Decimal(0))), currency)
        found = [v for (_, c), v in billed.items() if c == currency]
        run.total("stripe", "time items", len(items), sum(found, Decimal(0)), currency)
    for at in sorted(expected.keys() | billed.keys()):
        client, currency = at
        want = _cents(expected.get(at, Decimal(0)))
        have = billed.get(at, Decimal(0))
        delta = have - want
        tolerance = run.options.tolerance_of(currency)
        settled = _cents(expected.get(at, Decimal(0)) - unsure.get(at, Decimal(0)))
        entity = f"client:{client}"
        if delta == 0:
            run.count("money", "matched")
        elif abs(delta) <= tolerance:
            run.tolerate("money", entity, currency, delta)
        elif at in unsure and abs(have - settled) <= tolerance:
            run.count("money", "in_flight")  # what is billed is all but what is on its way
        else:
            tampered = tuple(
                FieldDiff(
                    field=f"item {item.id} amount",
                    expected=str(_item_value(item)),
                    found=str(Decimal(item.amount) / 100),
                )
                for item in items.get(at, ())
                if _item_value(item) != Decimal(item.amount) / 100
            )
            run.found(
                "money", "missing" if at not in billed else "divergent",
                entity=entity, system="stripe", source="harvest", key=f"client:{client}",
                detail=f"Stripe bills {have} {currency} for {run.period}'s time; the approved "
                f"billable hours at the rates in force come to {settled} {currency}"
                + (f" (and {_cents(unsure[at])} more on its way)" if at in unsure else ""),
                diffs=tampered, delta=have - settled, currency=currency,
                dead_letters=tuple(dead.get(at, ())),
            )  # fmt: skip
    if unpriced:
        run.total("harvest", "billable time not priced (not onboarded or no rate)", unpriced)


async def _rate_histories(run: Run, projects: set[str]) -> dict[str, RateHistory]:
    found: dict[str, RateHistory] = {}
    for state in await run.known.reader.flow_states([RATES], sorted(projects)):
        found[state.entity] = msgspec.json.decode(state.state, type=RateHistory)
    return found


def _price(
    entry: hv.HvTimeEntry, history: RateHistory | None, consultant: str | None
) -> tuple[Decimal, str] | None:
    if history is not None:
        period = history.rate_on(entry.spent_date, consultant_id=consultant)
        if period is None:
            return None
        return period.bill_rate.to_decimal(), period.bill_rate.currency
    if entry.billable_rate is None or entry.client is None:
        return None
    return entry.billable_rate, (entry.client.currency or "USD").upper()


def _billed(
    items: list[st.StInvoiceItem], by_customer: dict[str, str], period: str
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], list[st.StInvoiceItem]]]:
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    kept: dict[tuple[str, str], list[st.StInvoiceItem]] = defaultdict(list)
    for item in items:
        origin = item.metadata.get("mediator_origin", "")
        client = by_customer.get(item.customer)
        if client is None or not origin.startswith(f"hour|{period}|"):
            continue
        at = (client, item.currency.upper())
        sums[at] += Decimal(item.amount) / 100
        kept[at].append(item)
    return sums, kept


def _item_value(item: st.StInvoiceItem) -> Decimal:
    """What an item should amount to: its quantity × unit price (in its metadata), rounded
    once as billing rounds it."""
    try:
        quantity = Decimal(item.metadata["quantity"])
        unit = Decimal(item.metadata["unit_amount"])
    except (KeyError, ArithmeticError):
        return Decimal(item.amount) / 100
    return _cents(quantity * unit)


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(_CENT, ROUND_HALF_EVEN)
