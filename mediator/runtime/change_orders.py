"""The change-order flow as a plug-in: `[flows.change_orders]`, owned by sales operations.

Its entity actor (`mediator.flows.change_orders.ChangeOrders`) is keyed by the deal
(``opportunity:<id>``), so a deal's change orders follow its onboarding and wait behind it;
decisions on its back-billing adjustments come to the same actor. It needs the CRM (the
write-back of ``Applied``), the PSA and the ERP. Its poller, ``salesforce_change_orders``,
reads ``Change_Order__c`` changes (`mediator.ingress.salesforce_changes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import msgspec

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.flows.change_orders import DECISIONS, FLOW, ChangeOrders
from mediator.flows.kinds import CHANGE_ORDER_CHANGED
from mediator.ingress.salesforce_changes import salesforce_pollers
from mediator.runtime.approvals import decode_decision
from mediator.runtime.flow import FlowContext, Poller
from mediator.systems import HarvestConnector, SalesforceConnector, TrytonConnector
from mediator.tomlfile import Fail, convert

__all__ = ["ChangeOrdersFlow", "ChangeOrdersOptions"]

#: the saga's steps that may each wait on one system call (the delivery's deadline is theirs)
_CALLING_STEPS = 6


class ChangeOrdersOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.change_orders.options]`: the CRM's corporate currency, the deadline of each
    system call, the CRM quota class of the write-back."""

    #: the currency of change orders without ``CurrencyIsoCode`` (the org's corporate one)
    org_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    #: how long one call to the PSA, the ERP or the CRM may take before the delivery is retried
    system_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0
    #: the Salesforce quota class the ``Applied`` write-back spends
    salesforce_priority: Annotated[str, msgspec.Meta(min_length=1)] = "crm_writeback"


class ChangeOrdersFlow:
    """Change orders → rate history, PSA rates and budget, ERP project, CRM status, and
    back-billing adjustments held for approval; one actor per deal."""

    name = FLOW
    kinds = frozenset({CHANGE_ORDER_CHANGED, DECISIONS})  # DECISIONS is decision_kind(FLOW)
    owner = "sales-ops"
    systems = frozenset({"salesforce", "harvest", "tryton"})
    poller_names = frozenset({"salesforce_change_orders"})

    def __init__(self, options: ChangeOrdersOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """Every step's call in turn: the dispatcher waits longer than all of them."""
        return self.options.system_timeout * _CALLING_STEPS

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> ChangeOrdersFlow:
        """Read `[flows.change_orders.options]`; raise `ConfigError` naming the bad key."""
        return cls(convert(dict(options), ChangeOrdersOptions, "", fail))

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `ChangeOrders` actor for the deal `key`."""
        harvest, tryton = context.connectors["harvest"], context.connectors["tryton"]
        assert isinstance(harvest, HarvestConnector)
        assert isinstance(tryton, TrytonConnector)
        return ChangeOrders(
            key,
            journal=context.journal,
            clock=context.clock,
            systems=context.systems,
            harvest_reads=harvest,
            tryton_reads=tryton,
            approvals=context.approvals,
            decision_of=decode_decision,
            follow_up=context.follow_up,
            timeout=self.options.system_timeout,
            salesforce_priority=self.options.salesforce_priority,
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Salesforce poller of ``Change_Order__c`` changes."""
        salesforce = context.connectors["salesforce"]
        assert isinstance(salesforce, SalesforceConnector)
        return salesforce_pollers(
            salesforce, self.poller_names, org_currency=self.options.org_currency
        )
