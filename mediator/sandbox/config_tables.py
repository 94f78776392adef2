"""The `[systems.*]` tables of a `mediator.toml` pointed at running sandboxes.

Tests and the demo configure a `Mediator` for the sandboxes they started: their URLs, their
credentials (as secret references: a deployment never writes a secret into the file) and the
ERP's company and account ids (`[systems.tryton.erp]`). `systems_toml` writes those tables
for every running sandbox; `secret` names the reference of each product's credential.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from mediator.sandbox.runner import Sandboxes

__all__ = ["CREDENTIALS", "env_secrets", "sandbox_env", "systems_toml"]

#: Each product's credential: its key in `Sandboxes.credentials()` and in the configuration.
CREDENTIALS = {
    "salesforce": ("client_secret", "client_secret"),
    "harvest": ("token", "token"),
    "stripe": ("api_key", "api_key"),
    "tryton": ("password", "password"),
}


def env_secrets(names: dict[str, str]) -> Callable[[str], str]:
    """Secret references to environment variables: `names` maps a product to its variable."""
    return lambda product: f"env:{names[product]}"


def sandbox_env(boxes: Sandboxes, names: dict[str, str]) -> dict[str, str]:
    """The environment `env_secrets(names)` reads: each running product's credential."""
    creds = boxes.credentials()
    return {
        names[product]: creds[product][CREDENTIALS[product][0]]
        for product in boxes.all()
        if product in names
    }


def systems_toml(
    boxes: Sandboxes,
    secret: Callable[[str], str],
    *,
    user_agent: str = "mediator tests",
    multi_currency: bool = False,
) -> str:
    """The `[systems.*]` tables (and `[systems.tryton.erp]`) of every running sandbox, each
    credential the reference `secret(product)`."""
    creds = boxes.credentials()
    tables: list[str] = []
    if boxes.salesforce is not None:
        tables.append(f"""\
[systems.salesforce]
base_url = "{boxes.urls["salesforce"]}"
client_id = "{creds["salesforce"]["client_id"]}"
client_secret = "{secret("salesforce")}"
multi_currency = {str(multi_currency).lower()}
""")
    if boxes.harvest is not None:
        tables.append(f"""\
[systems.harvest]
base_url = "{boxes.urls["harvest"]}"
account_id = "{creds["harvest"]["account_id"]}"
token = "{secret("harvest")}"
user_agent = "{user_agent}"
""")
    if boxes.stripe is not None:
        tables.append(f"""\
[systems.stripe]
base_url = "{boxes.urls["stripe"]}"
api_key = "{secret("stripe")}"
""")
    if boxes.tryton is not None:
        erp = msgspec.to_builtins(boxes.tryton.erp_setup())
        erp.pop("employee_by_consultant", None)
        ids = "\n".join(f"{key} = {value}" for key, value in erp.items())
        tables.append(f"""\
[systems.tryton]
base_url = "{boxes.urls["tryton"]}"
database = "{creds["tryton"]["database"]}"
login = "{creds["tryton"]["login"]}"
password = "{secret("tryton")}"

[systems.tryton.erp]
{ids}
""")
    return "\n".join(tables)
