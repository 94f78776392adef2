"""What the runtime tests share: a configuration pointed at the sandboxes, the ERP's lines."""

from __future__ import annotations

from mediator.sandbox import Sandboxes
from mediator.sandbox.config_tables import env_secrets, systems_toml

#: the environment variables the tests' configurations read the sandboxes' credentials from
SECRETS = {
    "salesforce": "TEST_SALESFORCE_SECRET",
    "harvest": "TEST_HARVEST_TOKEN",
    "stripe": "TEST_STRIPE_KEY",
    "tryton": "TEST_TRYTON_PASSWORD",
}


def config_text(boxes: Sandboxes, *, extra: str = "") -> str:
    return f"""\
time_zone = "Europe/Berlin"

[journal]
path = "journal.sqlite"

{systems_toml(boxes, env_secrets(SECRETS))}
[flows.approved_time.options]
account_currency = "USD"

[ingress.pollers.harvest_time]
interval = 3600.0

[admin]
listen = "127.0.0.1:0"
{extra}"""


def erp_lines(boxes: Sandboxes) -> list[dict[str, object]]:
    assert boxes.tryton is not None
    tables = boxes.tryton.state()["tables"]
    assert isinstance(tables, dict)
    return [r for r in tables.get("timesheet.line", []) if "[mediator " in r["description"]]
