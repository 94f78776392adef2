"""Pointing the demo's `Mediator` at its sandboxes: the configuration, ERP ids, the xref map.

The demo runs the same `Mediator` as `mediator run`, from a configuration built here for the
sandboxes it started (their URLs, and their credentials as `file:` secrets in a scratch
folder), with the approved-time flow's poller left to the demo's own calendar.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from mediator.config import LoadedConfig, parse_config
from mediator.journal import Journal
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm

__all__ = ["POLLER", "demo_config", "record_onboarding"]

#: The approved-time flow's poller: the demo calls it once per simulated day.
POLLER = "harvest_time"


async def record_onboarding(journal: Journal, firm: Firm, boxes: Sandboxes) -> int:
    """Write the xref map that onboarding would have: each project and consultant's PSA and ERP
    ids under its canonical (firm) key. Returns the number of mappings written."""
    index = boxes.index
    written = 0
    for entity_type, keys in (
        ("project", [p.key for p in firm.projects if p.onboarded]),
        ("consultant", [c.key for c in firm.consultants]),
    ):
        for key in keys:
            for system, ids in (("harvest", index.harvest), ("tryton", index.tryton)):
                if key in ids:
                    await journal.record_xref(entity_type, key, system, str(ids[key]))
                    written += 1
    return written


def demo_config(boxes: Sandboxes, *, journal: Path, secrets: Path) -> LoadedConfig:
    """The `mediator.toml` of the demo: the Harvest and Tryton sandboxes, the approved-time
    flow, its poller switched off (the demo polls once per simulated day), no admin listener.

    The sandboxes' credentials are written to files in `secrets` and referenced as
    ``file:`` secrets, as a deployment would hold real ones.
    """
    creds = boxes.credentials()
    secrets.mkdir(parents=True, exist_ok=True)
    refs = {}
    for name, value in (
        ("harvest-token", creds["harvest"]["token"]),
        ("tryton-password", creds["tryton"]["password"]),
    ):
        (secrets / name).write_text(value, encoding="utf-8")
        refs[name] = f"file:{secrets / name}"
    assert boxes.tryton is not None
    erp = msgspec.to_builtins(boxes.tryton.erp_setup())
    erp.pop("employee_by_consultant")
    erp_ids = "\n".join(f"{key} = {value}" for key, value in erp.items())
    text = f"""\
[journal]
path = "{journal}"

[systems.harvest]
base_url = "{boxes.urls["harvest"]}"
account_id = "{creds["harvest"]["account_id"]}"
token = "{refs["harvest-token"]}"
user_agent = "mediator demo (integration-team@example.com)"

[systems.tryton]
base_url = "{boxes.urls["tryton"]}"
database = "{creds["tryton"]["database"]}"
login = "{creds["tryton"]["login"]}"
password = "{refs["tryton-password"]}"

[systems.tryton.erp]
{erp_ids}

[flows.approved_time.options]
account_currency = "USD"

[ingress.pollers.{POLLER}]
interval = 86400.0
enabled = false
"""
    return parse_config(text, file="<demo>")
