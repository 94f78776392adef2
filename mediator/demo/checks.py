"""What the demo checks in the sandboxes themselves after the month: each system's own records.

Every check reads a sandbox's records (never mediator's journal) and counts what mediator made
against what it should have made: each onboarded client and project once in each system, each
approved billable hour on one invoice, each finalized invoice once in the ERP with the same
total, each payment applied once. A `Check` names what it counted and what is wrong, if any.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

import msgspec

from mediator.runtime import Mediator
from mediator.sandbox import Sandboxes
from mediator.sandbox.tryton.computed import invoice_total

__all__ = [
    "Check",
    "check_billing",
    "check_cash",
    "check_onboarding",
    "check_receivables",
    "reconciliation",
]


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One check: what it counted (`figures`, in words) and its `problems` (empty: passed)."""

    name: str
    figures: str
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.problems


def _rows(boxes: Sandboxes, model: str) -> list[dict[str, Any]]:
    assert boxes.tryton is not None
    return list(boxes.tryton.db.tables.get(model, {}).values())


def _stripe(boxes: Sandboxes, table: str) -> list[dict[str, Any]]:
    assert boxes.stripe is not None
    found: dict[str, dict[str, Any]] = getattr(boxes.stripe.store, table)
    return list(found.values())


def _once(what: str, keys: Iterable[str], expected: set[str]) -> list[str]:
    counted = collections.Counter(keys)
    problems = [f"{what} {key} missing" for key in sorted(expected - set(counted))]
    problems += [f"{what} {key} made {n} times" for key, n in sorted(counted.items()) if n > 1]
    return problems


def check_onboarding(boxes: Sandboxes, *, clients: set[str], projects: set[str]) -> Check:
    """Each onboarded client (its Account's firm key) and project (its code) exists exactly
    once in the ERP, the PSA and billing, and the CRM says the deal was onboarded."""
    assert boxes.harvest is not None
    assert boxes.stripe is not None
    assert boxes.salesforce is not None
    harvest = boxes.harvest.store.tables
    parties = [str(p.get("code") or "") for p in _rows(boxes, "party.party")]
    problems = _once("ERP party", (c for c in parties if c in clients), clients)
    works = [str(w.get("name") or "").split(" ", 1)[0] for w in _rows(boxes, "project.work")]
    problems += _once("ERP project", (w for w in works if w in projects), projects)
    harvest_codes = [str(p.get("code") or "") for p in harvest["projects"].values()]
    problems += _once("PSA project", harvest_codes, projects)
    customers = [
        str((c.get("metadata") or {}).get("mediator_client_key") or "")
        for c in _stripe(boxes, "customers")
    ]
    stripe_clients = [c for c in customers if c]
    if stripe_clients:
        problems += _once("billing customer", stripe_clients, clients)
    deals = [
        o
        for o in boxes.salesforce.store.records("Opportunity")
        if o.get("IsWon") and o.get("Project_Key__c") in projects
    ]
    problems += [
        f"CRM opportunity {o['Id']} says {o.get('Sync_Status__c')!r}"
        for o in deals
        if o.get("Sync_Status__c") != "Onboarded"
    ]
    return Check(
        name="onboarding",
        figures=(
            f"{len(clients)} clients and {len(projects)} projects, each once in the ERP, the "
            f"PSA and billing ({len(harvest['clients'])} PSA clients, "
            f"{len(boxes.stripe.store.customers)} billing customers); {len(deals)} won deals "
            "marked Onboarded in the CRM"
        ),
        problems=tuple(problems),
    )


