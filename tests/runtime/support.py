"""What the runtime tests share: a configuration pointed at the sandboxes, the ERP's lines."""

from __future__ import annotations

import msgspec

from mediator.sandbox import Sandboxes


def config_text(boxes: Sandboxes, *, extra: str = "") -> str:
    creds = boxes.credentials()
    assert boxes.tryton is not None
    erp = msgspec.to_builtins(boxes.tryton.erp_setup())
    erp.pop("employee_by_consultant")
    erp_lines = "\n".join(f"{key} = {value}" for key, value in erp.items())
    return f"""\
time_zone = "Europe/Berlin"

[journal]
path = "journal.sqlite"

[systems.harvest]
base_url = "{boxes.urls["harvest"]}"
account_id = "{creds["harvest"]["account_id"]}"
token = "env:TEST_HARVEST_TOKEN"
user_agent = "mediator tests"

[systems.tryton]
base_url = "{boxes.urls["tryton"]}"
database = "{creds["tryton"]["database"]}"
login = "{creds["tryton"]["login"]}"
password = "env:TEST_TRYTON_PASSWORD"

[systems.tryton.erp]
{erp_lines}

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
