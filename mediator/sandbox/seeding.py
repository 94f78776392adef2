"""Loading a generated `Firm` into the sandboxes, each in its own product's terms.

- Salesforce: every client as an Account (hierarchy through `ParentId`, tax profile and legal
  entity as custom fields, `External_Id__c` = client key), every deal as an Opportunity
  (won ones `Closed Won`, with a Contract and what onboarding judges: the firm's contracting
  company, payment terms, a retainer's interval, the staffing as ``email=role`` lines),
  fixed-fee milestones as `Milestone__c`.
- Harvest: the onboarded projects with their clients, every consultant as a user, rates as
  user assignments, tasks, expense categories, and the month's time entries and expenses;
  those approved on or before `as_of` (all, by default) are approved and locked.
- Stripe: a customer per client of an onboarded project (no events: they pre-date the run).
- Tryton: a party per such client, an employee per consultant, and the onboarded projects.

Returns a `SeedIndex`: each firm key's id in each product, for tests and the demo.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import msgspec

from mediator.sandbox.generator import Firm, Project
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.tryton import TrytonSandbox

__all__ = [
    "FIRM_COMPANIES",
    "PAYMENT_TERMS_DAYS",
    "TAX_IDENTIFIERS",
    "SeedIndex",
    "approve_through",
    "seed_activity",
    "seed_sandboxes",
]

_TAX_EXEMPT = {"standard": "none", "exempt": "exempt", "reverse_charge": "reverse"}
#: The ERP tax identifier type of a client's tax id, by country (others: ``eu_vat``).
TAX_IDENTIFIERS = {"US": "us_ein", "GB": "gb_vat", "DE": "de_vat"}
_CATEGORIES = ("Travel", "Lodging", "Meals", "Software")
# the CRM's picklist labels of the tax profiles (standard clients leave the field empty)
_CRM_EXEMPT = {"exempt": "Exempt", "reverse_charge": "Reverse Charge"}

#: The firm's own companies, by the currency they invoice in: a won deal's contracting
#: company (``Opportunity.Legal_Entity__c``).
FIRM_COMPANIES = {
    "USD": "Meridian Advisory Inc.",
    "EUR": "Meridian Advisory GmbH",
    "GBP": "Meridian Advisory Ltd",
}
#: The payment terms (net days) of every seeded won deal.
PAYMENT_TERMS_DAYS = 30


class SeedIndex(msgspec.Struct, kw_only=True):
    """Firm key → product id, per product (`salesforce`, `harvest`, `stripe`, `tryton`)."""

    salesforce: dict[str, str] = {}
    harvest: dict[str, int] = {}
    stripe: dict[str, str] = {}
    tryton: dict[str, int] = {}


def seed_sandboxes(
    firm: Firm,
    salesforce: SalesforceSandbox | None = None,
    harvest: HarvestSandbox | None = None,
    stripe: StripeSandbox | None = None,
    tryton: TrytonSandbox | None = None,
    *,
    as_of: date | None = None,
    onboarded: bool = True,
) -> SeedIndex:
    """Load `firm` into whichever sandboxes are given; return where everything went.

    `onboarded=False` loads the firm as it is before mediator onboarded its deals: the CRM
    as always, but only the people (and the PSA's tasks and expense categories) elsewhere,
    for the onboarding flow to create clients and projects; `seed_activity` then adds the
    month's time and expenses on the projects it made.
    """
    index = SeedIndex()
    if salesforce is not None:
        _salesforce(firm, salesforce, index)
    if harvest is not None:
        _harvest_people(firm, harvest, index)
        if onboarded:
            _harvest_projects(firm, harvest, index)
            seed_activity(firm, harvest, index, as_of=as_of)
    if stripe is not None and onboarded:
        _stripe(firm, stripe, index)
    if tryton is not None:
        _tryton(firm, tryton, index, onboarded=onboarded)
    return index


def _salesforce(firm: Firm, box: SalesforceSandbox, index: SeedIndex) -> None:
    store = box.store
    for client in firm.clients:  # parents come before their subsidiaries
        index.salesforce[client.key] = store.create(
            "Account",
            {
                "Name": client.name,
                "ParentId": index.salesforce.get(client.parent or ""),
                "Industry": client.industry,
                "BillingStreet": client.street,
                "BillingCity": client.city,
                "BillingPostalCode": client.postal_code,
                "BillingCountryCode": client.country,
                "CurrencyIsoCode": client.currency,
                "External_Id__c": client.key,
                "Legal_Entity__c": client.legal_entity,
                "Tax_Id__c": client.tax_id,
                "Tax_Profile__c": client.tax_profile,
                "Tax_Exempt__c": _CRM_EXEMPT.get(client.tax_profile),
                "Billing_Email__c": client.email,
            },
        )
    projects = {p.key: p for p in firm.projects}
    emails = {c.key: c.email for c in firm.consultants}
    staffing: dict[str, list[str]] = {}
    for assignment in firm.assignments:  # one "email=role" line per consultant on the deal
        line = f"{emails[assignment.consultant]}={assignment.role}"
        staffing.setdefault(assignment.project, []).append(line)
    for deal in firm.opportunities:
        account = index.salesforce[deal.client]
        project = projects.get(deal.project or "")
        fields: dict[str, object] = {
            "Name": deal.name,
            "AccountId": account,
            "StageName": deal.stage,
            "CloseDate": deal.close_date.isoformat(),
            "Amount": deal.amount / 100,
            "CurrencyIsoCode": deal.currency,
            "External_Id__c": deal.key,
        }
        if project is not None:
            contract = store.create(
                "Contract",
                {
                    "AccountId": account,
                    "StartDate": project.starts_on.isoformat(),
                    "EndDate": project.ends_on.isoformat(),
                    "ContractTerm": max(1, (project.ends_on - project.starts_on).days // 30),
                    "CurrencyIsoCode": project.currency,
                    "External_Id__c": f"K-{project.key}",
                },
            )
            index.salesforce[f"K-{project.key}"] = contract
            fields.update(
                ContractId=contract,
                Project_Key__c=project.key,
                Billing_Model__c=project.billing_model,
                Service_Line__c=project.service_line,
                Delivery_Region__c=project.region,
                Legal_Entity__c=FIRM_COMPANIES[project.currency],
                Payment_Terms_Days__c=PAYMENT_TERMS_DAYS,
                Staffing__c="\n".join(staffing.get(project.key, [])),
            )
            if project.billing_model == "retainer":
                fields["Retainer_Interval__c"] = "Month"
        index.salesforce[deal.key] = store.create("Opportunity", fields)
    for milestone in firm.milestones:
        deal_key = projects[milestone.project].opportunity
        index.salesforce[milestone.key] = store.create(
            "Milestone__c",
            {
                "Name": milestone.name,
                "Opportunity__c": index.salesforce[deal_key],
                "Amount__c": milestone.amount / 100,
                "Due_Date__c": milestone.due_date.isoformat(),
                "Status__c": "Approved" if milestone.approved else "Planned",
                "CurrencyIsoCode": projects[milestone.project].currency,
                "External_Id__c": milestone.key,
            },
        )


def _adder(box: HarvestSandbox, index: SeedIndex) -> Callable[[str, str, dict[str, object]], int]:
    def add(key: str, resource: str, body: dict[str, object]) -> int:
        record_id = int(str(box.store.create(resource, body)["id"]))
        index.harvest[key] = record_id
        return record_id

    return add


def _harvest_people(firm: Firm, box: HarvestSandbox, index: SeedIndex) -> None:
    add = _adder(box, index)
    for person in firm.consultants:
        add(
            person.key,
            "users",
            {
                "first_name": person.first_name,
                "last_name": person.last_name,
                "email": person.email,
                "roles": [person.role],
                "cost_rate": person.cost_rate / 100,
                "default_hourly_rate": person.bill_rate / 100,
            },
        )
    box.me = index.harvest[firm.consultants[0].key]
    add("task:Consulting", "tasks", {"name": "Consulting"})
    add("task:Internal", "tasks", {"name": "Internal", "billable_by_default": False})
    for name in _CATEGORIES:
        add(f"category:{name}", "expense_categories", {"name": name})


def _harvest_projects(firm: Firm, box: HarvestSandbox, index: SeedIndex) -> None:
    store, add = box.store, _adder(box, index)
    consulting, internal = index.harvest["task:Consulting"], index.harvest["task:Internal"]
    clients = {c.key: c for c in firm.clients}
    for project in (p for p in firm.projects if p.onboarded):
        client = clients[project.client]
        if client.key not in index.harvest:
            add(
                client.key,
                "clients",
                {
                    "name": client.name,
                    "currency": client.currency,
                    "address": f"{client.street}\n{client.city}",
                },
            )
        project_id = add(
            project.key,
            "projects",
            {
                "client_id": index.harvest[client.key],
                "name": project.name,
                "code": project.key,
                "starts_on": project.starts_on.isoformat(),
                "ends_on": project.ends_on.isoformat(),
                **_billing(project),
            },
        )
        store.create("task_assignments", {"project_id": project_id, "task_id": consulting})
        store.create(
            "task_assignments", {"project_id": project_id, "task_id": internal, "billable": False}
        )
    for assignment in firm.assignments:
        if assignment.project in index.harvest:
            store.create(
                "user_assignments",
                {
                    "project_id": index.harvest[assignment.project],
                    "user_id": index.harvest[assignment.consultant],
                    "hourly_rate": assignment.bill_rate / 100,
                },
            )


def seed_activity(
    firm: Firm, box: HarvestSandbox, index: SeedIndex, *, as_of: date | None = None
) -> int:
    """Log the firm's month of time and expenses in the PSA, on its projects (found by their
    code when `index` does not know them: the onboarding flow made them); those approved on or
    before `as_of` (all, by default) are approved and locked. Returns how many could not be
    logged because their project is not in the PSA (not onboarded)."""
    store, add = box.store, _adder(box, index)
    for record in store.tables["projects"].values():
        if record.get("code"):
            index.harvest.setdefault(str(record["code"]), int(str(record["id"])))
    consulting, internal = index.harvest["task:Consulting"], index.harvest["task:Internal"]
    categories = {name: index.harvest[f"category:{name}"] for name in _CATEGORIES}
    skipped = 0
    for entry in firm.time_entries:
        if entry.project not in index.harvest:
            skipped += 1
            continue
        entry_id = add(
            entry.key,
            "time_entries",
            {
                "project_id": index.harvest[entry.project],
                "task_id": consulting if entry.billable else internal,
                "user_id": index.harvest[entry.consultant],
                "spent_date": entry.spent_date.isoformat(),
                "hours": entry.hours,
                "notes": entry.notes,
                "external_reference": {"id": entry.key},
            },
        )
        if entry.approved_on is not None and (as_of is None or entry.approved_on <= as_of):
            store.approve("time_entries", entry_id)
    for expense in firm.expenses:
        if expense.project not in index.harvest:
            skipped += 1
            continue
        expense_id = add(
            expense.key,
            "expenses",
            {
                "project_id": index.harvest[expense.project],
                "expense_category_id": categories[expense.category],
                "user_id": index.harvest[expense.consultant],
                "spent_date": expense.spent_date.isoformat(),
                "total_cost": expense.amount / 100,
                "billable": expense.billable,
                "notes": expense.category,
            },
        )
        if expense.approved_on is not None and (as_of is None or expense.approved_on <= as_of):
            store.approve("expenses", expense_id)
    return skipped


def approve_through(firm: Firm, harvest: HarvestSandbox, index: SeedIndex, day: date) -> int:
    """Approve the firm's entries and expenses due for approval by `day`; return how many.

    With `seed_sandboxes(..., as_of=first_day)`, calling this day by day plays the month's
    approvals out in order, the month-end surge last. Already approved ones are left alone.
    """
    count = 0
    for resource, items in (("time_entries", firm.time_entries), ("expenses", firm.expenses)):
        for item in items:
            if item.approved_on is None or item.approved_on > day or item.key not in index.harvest:
                continue
            record = harvest.store.get(resource, index.harvest[item.key])
            if not record["is_closed"]:
                harvest.store.approve(resource, index.harvest[item.key])
                count += 1
    return count


def _billing(project: Project) -> dict[str, object]:
    amount = project.budget / 100
    if project.billing_model == "fixed_fee":
        return {
            "is_billable": True,
            "is_fixed_fee": True,
            "fee": amount,
            "bill_by": "People",
            "budget_by": "project_cost",
            "budget": amount,
        }
    if project.billing_model == "retainer":
        return {
            "is_billable": True,
            "bill_by": "Project",
            "hourly_rate": 150.0,
            "budget_by": "project_cost",
            "budget": amount,
            "budget_is_monthly": True,
        }
    return {"is_billable": True, "bill_by": "People", "budget_by": "project_cost", "budget": amount}


def _onboarded_clients(firm: Firm) -> list[str]:
    seen: dict[str, None] = {}
    for project in firm.projects:
        if project.onboarded:
            seen.setdefault(project.client)
    return list(seen)


def _stripe(firm: Firm, box: StripeSandbox, index: SeedIndex) -> None:
    clients = {c.key: c for c in firm.clients}
    for key in _onboarded_clients(firm):
        client = clients[key]
        customer = box.store.create_customer(
            {
                "name": client.legal_entity,
                "email": client.email,
                "currency": client.currency.lower(),
                "tax_exempt": _TAX_EXEMPT[client.tax_profile],
                "address": {
                    "line1": client.street,
                    "city": client.city,
                    "postal_code": client.postal_code,
                    "country": client.country,
                },
                "metadata": {"client_key": client.key},
            },
            announce=False,
        )
        index.stripe[key] = str(customer["id"])


def _tryton(firm: Firm, box: TrytonSandbox, index: SeedIndex, *, onboarded: bool) -> None:
    db, setup = box.db, box.setup
    clients = {c.key: c for c in firm.clients}
    countries = {row["code"]: row["id"] for row in db.tables["country.country"].values()}
    with db.transaction():
        for key in _onboarded_clients(firm) if onboarded else ():
            client = clients[key]
            [party] = db.create(
                "party.party",
                [
                    {
                        "name": client.legal_entity,
                        "code": client.key,
                        "addresses": [
                            [
                                "create",
                                [
                                    {
                                        "street": client.street,
                                        "city": client.city,
                                        "postal_code": client.postal_code,
                                        "country": countries.get(client.country),
                                        "invoice": True,
                                    }
                                ],
                            ]
                        ],
                        "identifiers": [
                            [
                                "create",
                                [
                                    {
                                        "type": TAX_IDENTIFIERS.get(client.country, "eu_vat"),
                                        "code": client.tax_id,
                                    }
                                ],
                            ]
                        ],
                        "contact_mechanisms": [
                            ["create", [{"type": "email", "value": client.email}]]
                        ],
                    }
                ],
            )
            index.tryton[key] = party
        for person in firm.consultants:
            [party] = db.create(
                "party.party",
                [{"name": f"{person.first_name} {person.last_name}", "code": person.key}],
            )
            [employee] = db.create(
                "company.employee",
                [{"party": party, "company": setup.company, "start_date": date(2020, 1, 1)}],
            )
            index.tryton[person.key] = employee
        for project in (p for p in firm.projects if p.onboarded and onboarded):
            [work] = db.create(
                "project.work",
                [
                    {
                        "name": project.name,
                        "type": "project",
                        "company": setup.company,
                        "party": index.tryton[project.client],
                        "number": project.key,
                        "timesheet_available": True,
                        "product": setup.product,
                        "list_price": Decimal(project.budget) / 100
                        if project.billing_model == "retainer"
                        else Decimal("100"),
                        "project_invoice_method": "timesheet"
                        if project.billing_model == "time_and_materials"
                        else "manual",
                    }
                ],
            )
            index.tryton[project.key] = work
