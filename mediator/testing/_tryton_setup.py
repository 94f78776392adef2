"""Business set-up of a fresh Tryton database, run by path inside the Tryton virtualenv.

`mediator.testing.tryton_server` runs this file with the Tryton venv's interpreter, after
``trytond-admin`` has activated the modules and before any server starts (proteus works
in-process through ``config.set_trytond``, and SQLite prefers a single writer). trytond and
proteus live only in that venv, so they are imported inside `main()`: importing this module from
mediator's own venv (the `__all__` honesty test does) needs nothing but the standard library.

It creates what posting a customer invoice needs and nothing more: a currency, the company
(through its wizard, which also gives the admin user its company), the minimal English chart of
accounts with its default properties, fiscal years for this year and next with monthly periods
and strict move and invoice sequences, a payment term, a tax-free account category, the service
product "Consulting hour" and one employee. It prints the ids it set up as one JSON object on
stdout. Recipe and timings: shared/reference/tryton/REPORT.md §3.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from decimal import Decimal
from typing import Any


def main() -> None:
    """Set up the company and its accounting in the database named on the command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--company", default="Mediator Consulting Ltd")
    args = parser.parse_args()

    # proteus is installed only in the Tryton venv, never in mediator's.
    from proteus import Model, Wizard  # type: ignore[import-not-found]  # proteus lives in the Tryton server's virtualenv only
    from proteus import config as pconfig

    config = pconfig.set_trytond(database=args.database, config_file=args.config)

    # The currency module ships no currencies (REPORT pitfall 10).
    currency = Model.get("currency.currency")(
        name="U.S. Dollar", symbol="$", code="USD", rounding=Decimal("0.01"), digits=2
    )
    currency.save()
    Model.get("currency.currency.rate")(
        date=dt.date(2000, 1, 1), rate=Decimal(1), currency=currency
    ).save()

    # The company wizard also sets the admin user's company and companies.
    party = Model.get("party.party")(name=args.company)
    party.save()
    wizard = Wizard("company.company.config")
    wizard.execute("company")
    wizard.form.party = party
    wizard.form.currency = currency
    wizard.execute("add")
    (company,) = Model.get("company.company").find([])
    config._context = Model.get("res.user").get_preferences(True, {})

    accounts = _create_chart(Model, Wizard, company)
    _create_fiscal_years(Model, company)

    # account_invoice ships "Upon Receipt", "Net 30 days" and others: reuse the first.
    (term,) = Model.get("account.invoice.payment_term").find(
        [("name", "=", "Upon Receipt")], limit=1
    )
    category = Model.get("product.category")(name="Services (no tax)", accounting=True)
    category.account_revenue = accounts["revenue"]
    category.account_expense = accounts["expense"]
    category.save()
    (hour,) = Model.get("product.uom").find([("name", "=", "Hour")])
    template = Model.get("product.template")(
        name="Consulting hour",
        type="service",
        default_uom=hour,
        list_price=Decimal("100.0000"),
        account_category=category,
    )
    template.save()
    (product,) = template.products

    employee_party = Model.get("party.party")(name="Ada Consultant")
    employee_party.save()
    employee = Model.get("company.employee")(
        party=employee_party, company=company, start_date=dt.date(2020, 1, 1)
    )
    employee.save()
    (journal,) = Model.get("account.journal").find([("type", "=", "revenue")], limit=1)
    (admin,) = Model.get("res.user").find([("login", "=", "admin")])

    ids = {
        "admin_user": admin.id,
        "company": company.id,
        "company_party": party.id,
        "currency": currency.id,
        "payment_term": term.id,
        "account_category": category.id,
        "product": product.id,
        "product_template": template.id,
        "uom_hour": hour.id,
        "employee": employee.id,
        "revenue_journal": journal.id,
        **{f"{kind}_account": account.id for kind, account in accounts.items()},
    }
    print(json.dumps(ids, sort_keys=True))  # noqa: T201 - the parent process reads stdout


def _create_chart(model: Any, wizard_class: Any, company: Any) -> dict[str, Any]:
    """Create the minimal English chart and its default properties; return the key accounts."""
    template_id = model.get("ir.model.data").get_id("account.account_template_root_en", {})
    wizard = wizard_class("account.create_chart")
    wizard.execute("account")
    wizard.form.account_template = model.get("account.account.template")(template_id)
    wizard.form.company = company
    wizard.execute("create_account")
    accounts: dict[str, Any] = {}
    for kind in ("receivable", "payable", "revenue", "expense"):
        (accounts[kind],) = model.get("account.account").find(
            [(f"type.{kind}", "=", True), ("company", "=", company.id), ("closed", "!=", True)],
            limit=1,
        )
    wizard.form.account_receivable = accounts["receivable"]
    wizard.form.account_payable = accounts["payable"]
    wizard.form.category_account_revenue = accounts["revenue"]
    wizard.form.category_account_expense = accounts["expense"]
    wizard.execute("create_properties")
    return accounts


def _create_fiscal_years(model: Any, company: Any) -> None:
    """Create this year's and next year's fiscal years, so runs across New Year still post."""
    sequence_strict = model.get("ir.sequence.strict")
    sequence_type = model.get("ir.sequence.type")
    (move_type,) = sequence_type.find([("name", "=", "Account Move")], limit=1)
    (invoice_type,) = sequence_type.find([("name", "=", "Invoice")], limit=1)
    for year in (dt.date.today().year, dt.date.today().year + 1):
        moves = sequence_strict(name=f"Moves {year}", sequence_type=move_type, company=company)
        moves.save()
        invoices = sequence_strict(
            name=f"Invoices {year}",
            sequence_type=invoice_type,
            company=company,
            prefix=f"INV{year}-",
        )
        invoices.save()
        fiscal_year = model.get("account.fiscalyear")(
            name=str(year),
            company=company,
            start_date=dt.date(year, 1, 1),
            end_date=dt.date(year, 12, 31),
            move_sequence=moves,
        )
        (sequences,) = fiscal_year.invoice_sequences  # the form creates one line by default
        sequences.out_invoice_sequence = invoices
        sequences.in_invoice_sequence = invoices
        sequences.out_credit_note_sequence = invoices
        sequences.in_credit_note_sequence = invoices
        fiscal_year.save()
        fiscal_year.click("create_period")  # monthly periods


if __name__ == "__main__":
    main()
