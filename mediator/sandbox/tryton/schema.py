"""The Tryton models the sandbox serves, as field definitions (the `__rpc__` of each model).

A small, faithful slice of trytond 8.2 with the modules party, company, project, timesheet,
account (its taxes) and account_invoice: the fields a connector writes and reads, their types,
labels (used in error messages exactly as trytond words them), required and read-only flags
(as its `fields_get` reports them), relations and selections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["MODELS", "Field", "ModelDef"]


@dataclass(frozen=True)
class Field:
    """One field: its type, label, and constraints."""

    kind: str  # char text password integer float numeric boolean date datetime timedelta
    # selection many2one one2many many2many reference function
    string: str
    relation: str | None = None
    inverse: str | None = None  # one2many: the many2one on `relation` pointing back
    required: bool = False
    selection: tuple[str, ...] = ()
    default: object = None
    readonly: bool = False  # trytond refuses it in RPC creates and writes (fields_get "readonly")


@dataclass(frozen=True)
class ModelDef:
    """One model: its label, fields, the RPC methods beyond ModelStorage, and its name field."""

    name: str
    string: str
    fields: dict[str, Field]
    buttons: tuple[str, ...] = ()
    rec_name: str | None = "name"
    order: tuple[tuple[str, str], ...] = (("id", "ASC"),)
    storage: tuple[str, ...] = field(
        default=("create", "read", "write", "delete", "search", "search_read", "search_count")
    )

    @property
    def deactivable(self) -> bool:
        """Whether the model archives records (trytond's `DeactivableMixin`: a stored `active`).

        Searches then hide inactive records unless asked for, and an inactive record's other
        fields are read-only.
        """
        active = self.fields.get("active")
        return active is not None and active.kind == "boolean"


def _f(kind: str, string: str, **kw: object) -> Field:
    return Field(kind, string, **kw)  # type: ignore[arg-type]  # keyword subset of Field


_MODELS = (
    ModelDef(
        "res.user",
        "User",
        {
            "name": _f("char", "Name", required=True),
            "login": _f("char", "Login", required=True),
            "password": _f("password", "Password"),
            "company": _f("many2one", "Current Company", relation="company.company"),
            "employee": _f("many2one", "Current Employee", relation="company.employee"),
            "language": _f("char", "Language"),
            "active": _f("boolean", "Active", default=True),
        },
        buttons=("get_preferences",),
    ),
    ModelDef(
        "account.account.type",
        "Account Type",
        {
            "name": _f("char", "Name", required=True),
            "receivable": _f("boolean", "Receivable", default=False),
            "payable": _f("boolean", "Payable", default=False),
            "revenue": _f("boolean", "Revenue", default=False),
            "expense": _f("boolean", "Expense", default=False),
        },
    ),
    ModelDef(
        "company.company",
        "Company",
        {
            "party": _f("many2one", "Party", relation="party.party", required=True),
            "currency": _f("many2one", "Currency", relation="currency.currency", required=True),
        },
        rec_name=None,
    ),
    ModelDef(
        "currency.currency",
        "Currency",
        {
            "name": _f("char", "Name", required=True),
            "code": _f("char", "Code", required=True),
            "symbol": _f("char", "Symbol"),
            "digits": _f("integer", "Digits", default=2),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "country.country",
        "Country",
        {
            "name": _f("char", "Name", required=True),
            "code": _f("char", "Code"),  # ISO 3166-1 alpha-2
            "active": _f("boolean", "Active", default=True),
        },
        order=(("name", "ASC"), ("id", "ASC")),
    ),
    ModelDef(
        "party.party",
        "Party",
        {
            "name": _f("char", "Name"),  # optional since trytond 7 (the code identifies a party)
            "code": _f("char", "Code"),
            "active": _f("boolean", "Active", default=True),
            "lang": _f("char", "Language"),
            "addresses": _f("one2many", "Addresses", relation="party.address", inverse="party"),
            "identifiers": _f(
                "one2many", "Identifiers", relation="party.identifier", inverse="party"
            ),
            "contact_mechanisms": _f(
                "one2many",
                "Contact Mechanisms",
                relation="party.contact_mechanism",
                inverse="party",
            ),
            "customer_payment_term": _f(
                "many2one", "Customer Payment Term", relation="account.invoice.payment_term"
            ),
            "email": _f("function", "E-Mail"),
            "tax_identifier": _f(
                "function", "Tax Identifier", relation="party.identifier", readonly=True
            ),
        },
        order=(("name", "ASC"), ("id", "ASC")),
    ),
    ModelDef(
        "party.address",
        "Address",
        {
            "party": _f("many2one", "Party", relation="party.party", required=True),
            "party_name": _f("char", "Party Name"),
            "street": _f("text", "Street"),
            "city": _f("char", "City"),
            "postal_code": _f("char", "Postal Code"),
            "country": _f("many2one", "Country", relation="country.country"),
            "invoice": _f("boolean", "Invoice", default=False),
            "active": _f("boolean", "Active", default=True),
        },
        rec_name="street",
    ),
    ModelDef(
        "party.identifier",
        "Party Identifier",
        {
            "party": _f("many2one", "Party", relation="party.party", required=True),
            "type": _f(
                "selection",
                "Type",
                selection=("", "eu_vat", "us_ein", "gb_vat", "ch_vat", "fr_siren", "de_vat"),
            ),
            "code": _f("char", "Code", required=True),
            "active": _f("boolean", "Active", default=True),
        },
        rec_name="code",
    ),
    ModelDef(
        "party.contact_mechanism",
        "Party Contact Mechanism",
        {
            "party": _f("many2one", "Party", relation="party.party", required=True),
            "type": _f(
                "selection",
                "Type",
                required=True,
                selection=("phone", "mobile", "fax", "email", "website", "other"),
            ),
            "value": _f("char", "Value"),
            "active": _f("boolean", "Active", default=True),
        },
        rec_name="value",
    ),
    ModelDef(
        "company.employee",
        "Employee",
        {
            "party": _f("many2one", "Party", relation="party.party", required=True),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "start_date": _f("date", "Start Date"),
            "end_date": _f("date", "End Date"),
        },
        rec_name=None,
    ),
    ModelDef(
        "product.uom",
        "Unit of Measure",
        {
            "name": _f("char", "Name", required=True),
            "symbol": _f("char", "Symbol", required=True),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "product.template",
        "Product Template",
        {
            "name": _f("char", "Name", required=True),
            "type": _f(
                "selection", "Type", selection=("goods", "assets", "service"), default="service"
            ),
            "default_uom": _f("many2one", "Default UoM", relation="product.uom", required=True),
            "list_price": _f("numeric", "List Price"),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "product.product",
        "Variant",
        {
            "template": _f(
                "many2one", "Product Template", relation="product.template", required=True
            ),
            "code": _f("char", "Code", readonly=True),
            "name": _f("function", "Name", readonly=True),
            "default_uom": _f("function", "Default UoM", relation="product.uom", readonly=True),
            "list_price": _f("function", "List Price"),
        },
    ),
    ModelDef(
        "account.account",
        "Account",
        {
            "name": _f("char", "Name", required=True),
            "code": _f("char", "Code"),
            "type": _f("many2one", "Type", relation="account.account.type"),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "closed": _f("boolean", "Closed", default=False),
        },
    ),
    ModelDef(
        "account.journal",
        "Journal",
        {
            "name": _f("char", "Name", required=True),
            "type": _f("selection", "Type", selection=("general", "revenue", "expense", "cash")),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "account.period",
        "Period",
        {
            "name": _f("char", "Name", required=True),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "start_date": _f("date", "Starting Date", required=True),
            "end_date": _f("date", "Ending Date", required=True),
            "state": _f(
                "selection", "State", selection=("open", "close", "locked"), default="open"
            ),
        },
    ),
    ModelDef(
        "account.configuration",
        "Account Configuration",
        {
            "default_account_receivable": _f(
                "many2one", "Default Account Receivable", relation="account.account"
            ),
            "default_account_revenue": _f(
                "many2one", "Default Account Revenue", relation="account.account"
            ),
            "tax_rounding": _f(
                "selection", "Tax Rounding", selection=("document", "line"), default="document"
            ),
        },
        rec_name=None,
    ),
    ModelDef(
        "account.tax",
        "Tax",
        {
            "name": _f("char", "Name", required=True),
            "description": _f("char", "Description"),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "type": _f(
                "selection",
                "Type",
                selection=("percentage", "fixed", "none"),
                default="percentage",
                required=True,
            ),
            "rate": _f("numeric", "Rate"),
            "amount": _f("numeric", "Amount"),
            "invoice_account": _f("many2one", "Invoice Account", relation="account.account"),
            "credit_note_account": _f(
                "many2one", "Credit Note Account", relation="account.account"
            ),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "account.invoice.payment.method",
        "Invoice Payment Method",
        {
            "name": _f("char", "Name", required=True),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "journal": _f("many2one", "Journal", relation="account.journal", required=True),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "account.invoice.payment_term",
        "Payment Term",
        {
            "name": _f("char", "Name", required=True),
            "days": _f("integer", "Days", default=0),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "project.work.status",
        "Work Status",
        {
            "name": _f("char", "Name", required=True),
            "progress": _f("numeric", "Progress"),
            "active": _f("boolean", "Active", default=True),
        },
    ),
    ModelDef(
        "project.work",
        "Project Work",
        {
            "name": _f("char", "Name", required=True),
            "type": _f("selection", "Type", selection=("project", "task"), default="task"),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "party": _f("many2one", "Party", relation="party.party"),
            "party_address": _f("many2one", "Contact Address", relation="party.address"),
            "parent": _f("many2one", "Parent", relation="project.work"),
            "children": _f("one2many", "Children", relation="project.work", inverse="parent"),
            "status": _f(
                "many2one", "Status", relation="project.work.status", required=True, default=1
            ),
            "number": _f("char", "Number", readonly=True),
            "comment": _f("text", "Comment"),
            "progress": _f("numeric", "Progress"),
            "effort_duration": _f("timedelta", "Effort"),
            "timesheet_available": _f("boolean", "Available on timesheets", default=False),
            "timesheet_works": _f(
                "function", "Timesheet Works", relation="timesheet.work", readonly=True
            ),
            "timesheet_duration": _f("function", "Duration", readonly=True),
            "amount_to_invoice": _f("function", "Amount to Invoice", readonly=True),
            "project_invoice_method": _f(
                "selection",
                "Invoice Method",
                default="manual",
                selection=("manual", "effort", "progress", "timesheet"),
            ),
            "product": _f("many2one", "Product", relation="product.product"),
            "list_price": _f("numeric", "List Price"),
        },
        buttons=("invoice",),
    ),
    ModelDef(
        "timesheet.work",
        "Work",
        {
            "name": _f("char", "Name"),
            "origin": _f("reference", "Origin"),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "timesheet_start_date": _f("date", "Timesheet Start"),
            "timesheet_end_date": _f("date", "Timesheet End"),
        },
    ),
    ModelDef(
        "timesheet.line",
        "Timesheet Line",
        {
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "employee": _f("many2one", "Employee", relation="company.employee", required=True),
            "date": _f("date", "Date", required=True),
            "duration": _f("timedelta", "Duration", required=True),
            "work": _f("many2one", "Work", relation="timesheet.work", required=True),
            "description": _f("char", "Description"),
            "uuid": _f("char", "UUID", readonly=True),
            "invoice_line": _f(
                "many2one", "Invoice Line", relation="account.invoice.line", readonly=True
            ),
        },
        rec_name=None,
        order=(("date", "DESC"), ("id", "DESC")),
    ),
    ModelDef(
        "account.invoice",
        "Invoice",
        {
            "type": _f("selection", "Type", selection=("out", "in"), required=True, default="out"),
            "company": _f("many2one", "Company", relation="company.company", required=True),
            "party": _f("many2one", "Party", relation="party.party", required=True),
            "invoice_address": _f(
                "many2one", "Invoice Address", relation="party.address", required=True
            ),
            "currency": _f("many2one", "Currency", relation="currency.currency", required=True),
            "journal": _f("many2one", "Journal", relation="account.journal", required=True),
            "account": _f("many2one", "Account", relation="account.account", required=True),
            "payment_term": _f("many2one", "Payment Term", relation="account.invoice.payment_term"),
            "invoice_date": _f("date", "Invoice Date"),
            "number": _f("char", "Number", readonly=True),
            "reference": _f("char", "Reference"),
            "description": _f("char", "Description"),
            "state": _f(
                "selection",
                "State",
                default="draft",
                selection=("draft", "validated", "posted", "paid", "cancelled"),
                readonly=True,
            ),
            "lines": _f("one2many", "Lines", relation="account.invoice.line", inverse="invoice"),
            "untaxed_amount": _f("function", "Untaxed", readonly=True),
            "tax_amount": _f("function", "Tax", readonly=True),
            "total_amount": _f("function", "Total", readonly=True),
            "amount_to_pay": _f("function", "Amount to Pay", readonly=True),
            "move": _f("integer", "Move", readonly=True),
        },
        buttons=("validate_invoice", "post", "draft", "cancel"),
        rec_name="number",
        order=(("number", "DESC"), ("id", "DESC")),
    ),
    ModelDef(
        "account.invoice.line",
        "Invoice Line",
        {
            "invoice": _f("many2one", "Invoice", relation="account.invoice"),
            "type": _f(
                "selection",
                "Type",
                selection=("line", "subtotal", "title", "comment"),
                default="line",
            ),
            "product": _f("many2one", "Product", relation="product.product"),
            "description": _f("text", "Description"),
            "note": _f("text", "Note"),
            "quantity": _f("float", "Quantity", default=0.0),
            "unit": _f("many2one", "Unit", relation="product.uom"),
            "unit_price": _f("numeric", "Unit Price"),
            "account": _f("many2one", "Account", relation="account.account", required=True),
            "amount": _f("function", "Amount", readonly=True),
            "origin": _f("reference", "Origin"),
            "taxes": _f("many2many", "Taxes", relation="account.tax"),
        },
        rec_name="description",
    ),
)

MODELS: dict[str, ModelDef] = {model.name: model for model in _MODELS}
"""Every model the sandbox serves, by name."""