def check_billing(boxes: Sandboxes, *, billable: dict[str, int]) -> Check:
    """Each approved billable hour is on exactly one finalized invoice: the invoices' item
    totals (subtotals, before tax) per customer equal `billable` (minor units per Stripe
    customer id)."""
    assert boxes.stripe is not None
    invoices = [i for i in _stripe(boxes, "invoices") if i.get("status") != "void"]
    billed: collections.Counter[str] = collections.Counter()
    for invoice in invoices:
        tags = invoice.get("metadata") or {}
        if not tags.get("mediator_period") or tags.get("mediator_engagement"):
            continue  # a milestone's invoice (an engagement's, not a client's month)
        billed[str(invoice["customer"])] += int(invoice["subtotal"])  # before its tax
    problems = [
        f"customer {customer} billed {billed.get(customer, 0)}, approved work worth {amount}"
        for customer, amount in sorted(billable.items())
        if billed.get(customer, 0) != amount
    ]
    drafts = [i["id"] for i in invoices if i.get("status") == "draft"]
    problems += [f"invoice {i} still a draft after the close" for i in drafts]
    return Check(
        name="billing",
        figures=(
            f"{len(billed)} period invoices, {sum(billed.values()) / 100:,.2f} billed in all, "
            "equal per customer to the approved hours at their rates plus expenses"
        ),
        problems=tuple(problems),
    )


def check_receivables(boxes: Sandboxes) -> Check:
    """Each finalized Stripe invoice is one posted ERP customer invoice with the same total,
    tax included."""
    assert boxes.stripe is not None
    finalized = {
        str(i["id"]): int(i["total"])
        for i in _stripe(boxes, "invoices")
        if i.get("status") in ("open", "paid")
    }
    invoices = [i for i in _rows(boxes, "account.invoice") if i.get("type") == "out"]
    by_reference = collections.Counter(str(i.get("reference") or "") for i in invoices)
    problems = _once("ERP invoice for", (r for r in by_reference.elements() if r), set(finalized))
    assert boxes.tryton is not None
    for invoice in invoices:
        reference = str(invoice.get("reference") or "")
        if reference not in finalized:
            continue
        if invoice.get("state") not in ("posted", "paid"):
            problems.append(f"ERP invoice for {reference} is {invoice.get('state')}")
        total = invoice_total(boxes.tryton.db, invoice)  # Tryton's own, tax included
        if int(total * 100) != finalized[reference]:
            problems.append(f"ERP invoice for {reference} totals {total}, Stripe's {reference}")
    return Check(
        name="receivables",
        figures=f"{len(finalized)} finalized invoices, each posted once in the ERP, same totals",
        problems=tuple(problems),
    )


def check_cash(boxes: Sandboxes) -> Check:
    """Each invoice paid in Stripe is paid in the ERP; one paid in part is open there for the
    rest."""
    assert boxes.stripe is not None
    stripe = {
        str(i["id"]): i for i in _stripe(boxes, "invoices") if i.get("status") in ("open", "paid")
    }
    erp = {str(i.get("reference")): i for i in _rows(boxes, "account.invoice")}
    problems = []
    paid = partial = 0
    for invoice_id, invoice in sorted(stripe.items()):
        state = str(erp.get(invoice_id, {}).get("state"))
        if invoice.get("status") == "paid":
            paid += 1
            if state != "paid":
                problems.append(f"{invoice_id} paid in Stripe, {state} in the ERP")
        elif int(invoice.get("amount_paid") or 0) > 0:
            partial += 1
            if state != "posted":
                problems.append(f"{invoice_id} paid in part in Stripe, {state} in the ERP")
    return Check(
        name="cash application",
        figures=f"{paid} invoices paid and {partial} paid in part, each applied once in the ERP",
        problems=tuple(problems),
    )


async def reconciliation(mediator: Mediator, period: str) -> Check:
    """mediator's own reconciliation of the month, through the vendors' APIs: every break it
    finds is a problem (the checks above read the sandboxes instead)."""
    report = await mediator.reconciliation.reconcile(period)
    counts: collections.Counter[str] = collections.Counter()
    for by_class in report.counts.values():
        counts.update(by_class)
    classes = ", ".join(f"{n:,} {match.replace('_', ' ')}" for match, n in sorted(counts.items()))
    calls = sum(report.calls.values())
    return Check(
        name="reconciliation",
        figures=f"{report.compared:,} records compared in {calls} API calls ({classes})",
        problems=tuple(f"{b.match} in {b.system}: {b.entity}: {b.detail}" for b in report.breaks),
    )
