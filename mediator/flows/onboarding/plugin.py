"""The onboarding flow as a `Mediator` plug-in: its kinds, owner, systems, actors and pollers.

Deals (``opportunity:<id>``) get a `DealOnboarding`; accounts and contracts
(``account:<id>``, ``contract:<id>``) a `RecordWatcher`. The Salesforce pollers that feed it
(``salesforce_accounts``, ``salesforce_opportunities``, ``salesforce_contracts``) are
`mediator.ingress.salesforce_changes`'s, reading amounts without a currency in the org's
currency (`OnboardingOptions.org_currency`).

A deal's won versions and rechecks are not parked behind its dead letter
(`unparked_kinds`): a rejected deal must be judged again when it is corrected or when its
account changes, while the milestones and change orders keyed by the same deal stay parked
until the rejection is closed (the opportunities' poller releases a rejection its newer
version supersedes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.flows.kinds import (
    ACCOUNT_CHANGED,
    CONTRACT_CHANGED,
    OPPORTUNITY_RECHECK,
    OPPORTUNITY_WON,
)
from mediator.flows.onboarding.actors import DealOnboarding, RecordWatcher
from mediator.flows.onboarding.context import FLOW
from mediator.flows.onboarding.options import OnboardingOptions, RateOption, TaxProfileOption
from mediator.ingress.salesforce_changes import salesforce_pollers
from mediator.systems import SalesforceConnector
from mediator.tomlfile import Fail, convert

if TYPE_CHECKING:  # the runtime imports this plug-in (its catalog): only its types here
    from mediator.runtime.flow import FlowContext, Poller

__all__ = ["POLLERS", "OnboardingFlow"]

#: The Salesforce pollers that feed the flow, by name.
POLLERS = frozenset({"salesforce_accounts", "salesforce_opportunities", "salesforce_contracts"})


_Card = dict[str, RateOption]  # a rate card: role → rates


class OnboardingFlow:
    """Deal won → onboarding: the client, the projects, billing terms, the CRM write-back."""

    name = FLOW
    kinds = frozenset({OPPORTUNITY_WON, OPPORTUNITY_RECHECK, ACCOUNT_CHANGED, CONTRACT_CHANGED})
    unparked_kinds = frozenset({OPPORTUNITY_WON, OPPORTUNITY_RECHECK})
    owner = "sales-ops"
    systems = frozenset({"salesforce", "tryton", "harvest", "stripe"})
    poller_names = POLLERS

    def __init__(self, options: OnboardingOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """A delivery runs up to a dozen system calls, each within the option's `timeout`."""
        return self.options.timeout * 12

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> OnboardingFlow:
        """Read `[flows.onboarding.options]`; raise `ConfigError` naming the bad key.

        The tables keyed by country and currency are read entry by entry first: msgspec's
        error paths leave out mapping keys, and "tax_profiles.identifier" would not say which.
        """
        for table, kind in (("tax_profiles", TaxProfileOption), ("rate_cards", _Card)):
            entries = options.get(table)
            if isinstance(entries, Mapping):
                for code, entry in entries.items():
                    if isinstance(entry, Mapping) and kind is _Card:
                        for role, rate in entry.items():
                            convert(rate, RateOption, f"{table}.{code}.{role}", fail)
                    else:
                        convert(entry, kind, f"{table}.{code}", fail)
        return cls(convert(dict(options), OnboardingOptions, "", fail))

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `DealOnboarding` for ``opportunity:…`` keys, a `RecordWatcher` for the others."""
        if key.startswith("opportunity:"):
            return DealOnboarding(
                key,
                journal=context.journal,
                clock=context.clock,
                systems=context.systems,
                connectors=context.connectors,
                options=self.options,
                follow_up=context.follow_up,
                release=context.release,
            )
        return RecordWatcher(
            key, journal=context.journal, clock=context.clock, follow_up=context.follow_up
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Salesforce pollers of accounts, opportunities and contracts."""
        salesforce = context.connectors["salesforce"]
        assert isinstance(salesforce, SalesforceConnector)
        return salesforce_pollers(
            salesforce, sorted(POLLERS), org_currency=self.options.org_currency
        )
