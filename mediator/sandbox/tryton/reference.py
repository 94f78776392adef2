"""The business set-up a fresh Tryton needs before invoices can be posted.

What `shared/reference/tryton/setup_company.py` does on a real server: a currency, the
company and its admin user, a chart with receivable and revenue accounts and their defaults,
a revenue journal, the stock payment terms, project statuses and the service product
"Consulting hour" (unit Hour, list price 100).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from mediator.sandbox.tryton.database import TrytonDatabase

__all__ = ["COUNTRIES", "CompanySetup", "install_company"]


class CompanySetup(msgspec.Struct, frozen=True, kw_only=True):
    """The ids of the reference records a connector needs in its calls."""

    company: int
    currency: int
    receivable: int
    revenue: int
    journal: int
    payment_term: int
    payment_method: int
    product: int
    unit: int
    user: int
    #: the sales taxes (``account.tax``, type percentage) by percentage: ``"20.0"``, ``"7.25"``
    taxes: dict[str, int] = {}


#: The countries the sandbox's database knows (ISO 3166-1 alpha-2 code, English name).
COUNTRIES = (
    ("AT", "Austria"), ("AU", "Australia"), ("BE", "Belgium"), ("BR", "Brazil"),
    ("CA", "Canada"), ("CH", "Switzerland"), ("CN", "China"), ("CZ", "Czechia"),
    ("DE", "Germany"), ("DK", "Denmark"), ("ES", "Spain"), ("FI", "Finland"),
    ("FR", "France"), ("GB", "United Kingdom"), ("IE", "Ireland"), ("IN", "India"),
    ("IT", "Italy"), ("JP", "Japan"), ("LU", "Luxembourg"), ("MX", "Mexico"),
    ("NL", "Netherlands"), ("NO", "Norway"), ("NZ", "New Zealand"), ("PL", "Poland"),
    ("PT", "Portugal"), ("SE", "Sweden"), ("SG", "Singapore"), ("US", "United States"),
    ("ZA", "South Africa"),
)  # fmt: skip


def install_company(
    db: TrytonDatabase,
    *,
    name: str = "Sandbox Consulting",
    currency: str = "USD",
    login: str = "admin",
    password: str = "admin",
) -> CompanySetup:
    """Create the company, its administrator and accounting set-up in `db`; return their ids."""
    [currency_id] = db.create(
        "currency.currency", [{"name": currency, "code": currency, "symbol": currency}]
    )
    # what `trytond_import_countries` loads into a real database (a subset here)
    db.create("country.country", [{"code": code, "name": name} for code, name in COUNTRIES])
    [party] = db.create("party.party", [{"name": name}])
    [company] = db.create("company.company", [{"party": party, "currency": currency_id}])
    [user] = db.create(
        "res.user",
        [
            {
                "name": "Administrator",
                "login": login,
                "password": password,
                "company": company,
                "language": "en",
            }
        ],
    )
    db.tables["res.user"][user]["_groups"] = ["administration", "account", "project"]
    receivable_type, revenue_type = db.create(
        "account.account.type",
        [{"name": "Receivable", "receivable": True}, {"name": "Revenue", "revenue": True}],
    )
    receivable, revenue = db.create(
        "account.account",
        [
            {
                "name": "Main Receivable",
                "code": "1200",
                "type": receivable_type,
                "company": company,
            },
            {"name": "Main Revenue", "code": "4000", "type": revenue_type, "company": company},
        ],
    )
    [tax_type] = db.create("account.account.type", [{"name": "Tax"}])
    [tax_account] = db.create(
        "account.account",
        [{"name": "Sales Tax Payable", "code": "2400", "type": tax_type, "company": company}],
    )
    standard, reduced = db.create(
        "account.tax",
        [
            {"name": name, "description": name, "company": company, "type": "percentage",
             "rate": rate, "invoice_account": tax_account, "credit_note_account": tax_account}
            for name, rate in (("VAT 20%", Decimal("0.2")), ("Sales tax 7.25%", Decimal("0.0725")))
        ],
    )  # fmt: skip
    db.create(
        "account.configuration",
        [
            {
                "default_account_receivable": receivable,
                "default_account_revenue": revenue,
                # Stripe rounds each line's tax: so does the ERP, or totals drift by cents
                "tax_rounding": "line",
            }
        ],
    )
    [journal] = db.create("account.journal", [{"name": "Revenue", "type": "revenue"}])
    [cash] = db.create("account.journal", [{"name": "Cash", "type": "cash"}])
    [method] = db.create(
        "account.invoice.payment.method", [{"name": "Bank", "company": company, "journal": cash}]
    )
    terms = db.create(
        "account.invoice.payment_term",
        [{"name": "Upon Receipt", "days": 0}, {"name": "Net 30 days", "days": 30}],
    )
    db.create(
        "project.work.status",
        [{"name": "Open", "progress": Decimal(0)}, {"name": "Done", "progress": Decimal(1)}],
    )
    [unit] = db.create("product.uom", [{"name": "Hour", "symbol": "h"}])
    [template] = db.create(
        "product.template",
        [
            {
                "name": "Consulting hour",
                "type": "service",
                "default_uom": unit,
                "list_price": Decimal("100"),
            }
        ],
    )
    [product] = db.create("product.product", [{"template": template, "code": "HOUR"}])
    return CompanySetup(
        company=company,
        currency=currency_id,
        receivable=receivable,
        revenue=revenue,
        journal=journal,
        payment_term=terms[0],
        payment_method=method,
        product=product,
        unit=unit,
        user=user,
        taxes={"20.0": standard, "7.25": reduced},
    )
