"""project_invoice's `invoice` button: a draft customer invoice from uninvoiced timesheets.

For a project invoiced on timesheets, every timesheet line not yet invoiced becomes part of
one invoice line (hours at the project's list price, product and unit of the project), and
each timesheet line is linked to it (`invoice_line`), so `amount_to_invoice` drops to zero.
The invoice takes the defaults the desktop client would fill in: the party's invoice address,
the configured receivable and revenue accounts, the revenue journal, the company currency.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from mediator.sandbox.tryton.errors import user_error

if TYPE_CHECKING:
    from mediator.sandbox.tryton.database import Record, TrytonDatabase

__all__ = ["invoice_projects"]


def invoice_projects(db: TrytonDatabase, ids: object) -> None:
    """Create draft invoices for the uninvoiced timesheets of the projects `ids`."""
    for project_id in ids if isinstance(ids, list) else []:
        project = db.record("project.work", project_id)
        if project.get("project_invoice_method") != "timesheet":
            continue
        origin = f"project.work,{project['id']}"
        works = {w["id"] for w in db.tables["timesheet.work"].values() if w["origin"] == origin}
        lines = [
            line
            for line in db.tables["timesheet.line"].values()
            if line["work"] in works and line.get("invoice_line") is None
        ]
        if not lines:
            continue
        _invoice(db, project, lines)


def _invoice(db: TrytonDatabase, project: Record, lines: list[Record]) -> None:
    party_id = project.get("party")
    if party_id is None:
        raise user_error(f'To invoice work "{project["name"]}" you must define a party.')
    party = db.record("party.party", party_id)
    addresses = [a for a in db.tables["party.address"].values() if a["party"] == party_id]
    if not addresses:
        raise user_error(
            f'To invoice work "{project["name"]}", the party "{party["name"]}" '
            "needs an invoice address."
        )
    address = next((a for a in addresses if a.get("invoice")), addresses[0])
    config = next(iter(db.tables["account.configuration"].values()))
    journal = next(j for j in db.tables["account.journal"].values() if j["type"] == "revenue")
    company = db.record("company.company", project["company"])
    product_id = project.get("product")
    unit = (
        db.value("product.product", db.record("product.product", product_id), "default_uom")
        if product_id
        else None
    )
    hours = sum(
        (d for d in (line["duration"] for line in lines) if isinstance(d, timedelta)),
        timedelta(0),
    )
    [invoice] = db.create(
        "account.invoice",
        [
            {
                "type": "out",
                "company": company["id"],
                "party": party_id,
                "invoice_address": address["id"],
                "currency": company["currency"],
                "journal": journal["id"],
                "account": config["default_account_receivable"],
                "description": project["name"],
                "payment_term": party.get("customer_payment_term"),
                "lines": [
                    [
                        "create",
                        [
                            {
                                "type": "line",
                                "product": product_id,
                                "unit": unit,
                                "quantity": round(hours.total_seconds() / 3600, 2),
                                "unit_price": project.get("list_price"),
                                "description": project["name"],
                                "account": config["default_account_revenue"],
                            }
                        ],
                    ]
                ],
            }
        ],
    )
    [line_id] = [
        line["id"]
        for line in db.tables["account.invoice.line"].values()
        if line["invoice"] == invoice
    ]
    for line in lines:
        db.remember(line)
        line["invoice_line"] = line_id
