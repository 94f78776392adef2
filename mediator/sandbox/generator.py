"""A realistic professional-services firm, generated from a seed and a size.

`generate_firm(seed=..., size=...)` returns the same `Firm` for the same arguments: `size`
clients (groups with parents and subsidiaries, legal entities, tax profiles in several
countries), about two consultants per client with roles, bill and cost rates, projects of each
billing model (time and materials, fixed fee with milestones, retainer), the won opportunities
behind them plus new wins not yet onboarded and open pipeline, and a month of time entries and
expenses with approvals, including the month-end surge: more time logged in the last week, and
most approvals in the last two working days. Money is integer minor units.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Sequence
from datetime import date, timedelta

import msgspec

__all__ = [
    "LINES",
    "REGIONS",
    "ROLES",
    "Assignment",
    "Client",
    "Consultant",
    "Expense",
    "Firm",
    "Milestone",
    "Opportunity",
    "Project",
    "TimeEntry",
    "generate_firm",
]


class Client(msgspec.Struct, frozen=True, kw_only=True):
    """A customer legal entity; `parent` is the key of its group's head, if any."""

    key: str
    name: str
    parent: str | None
    legal_entity: str
    tax_id: str
    tax_profile: str  # standard | exempt | reverse_charge
    country: str
    city: str
    street: str
    postal_code: str
    currency: str
    industry: str
    email: str


class Consultant(msgspec.Struct, frozen=True, kw_only=True):
    """A person who bills time: role and default rates (minor units per hour)."""

    key: str
    first_name: str
    last_name: str
    email: str
    role: str
    bill_rate: int
    cost_rate: int


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """An engagement's delivery project; `onboarded` means it already exists in the PSA."""

    key: str
    client: str
    name: str
    billing_model: str  # time_and_materials | fixed_fee | retainer
    currency: str
    starts_on: date
    ends_on: date
    budget: int  # minor units: T&M cap, fixed fee, or the monthly retainer
    service_line: str
    region: str
    opportunity: str
    onboarded: bool


class Assignment(msgspec.Struct, frozen=True, kw_only=True):
    """A consultant on a project at a rate."""

    project: str
    consultant: str
    role: str
    bill_rate: int
    cost_rate: int


class Opportunity(msgspec.Struct, frozen=True, kw_only=True):
    """A CRM deal; won ones carry the project they became (or will become)."""

    key: str
    client: str
    name: str
    amount: int
    currency: str
    stage: str
    close_date: date
    project: str | None


class Milestone(msgspec.Struct, frozen=True, kw_only=True):
    """A fixed-fee milestone: billed when approved."""

    key: str
    project: str
    name: str
    amount: int
    due_date: date
    approved: bool


class TimeEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Hours a consultant logged on a project; `approved_on` is None while unapproved."""

    key: str
    project: str
    consultant: str
    spent_date: date
    hours: float
    notes: str
    billable: bool
    approved_on: date | None


class Expense(msgspec.Struct, frozen=True, kw_only=True):
    """A cost a consultant incurred on a project."""

    key: str
    project: str
    consultant: str
    spent_date: date
    amount: int
    category: str
    billable: bool
    approved_on: date | None


class Firm(msgspec.Struct, frozen=True, kw_only=True):
    """Everything generated, by kind; the month is `month`."""

    seed: int
    size: int
    month: date
    clients: tuple[Client, ...]
    consultants: tuple[Consultant, ...]
    projects: tuple[Project, ...]
    assignments: tuple[Assignment, ...]
    opportunities: tuple[Opportunity, ...]
    milestones: tuple[Milestone, ...]
    time_entries: tuple[TimeEntry, ...]
    expenses: tuple[Expense, ...]


_COUNTRIES = (  # country, currency, tax prefix, city, postal code
    ("US", "USD", "US", "Boston", "02110"),
    ("DE", "EUR", "DE", "Berlin", "10115"),
    ("FR", "EUR", "FR", "Lyon", "69002"),
    ("GB", "GBP", "GB", "Leeds", "LS1 4AP"),
    ("NL", "EUR", "NL", "Utrecht", "3511"),
)
_STEMS = (
    "Northwind",
    "Contoso",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Vandelay",
    "Acme",
    "Wonka",
    "Oscorp",
    "Aperture",
)
_SUFFIXES = ("Holdings", "Industries", "Logistics", "Health", "Retail", "Energy", "Labs")
_LEGAL_FORMS = {"DE": "GmbH", "GB": "Ltd", "FR": "SA", "NL": "BV"}
_INDUSTRIES = ("Manufacturing", "Healthcare", "Retail", "Energy", "Finance", "Technology")
_FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Radia",
    "Tim",
    "Margaret",
    "John",
    "Katherine",
    "Linus",
    "Shafi",
    "Leslie",
)
_LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Perlman",
    "Berners-Lee",
    "Hamilton",
    "Backus",
    "Johnson",
    "Torvalds",
    "Goldwasser",
)
#: The firm's roles with their standard bill and cost rates (minor units per hour): its rate
#: card, the same in every currency it bills.
ROLES = (
    ("Partner", 42000, 21000),
    ("Principal", 30000, 15000),
    ("Senior Consultant", 21000, 10500),
    ("Consultant", 15000, 7500),
    ("Analyst", 9500, 4800),
)
#: The firm's service lines.
LINES = ("Strategy", "Technology", "Operations", "Finance Transformation")
#: The firm's delivery regions.
REGIONS = ("EMEA", "North America")
_MODELS = ("time_and_materials", "fixed_fee", "retainer")
_TASKS = ("Workshop", "Analysis", "Design", "Build", "Review", "Stakeholder meeting", "Report")
_CATEGORIES = (("Travel", 28000), ("Lodging", 16000), ("Meals", 4500), ("Software", 9900))
_OPEN_STAGES = ("Prospecting", "Qualification", "Proposal/Price Quote", "Negotiation/Review")


def generate_firm(
    *,
    seed: int = 0,
    size: int = 10,
    month: date = date(2026, 11, 1),
    currencies: Sequence[str] | None = None,
) -> Firm:
    """Generate a firm with `size` clients and a month (`month`'s) of activity; with
    `currencies`, only clients billed in those (of USD, EUR, GBP)."""
    if size < 1:
        raise ValueError("size must be at least 1")
    countries = [c for c in _COUNTRIES if currencies is None or c[1] in currencies]
    if not countries:
        raise ValueError(f"no clients are billed in {list(currencies or ())}: USD, EUR or GBP")
    rng = random.Random(seed)
    month = month.replace(day=1)
    clients = _clients(rng, size, countries)
    consultants = _consultants(rng, max(3, 2 * size))
    projects: list[Project] = []
    opportunities: list[Opportunity] = []
    milestones: list[Milestone] = []
    assignments: list[Assignment] = []
    for index, client in enumerate(clients):
        for n in range(1 + (rng.random() < 0.5)):
            model = _MODELS[(index + n) % 3]
            key = f"P-{1000 + len(projects)}"
            onboarded = rng.random() < 0.8
            close = (
                month - timedelta(days=rng.randint(20, 200))
                if onboarded
                else (month + timedelta(days=rng.randint(0, 20)))
            )
            budget = {
                "time_and_materials": rng.randint(8, 40) * 1_000_000,
                "fixed_fee": rng.randint(5, 30) * 1_000_000,
                "retainer": rng.randint(2, 8) * 500_000,
            }[model]
            opportunity = f"O-{2000 + len(opportunities)}"
            projects.append(
                Project(
                    key=key,
                    client=client.key,
                    name=f"{client.name.split()[0]} "
                    f"{rng.choice(LINES)} {('Programme', 'Review', 'Rollout')[n % 3]}",
                    billing_model=model,
                    currency=client.currency,
                    starts_on=close,
                    ends_on=close + timedelta(days=rng.randint(120, 420)),
                    budget=budget,
                    service_line=rng.choice(LINES),
                    region=rng.choice(REGIONS),
                    opportunity=opportunity,
                    onboarded=onboarded,
                )
            )
            opportunities.append(
                Opportunity(
                    key=opportunity,
                    client=client.key,
                    name=f"{projects[-1].name} deal",
                    amount=budget if model != "retainer" else budget * 12,
                    currency=client.currency,
                    stage="Closed Won",
                    close_date=close,
                    project=key,
                )
            )
            if model == "fixed_fee":
                milestones += [
                    Milestone(
                        key=f"{key}-M{m + 1}",
                        project=key,
                        name=f"Milestone {m + 1}",
                        amount=budget // 3,
                        due_date=month + timedelta(days=9 * m + 8),
                        approved=onboarded and m == 0,
                    )
                    for m in range(3)
                ]
            team = rng.sample(consultants, k=min(len(consultants), rng.randint(2, 4)))
            assignments += [
                Assignment(
                    project=key,
                    consultant=c.key,
                    role=c.role,
                    bill_rate=c.bill_rate,
                    cost_rate=c.cost_rate,
                )
                for c in team
            ]
        if rng.random() < 0.5:
            opportunities.append(
                Opportunity(
                    key=f"O-{2000 + len(opportunities)}",
                    client=client.key,
                    name=f"{client.name.split()[0]} follow-on",
                    amount=rng.randint(5, 50) * 1_000_000,
                    currency=client.currency,
                    stage=rng.choice(_OPEN_STAGES),
                    close_date=month + timedelta(days=rng.randint(30, 120)),
                    project=None,
                )
            )
    active = {p.key for p in projects if p.onboarded}
    time_entries, expenses = _activity(
        rng, month, [a for a in assignments if a.project in active], {p.key: p for p in projects}
    )
    return Firm(
        seed=seed,
        size=size,
        month=month,
        clients=tuple(clients),
        consultants=tuple(consultants),
        projects=tuple(projects),
        assignments=tuple(assignments),
        opportunities=tuple(opportunities),
        milestones=tuple(milestones),
        time_entries=tuple(time_entries),
        expenses=tuple(expenses),
    )


def _clients(
    rng: random.Random, size: int, countries: Sequence[tuple[str, str, str, str, str]]
) -> list[Client]:
    clients: list[Client] = []
    head: Client | None = None
    for index in range(size):
        country, currency, prefix, city, postal = rng.choice(countries)
        subsidiary = head is not None and rng.random() < 0.35
        stem = head.name.split()[0] if subsidiary and head else _STEMS[index % len(_STEMS)]
        name = (
            f"{stem} {rng.choice(_SUFFIXES)} {country}"
            if subsidiary
            else (
                f"{stem} {rng.choice(_SUFFIXES)}"
                + (f" {index // len(_STEMS)}" if index >= len(_STEMS) else "")
            )
        )
        client = Client(
            key=f"C-{100 + index}",
            name=name,
            parent=head.key if subsidiary and head else None,
            legal_entity=f"{name} {_LEGAL_FORMS.get(country, 'Inc.')}",
            tax_id=f"{prefix}{rng.randint(10**8, 10**9 - 1)}",
            tax_profile=rng.choices(("standard", "reverse_charge", "exempt"), (8, 3, 1))[0],
            country=country,
            city=city,
            street=f"{rng.randint(1, 200)} {rng.choice(_LAST)} Street",
            postal_code=postal,
            currency=currency,
            industry=rng.choice(_INDUSTRIES),
            email=f"ap@{stem.lower()}{index}.example",
        )
        clients.append(client)
        if not subsidiary:
            head = client
    return clients


def _consultants(rng: random.Random, count: int) -> list[Consultant]:
    people = []
    for index in range(count):
        role, bill, cost = ROLES[min(len(ROLES) - 1, int(rng.triangular(0, 5, 3.5)))]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        people.append(
            Consultant(
                key=f"U-{300 + index}",
                first_name=first,
                last_name=last,
                email=f"{first.lower()}.{last.lower()}.{index}@firm.example",
                role=role,
                bill_rate=bill,
                cost_rate=cost,
            )
        )
    return people


def _activity(
    rng: random.Random, month: date, assignments: list[Assignment], projects: dict[str, Project]
) -> tuple[list[TimeEntry], list[Expense]]:
    days = calendar.monthrange(month.year, month.month)[1]
    workdays = [d for d in (month + timedelta(days=i) for i in range(days)) if d.weekday() < 5]
    entries: list[TimeEntry] = []
    expenses: list[Expense] = []
    for assignment in assignments:
        project = projects[assignment.project]
        for day in workdays:
            surge = day >= workdays[-5]  # catch-up logging in the last week
            if rng.random() > (0.85 if surge else 0.45):
                continue
            for _ in range(1 + (surge and rng.random() < 0.5)):
                approved = _approval(rng, day, workdays)
                entries.append(
                    TimeEntry(
                        key=f"T-{len(entries) + 1:06d}",
                        project=project.key,
                        consultant=assignment.consultant,
                        spent_date=day,
                        hours=rng.choice((0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0)),
                        notes=rng.choice(_TASKS),
                        billable=rng.random() < 0.92,
                        approved_on=approved,
                    )
                )
        for _ in range(rng.randint(0, 3)):
            category, typical = rng.choice(_CATEGORIES)
            day = rng.choice(workdays)
            expenses.append(
                Expense(
                    key=f"E-{len(expenses) + 1:05d}",
                    project=project.key,
                    consultant=assignment.consultant,
                    spent_date=day,
                    amount=int(typical * rng.uniform(0.5, 1.6)),
                    category=category,
                    billable=rng.random() < 0.8,
                    approved_on=_approval(rng, day, workdays),
                )
            )
    return entries, expenses


def _approval(rng: random.Random, day: date, workdays: list[date]) -> date | None:
    # the surge: ~70 % are approved in the last two working days, ~20 % within the week
    draw = rng.random()
    if draw < 0.7:
        return max(day, rng.choice(workdays[-2:]))
    if draw < 0.9:
        soon = [d for d in workdays if day < d <= day + timedelta(days=6)]
        return rng.choice(soon) if soon else workdays[-1]
    return None
