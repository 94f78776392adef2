"""Pointing the demo's `Mediator` at its sandboxes: the configuration, and what HR keeps.

The demo runs the same `Mediator` as `mediator run`, from a configuration built here for the
four sandboxes it started (their URLs, and their credentials as `file:` secrets in a scratch
folder), with every flow enabled and every poller left to the demo's own calendar. The
onboarding rules are the firm's: its companies, service lines, regions, the tax profile of
each country it bills, and its rate card per currency (`mediator.sandbox.generator`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from mediator.config import LoadedConfig, parse_config
from mediator.journal import Journal
from mediator.sandbox import Sandboxes
from mediator.sandbox.config_tables import CREDENTIALS, systems_toml
from mediator.sandbox.generator import LINES, REGIONS, ROLES, Firm
from mediator.sandbox.seeding import FIRM_COMPANIES, TAX_IDENTIFIERS

__all__ = ["POLLER", "POLLERS", "demo_config", "record_people"]

#: The approved-time flow's poller: the demo runs it once per simulated day.
POLLER = "harvest_time"
#: Every poller of the enabled flows: the demo runs them itself, at its simulated times.
POLLERS = (
    "salesforce_accounts",
    "salesforce_contracts",
    "salesforce_opportunities",
    "salesforce_milestones",
    "salesforce_change_orders",
    "harvest_time",
    "harvest_expenses",
    "billing_flush",
    "billing_close",
    "stripe_events",
    "cash_application_waiting",
)


async def record_people(journal: Journal, firm: Firm, boxes: Sandboxes) -> int:
    """Write what the firm's HR process keeps: each consultant's PSA user and ERP employee
    under the consultant's canonical (firm) key. People are not onboarded by a deal.
    Returns the number of mappings written."""
    index = boxes.index
    written = 0
    for person in firm.consultants:
        for system, ids in (("harvest", index.harvest), ("tryton", index.tryton)):
            if person.key in ids:
                await journal.record_xref("consultant", person.key, system, str(ids[person.key]))
                written += 1
    return written


def _rate_cards(currencies: set[str]) -> str:
    lines = []
    for currency in sorted(currencies):
        lines.append(f"[flows.onboarding.options.rate_cards.{currency}]")
        lines += [
            f'"{role}" = {{ bill = "{Decimal(bill) / 100}", cost = "{Decimal(cost) / 100}" }}'
            for role, bill, cost in ROLES
        ]
    return "\n".join(lines)


def demo_config(
    boxes: Sandboxes,
    firm: Firm,
    *,
    journal: Path,
    secrets: Path,
    time_zone: str = "UTC",
    admin_listen: str | None = None,
    admin_tokens: Mapping[str, str] | None = None,
    extra: str = "",
) -> LoadedConfig:
    """The `mediator.toml` of the demo: the four sandboxes, every flow, the pollers switched
    off (the demo runs them on its calendar), and the admin listener (API and dashboard) on
    `admin_listen` with `admin_tokens` (role → token) when given (`mediator demo --serve`);
    `extra` is appended.

    The sandboxes' credentials and the admin tokens are written to files in `secrets` and
    referenced as ``file:`` secrets, as a deployment would hold real ones.
    """
    assert boxes.tryton is not None
    creds = boxes.credentials()
    secrets.mkdir(parents=True, exist_ok=True)
    for product, (credential, _) in CREDENTIALS.items():
        (secrets / product).write_text(creds[product][credential], encoding="utf-8")
    systems = systems_toml(
        boxes,
        lambda product: f"file:{secrets / product}",
        user_agent="mediator demo (integration-team@example.com)",
        multi_currency=True,
    )
    currencies = {c.currency for c in firm.clients}
    countries = sorted({c.country for c in firm.clients})
    tax_profiles = "\n".join(
        f'{country} = {{ identifier = "{TAX_IDENTIFIERS.get(country, "eu_vat")}" }}'
        for country in countries
    )
    admin = ""
    if admin_listen is not None:
        admin = f'[admin]\nlisten = "{admin_listen}"\n'
        for role, token in sorted((admin_tokens or {}).items()):
            (secrets / f"admin-{role}").write_text(token, encoding="utf-8")
            admin += (
                f'\n[[admin.tokens]]\nname = "demo-{role}"\nrole = "{role}"\n'
                f'token = "file:{secrets / f"admin-{role}"}"\n'
            )
    pollers = "\n".join(
        f"[ingress.pollers.{name}]\ninterval = 86400.0\nenabled = false\n" for name in POLLERS
    )
    text = f"""\
time_zone = "{time_zone}"

[journal]
path = "{journal}"

{systems}
[flows.onboarding.options]
legal_entities = {sorted(FIRM_COMPANIES[c] for c in currencies)!r}
service_lines = {list(LINES)!r}
delivery_regions = {list(REGIONS)!r}
currencies = {sorted(currencies)!r}
org_currency = "USD"

[flows.onboarding.options.tax_profiles]
{tax_profiles}

{_rate_cards(currencies)}

[flows.change_orders.options]
org_currency = "USD"

[flows.approved_time.options]
account_currency = "USD"

[flows.billing.options]
account_currency = "USD"
expense_markup = 0.1
payment_terms_days = 30
cutoff = "18:00"

[flows.billing.options.tax_rates]
standard = "20.0"

[flows.milestones.options]
org_currency = "USD"

[flows.receivables.options]
taxes = {{ standard = {boxes.tryton.setup.taxes["20.0"]} }}

[flows.cash_application.options]
payment_method = {boxes.tryton.setup.payment_method}

{pollers}
{admin}
{extra}
"""
    return parse_config(text, file="<demo>")
