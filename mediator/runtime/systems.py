"""The connectors of `[systems.*]`, built from the configuration and its secrets.

Each secret is handed to its connector as a source it can read again (``env:`` and ``file:``
references are re-read when the system refuses the credential), so an operator rotates a
key by changing the variable or the file, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from mediator.clock import Clock
from mediator.codecs.tryton.mapping import ErpSetup
from mediator.config import LoadedConfig
from mediator.policies import PolicyRegistry
from mediator.systems import (
    Connector,
    HarvestConnector,
    SalesforceConnector,
    Secret,
    StripeConnector,
    TrytonConnector,
    load_secret,
)
from mediator.systems.salesforce import ClientCredentials

__all__ = ["build_connectors"]


def build_connectors(
    loaded: LoadedConfig, *, policies: PolicyRegistry, clock: Clock
) -> dict[str, Connector]:
    """One connector per configured system, by name; each reads its secret from its reference
    when it needs it (check them first with `resolve_secrets`)."""
    systems = loaded.config.systems

    def source(key: str, ref: str) -> Callable[[], Secret]:
        # read when needed (the Mediator resolved every reference once at start, with lines)
        return lambda: load_secret(ref, file=loaded.file, key=key)

    built: dict[str, Connector] = {}
    if systems.salesforce is not None:
        sf = systems.salesforce
        built["salesforce"] = SalesforceConnector(
            base_url=sf.base_url,
            policies=policies,
            clock=clock,
            credentials=ClientCredentials(login_url=sf.base_url, client_id=sf.client_id),
            secret=source("systems.salesforce.client_secret", sf.client_secret),
            api_version=sf.api_version,
            multi_currency=sf.multi_currency,
        )
    if systems.harvest is not None:
        hv = systems.harvest
        built["harvest"] = HarvestConnector(
            base_url=hv.base_url,
            policies=policies,
            clock=clock,
            account_id=hv.account_id,
            secret=source("systems.harvest.token", hv.token),
            user_agent=hv.user_agent,
        )
    if systems.stripe is not None:
        st = systems.stripe
        built["stripe"] = StripeConnector(
            base_url=st.base_url,
            policies=policies,
            clock=clock,
            secret=source("systems.stripe.api_key", st.api_key),
        )
    if systems.tryton is not None:
        tr = systems.tryton
        built["tryton"] = TrytonConnector(
            base_url=tr.base_url,
            database=tr.database,
            login=tr.login,
            secret=source("systems.tryton.password", tr.password),
            policies=policies,
            clock=clock,
            setup=ErpSetup(**msgspec.structs.asdict(tr.erp)),
        )
    return built
