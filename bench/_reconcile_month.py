"""The month-end month of bench/reconcile.py: generated from a seed, loaded into each sandbox
as if the flows had run it, without running them (at 100,000 entries that would take hours).

`plan(sizes)` draws the month (consultants, clients, projects, approved time, milestones,
payments) the same way in every process. Each sandbox runs in its own child process (so the
parent's CPU is mediator's own) and is seeded there by its `build_*` function, in the order
the flows would have made the records: Harvest first (its ids tag the ERP's lines), then
Stripe (billing's per-client invoices with their items, milestone invoices, payments), then
Tryton (parties, employees, projects, a timesheet line per approved entry tagged
``[mediator harvest:<id>:r0]``, a receivable per Stripe invoice with its reference, total and
payment) and Salesforce (accounts, won opportunities, the invoice status cash application
writes). What a child reports back (ids) is what the parent journals as the flows would have.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgspec

from mediator.sandbox.base import Sandbox
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.tryton import TrytonSandbox

PERIOD = "2026-11"
HARVEST_ACCOUNT = 1234567
HARVEST_TOKEN = "bench-token"
STRIPE_KEY = "sk_test_bench"
#: approvals are stamped at 18:00 UTC on the day the time was spent
APPROVED_AT = dt.time(18, 0)
_ROLES = (
    ("Analyst", 95),
    ("Consultant", 150),
    ("Senior", 210),
    ("Principal", 300),
    ("Partner", 420),
)
_HOURS = ("0.5", "1", "1.5", "2", "2.5", "3", "4")
_UNLIMITED = 1_000_000_000


class Sizes(msgspec.Struct, frozen=True, kw_only=True):
    """How big the month is."""

    consultants: int
    clients: int
    projects: int
    milestones: int
    seed: int = 17


class Entry(NamedTuple):
    """One time entry of the month (an index into the plan's lists)."""

    consultant: int
    project: int
    day: dt.date
    hours: Decimal
    billable: bool
    approved: bool


class Line(NamedTuple):
    """One invoice item: billing's aggregate (project × role × rate) or a milestone's."""

    origin: str
    quantity: Decimal
    unit: Decimal
    amount: int  # cents


class Bill(NamedTuple):
    """One finalized Stripe invoice: a client's month of time, or a project's milestone."""

    client: int
    project: int | None
    lines: tuple[Line, ...]
    paid: str  # "full", "half" or "none"

    @property
    def total(self) -> int:
        """The invoice's total in cents (no tax: every client is tax exempt here)."""
        return sum(line.amount for line in self.lines)

    @property
    def amount_paid(self) -> int:
        """What the customer paid, in cents."""
        return {"full": self.total, "half": self.total // 2, "none": 0}[self.paid]


class Plan(NamedTuple):
    """The whole month."""

    sizes: Sizes
    projects_of: list[tuple[int, ...]]  # by consultant
    entries: list[Entry]
    bills: list[Bill]


def role_of(consultant: int) -> tuple[str, int]:
    """A consultant's role and bill rate (whole dollars an hour)."""
    return _ROLES[consultant % len(_ROLES)]


def client_of(sizes: Sizes, project: int) -> int:
    """The client a project is for."""
    return project % sizes.clients


def weekdays() -> list[dt.date]:
    """The working days of the period."""
    first = dt.date.fromisoformat(f"{PERIOD}-01")
    days = [first + dt.timedelta(days=n) for n in range(31)]
    return [d for d in days if d.month == first.month and d.weekday() < 5]


def plan(sizes: Sizes) -> Plan:
    """Draw the month: 3 or 4 entries a consultant a working day on their two projects, 5 %
    of them not billable, 2 % not approved; billing's invoice per client; one milestone
    invoice for each of the first `milestones` projects; six in ten paid, one in ten half."""
    rng = random.Random(sizes.seed)
    projects_of: list[tuple[int, ...]] = []
    for c in range(sizes.consultants):
        first, second = c % sizes.projects, (c * 7 + 3) % sizes.projects
        projects_of.append((first,) if first == second else (first, second))
    entries = [
        Entry(
            consultant=c,
            project=rng.choice(projects_of[c]),
            day=day,
            hours=Decimal(rng.choice(_HOURS)),
            billable=rng.random() >= 0.05,
            approved=rng.random() >= 0.02,
        )
        for c in range(sizes.consultants)
        for day in weekdays()
        for _ in range(rng.choice((3, 4)))
    ]
    hours: dict[int, dict[tuple[int, str, int], Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    for e in entries:
        if e.approved and e.billable:
            role, rate = role_of(e.consultant)
            hours[client_of(sizes, e.project)][(e.project, role, rate)] += e.hours
    bills: list[Bill] = []
    for client in range(sizes.clients):
        lines = tuple(
            Line(
                origin=f"hour|{PERIOD}|P-{project:04d}|{role}|{rate * 100}USD",
                quantity=quantity,
                unit=Decimal(rate),
                amount=int(quantity * rate * 100),
            )
            for (project, role, rate), quantity in sorted(hours[client].items())
        )
        if lines:
            bills.append(Bill(client=client, project=None, lines=lines, paid=_paid(rng)))
    for project in range(sizes.milestones):
        amount = rng.randrange(5_000, 20_000) * 100
        line = Line(
            origin=f"milestone|M-{project:04d}",
            quantity=Decimal(1),
            unit=Decimal(amount) / 100,
            amount=amount,
        )
        client = client_of(sizes, project)
        bills.append(Bill(client=client, project=project, lines=(line,), paid=_paid(rng)))
    return Plan(sizes=sizes, projects_of=projects_of, entries=entries, bills=bills)


def _paid(rng: random.Random) -> str:
    draw = rng.random()
    return "full" if draw < 0.6 else "half" if draw < 0.7 else "none"


def _epoch(day: dt.date, at: dt.time = APPROVED_AT) -> int:
    return int(dt.datetime.combine(day, at, dt.UTC).timestamp())


_MONTH_END = dt.date.fromisoformat(f"{PERIOD}-30")


# -- Harvest ------------------------------------------------------------------------------------


def build_harvest(*, sizes: Sizes) -> tuple[Sandbox, dict[str, Any]]:
    """The PSA: clients, people, projects (billed by person), assignments, the month's time,
    approved (and stamped) on the day it was spent. Reports every id, entries in plan order."""
    month = plan(sizes)
    box = HarvestSandbox(tokens={HARVEST_TOKEN: HARVEST_ACCOUNT}, rate_limit=_UNLIMITED)
    store = box.store
    clients = [
        int(str(store.create("clients", {"name": f"Client {n}", "currency": "USD"})["id"]))
        for n in range(sizes.clients)
    ]
    users = []
    for c in range(sizes.consultants):
        role, rate = role_of(c)
        body = {
            "first_name": "C",
            "last_name": f"{c:04d}",
            "email": f"c{c}@firm.example",
            "roles": [role],
            "default_hourly_rate": float(rate),
        }
        users.append(int(str(store.create("users", body)["id"])))
    box.me = users[0]
    consulting = store.create("tasks", {"name": "Consulting"})["id"]
    internal = store.create("tasks", {"name": "Internal", "billable_by_default": False})["id"]
    projects = []
    for p in range(sizes.projects):
        body = {
            "client_id": clients[client_of(sizes, p)],
            "name": f"Project {p}",
            "code": f"P-{p:04d}",
            "is_billable": True,
            "bill_by": "People",
            "budget_by": "none",
        }
        project = int(str(store.create("projects", body)["id"]))
        projects.append(project)
        store.create("task_assignments", {"project_id": project, "task_id": consulting})
        store.create(
            "task_assignments", {"project_id": project, "task_id": internal, "billable": False}
        )
    for c, mine in enumerate(month.projects_of):
        for p in mine:
            store.create(
                "user_assignments",
                {"project_id": projects[p], "user_id": users[c], "hourly_rate": role_of(c)[1]},
            )
    entries = []
    table = store.tables["time_entries"]
    for e in month.entries:
        record = store.create(
            "time_entries",
            {
                "project_id": projects[e.project],
                "task_id": consulting if e.billable else internal,
                "user_id": users[e.consultant],
                "spent_date": e.day.isoformat(),
                "hours": float(e.hours),
                "notes": "Delivery work",
            },
        )
        entry_id = int(str(record["id"]))
        if e.approved:
            store.approve("time_entries", entry_id)
        stamp = f"{e.day.isoformat()}T{APPROVED_AT.isoformat()}Z"
        table[entry_id].update(created_at=stamp, updated_at=stamp)
        entries.append(entry_id)
    return box, {"clients": clients, "users": users, "projects": projects, "entries": entries}


# -- Stripe -------------------------------------------------------------------------------------


def build_stripe(*, sizes: Sizes, bills: bool = True) -> tuple[Sandbox, dict[str, Any]]:
    """Billing: a customer per client, the month's invoices finalized with their items, and
    the customers' payments (`bills`; without, the customers alone, as the month begins).
    Reports the customer ids and each invoice's id and number."""
    month = plan(sizes) if bills else plan(sizes)._replace(bills=[])
    box = StripeSandbox(api_keys=(STRIPE_KEY,), rate_limit=_UNLIMITED)
    store = box.store
    customers = [
        str(
            store.create_customer(
                {"name": f"Client {n}", "currency": "usd", "tax_exempt": "exempt"},
                announce=False,
            )["id"]
        )
        for n in range(sizes.clients)
    ]
    finalized = _epoch(_MONTH_END, dt.time(20, 0))
    paid_at = _epoch(_MONTH_END, dt.time(22, 0))
    invoices = []
    for bill in month.bills:
        customer = customers[bill.client]
        metadata = {"mediator_period": PERIOD} if bill.project is None else {}
        invoice = store.create_invoice(
            {
                "customer": customer,
                "currency": "usd",
                "collection_method": "send_invoice",
                "days_until_due": 30,
                "metadata": metadata,
            },
            include_pending=False,
        )
        invoice_id = str(invoice["id"])
        for line in bill.lines:
            item_id = store.new_id("ii")
            store.invoiceitems[item_id] = {
                "id": item_id,
                "object": "invoiceitem",
                "customer": customer,
                "amount": line.amount,
                "currency": "usd",
                "date": finalized,
                "description": line.origin,
                "discountable": True,
                "discounts": [],
                "invoice": invoice_id,
                "livemode": False,
                "proration": False,
                "period": {"start": finalized, "end": finalized},
                "quantity": 1,
                "tax_rates": [],
                "test_clock": None,
                "metadata": {
                    "quantity": str(line.quantity),
                    "unit_amount": str(line.unit),
                    "mediator_origin": line.origin,
                },
            }
        total = bill.total  # what `recompute` makes of the items, without its O(items) scan
        invoice.update(
            subtotal=total,
            subtotal_excluding_tax=total,
            total_excluding_tax=total,
            total=total,
            amount_due=total,
            amount_remaining=total,
            created=finalized,
        )
        store.finalize(invoice_id)
        invoice["status_transitions"] = {**invoice["status_transitions"], "finalized_at": finalized}  # type: ignore[dict-item]  # a dict
        if bill.paid == "full":
            store.pay(invoice_id, out_of_band=True)
        elif bill.paid == "half":
            store.receive_transfer(invoice_id, bill.amount_paid)
        if bill.paid != "none":
            invoice["status_transitions"] = {**invoice["status_transitions"], "paid_at": paid_at}  # type: ignore[dict-item]  # a dict
        invoices.append((invoice_id, str(invoice["number"])))
    store.events.clear()  # pre-dating the run, as seeding's customers do
    return box, {"customers": customers, "invoices": invoices}


# -- Tryton -------------------------------------------------------------------------------------


def build_tryton(
    *, sizes: Sizes, entries: list[int], invoices: list[tuple[str, str]]
) -> tuple[Sandbox, dict[str, Any]]:
    """The ERP: a party per client, an employee per consultant, a project per project with
    its timesheet work, a line per approved entry (`entries`: Harvest's ids in plan order)
    tagged as the approved-time flow tags it, and a receivable per Stripe invoice (`invoices`)
    with its reference, total and payment, as the receivables and cash flows leave it. With
    neither (`entries` and `invoices` empty), the ERP as the month begins: no line, no invoice."""
    month = plan(sizes)
    box = TrytonSandbox()
    db, setup = box.db, box.setup
    parties, addresses = [], []
    for n in range(sizes.clients):
        [party] = db.create("party.party", [{"name": f"Client {n}", "code": f"CL-{n}"}])
        [address] = db.create("party.address", [{"party": party, "invoice": True}])
        parties.append(party)
        addresses.append(address)
    people = db.create("party.party", [{"name": f"C {c:04d}"} for c in range(sizes.consultants)])
    employees = db.create(
        "company.employee",
        [{"party": p, "company": setup.company, "start_date": dt.date(2020, 1, 1)} for p in people],
    )
    works, timesheet_works = [], []
    for p in range(sizes.projects):
        [work] = db.create(
            "project.work",
            [
                {
                    "name": f"Project {p}",
                    "type": "project",
                    "company": setup.company,
                    "party": parties[client_of(sizes, p)],
                    "number": f"P-{p:04d}",
                    "timesheet_available": True,
                    "product": setup.product,
                    "list_price": Decimal(100),
                    "project_invoice_method": "manual",
                }
            ],
        )
        works.append(work)
        [tw] = db.create(
            "timesheet.work",
            [{"name": f"Project {p}", "origin": f"project.work,{work}", "company": setup.company}],
        )
        timesheet_works.append(tw)
    values = [
        {
            "company": setup.company,
            "employee": employees[e.consultant],
            "work": timesheet_works[e.project],
            "date": e.day,
            "duration": dt.timedelta(seconds=int(e.hours * 3600)),
            "description": f"Delivery work [mediator harvest:{entry_id}:r0]",
        }
        for e, entry_id in zip(month.entries, entries, strict=True)
        if e.approved
    ] if entries else []  # fmt: skip
    for start in range(0, len(values), 5_000):
        db.create("timesheet.line", values[start : start + 5_000])
    billed = month.bills if invoices else []
    for number, (bill, (stripe_id, _)) in enumerate(zip(billed, invoices, strict=True), 1):
        [invoice] = db.create(
            "account.invoice",
            [
                {
                    "type": "out",
                    "company": setup.company,
                    "party": parties[bill.client],
                    "invoice_address": addresses[bill.client],
                    "currency": setup.currency,
                    "journal": setup.journal,
                    "account": setup.receivable,
                    "reference": stripe_id,
                    "invoice_date": _MONTH_END,
                    "lines": [
                        [
                            "create",
                            [
                                {
                                    "quantity": 1.0,
                                    "unit_price": Decimal(bill.total) / 100,
                                    "account": setup.revenue,
                                    "description": "Services",
                                }
                            ],
                        ]
                    ],
                }
            ],
        )
        record = db.tables["account.invoice"][invoice]
        paid = Decimal(bill.amount_paid) / 100
        record.update(
            number=f"INV2026-{number}",
            move=number,
            paid_amount=paid,
            state="paid" if bill.paid == "full" else "posted",
        )
    return box, {
        "parties": parties,
        "addresses": addresses,
        "employees": employees,
        "works": works,
        "timesheet_works": timesheet_works,
        "erp": {
            k: v
            for k, v in msgspec.to_builtins(box.erp_setup()).items()
            if k != "employee_by_consultant"
        },
        "credentials": {
            "database": box.database,
            "login": box.admin_login,
            "password": box.admin_password,
        },
    }


# -- Salesforce ---------------------------------------------------------------------------------


def build_salesforce(
    *, sizes: Sizes, invoices: list[tuple[str, str]]
) -> tuple[Sandbox, dict[str, Any]]:
    """The CRM: an Account per client, a won Opportunity per project, and on each the status
    of the last invoice cash application told it of (a milestone's on its own deal, the
    month's time on the client's first deal)."""
    month = plan(sizes)
    box = SalesforceSandbox(daily_api_requests=_UNLIMITED)
    store = box.store
    accounts = [
        store.create("Account", {"Name": f"Client {n}", "External_Id__c": f"CL-{n}"})
        for n in range(sizes.clients)
    ]
    told: dict[int, tuple[str, str, Decimal]] = {}
    for bill, (_, number) in zip(month.bills, invoices, strict=True):
        deal = bill.client if bill.project is None else bill.project  # a client's first deal
        status = {"full": "Paid", "half": "Partially Paid", "none": "Open"}[bill.paid]
        told[deal] = (number, status, Decimal(bill.amount_paid) / 100)
    opportunities = []
    for p in range(sizes.projects):
        fields: dict[str, object] = {
            "Name": f"Project {p}",
            "AccountId": accounts[client_of(sizes, p)],
            "StageName": "Closed Won",
            "CloseDate": "2026-10-01",
            "Project_Key__c": f"P-{p:04d}",
        }
        if p in told:
            number, status, paid = told[p]
            fields.update(
                Invoice_Number__c=number, Invoice_Status__c=status, Amount_Paid__c=float(paid)
            )
        opportunities.append(store.create("Opportunity", fields))
    client_id, secret = next(iter(box.clients.items()))
    return box, {
        "accounts": accounts,
        "opportunities": opportunities,
        "credentials": {"client_id": client_id, "client_secret": secret},
    }


# -- the mediator's configuration of these sandboxes ---------------------------------------------


def systems_config(urls: dict[str, str], ids: dict[str, dict[str, Any]], folder: Path) -> str:
    """The `[systems.*]` tables of the sandboxes in `urls` (their credentials written as
    ``file:`` secrets in `folder`), and Harvest's and Stripe's rate limits lifted."""
    tables: list[str] = []
    if "salesforce" in urls:
        sf = ids["salesforce"]["credentials"]
        (folder / "salesforce").write_text(sf["client_secret"], encoding="utf-8")
        tables.append(f"""\
[systems.salesforce]
base_url = "{urls["salesforce"]}"
client_id = "{sf["client_id"]}"
client_secret = "file:{folder / "salesforce"}"
""")
    if "harvest" in urls:
        (folder / "harvest").write_text(HARVEST_TOKEN, encoding="utf-8")
        tables.append(f"""\
[systems.harvest]
base_url = "{urls["harvest"]}"
account_id = "{HARVEST_ACCOUNT}"
token = "file:{folder / "harvest"}"
user_agent = "mediator bench (integration-team@example.com)"
""")
    if "stripe" in urls:
        (folder / "stripe").write_text(STRIPE_KEY, encoding="utf-8")
        tables.append(f"""\
[systems.stripe]
base_url = "{urls["stripe"]}"
api_key = "file:{folder / "stripe"}"
""")
    if "tryton" in urls:
        tryton = ids["tryton"]
        (folder / "tryton").write_text(tryton["credentials"]["password"], encoding="utf-8")
        erp = "\n".join(f"{k} = {v}" for k, v in tryton["erp"].items())
        tables.append(f"""\
[systems.tryton]
base_url = "{urls["tryton"]}"
database = "{tryton["credentials"]["database"]}"
login = "{tryton["credentials"]["login"]}"
password = "file:{folder / "tryton"}"

[systems.tryton.erp]
{erp}
""")
    lifted = "".join(
        f"\n[policies.ratelimits.{name}]\nrate = 1000000.0\nburst = 1000000\nmax_wait = 60.0\n"
        for name in ("harvest", "stripe")
    )
    return "\n".join(tables) + lifted
