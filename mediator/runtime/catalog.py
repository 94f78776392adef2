"""The flows mediator ships, as plug-ins of `Mediator`: each built from its `[flows.<name>]`.

A plug-in joins a flow's entity actor (`mediator.flows`, which knows no vendor) to the
ingress that feeds it (a vendor's poller), so it lives here, at the top, where both meet.

`SHIPPED_FLOWS` maps a flow's name to its factory, which reads the flow's options (raising a
`ConfigError` that names the option's key and line) and returns the `Flow`. A host service
passes its own mapping to `Mediator(flows=...)` to add or replace flows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Protocol

import msgspec

from mediator.actors import Actor
from mediator.codecs import Envelope
from mediator.flows.approved_time import APPROVED_TIME, TimesheetPosting
from mediator.ingress.harvest_time import HarvestTimePoller
from mediator.runtime.change_orders import ChangeOrdersFlow
from mediator.runtime.finance_flows import CashApplicationFlow, MilestonesFlow, ReceivablesFlow
from mediator.runtime.flow import Flow, FlowContext, Poller
from mediator.systems import HarvestConnector
from mediator.tomlfile import Fail, convert

__all__ = ["SHIPPED_FLOWS", "ApprovedTimeFlow", "ApprovedTimeOptions", "FlowFactory"]


class FlowFactory(Protocol):
    """Build a flow from its options; `fail(key, reason)` makes the error for an option's key."""

    def __call__(self, options: Mapping[str, object], fail: Fail, /) -> Flow: ...


class ApprovedTimeOptions(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`[flows.approved_time.options]`: the PSA account's currency, the ERP call's deadline."""

    account_currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    #: how long one ERP create may take before the delivery is retried by the journal
    erp_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 60.0


class ApprovedTimeFlow:
    """Approved time → ERP timesheet lines: Harvest's approved entries, one actor per project."""

    name = "approved_time"
    kinds = frozenset({APPROVED_TIME})
    owner = "delivery"
    systems = frozenset({"harvest", "tryton"})
    poller_names = frozenset({"harvest_time"})

    def __init__(self, options: ApprovedTimeOptions) -> None:
        self.options = options

    @property
    def delivery_timeout(self) -> float:
        """The ERP call's own deadline: the dispatcher waits longer than this."""
        return self.options.erp_timeout

    @classmethod
    def from_options(cls, options: Mapping[str, object], fail: Fail) -> ApprovedTimeFlow:
        """Read `[flows.approved_time.options]`; raise `ConfigError` naming the bad key."""
        return cls(convert(dict(options), ApprovedTimeOptions, "", fail))

    def entity(self, key: str, context: FlowContext) -> Actor[Envelope]:
        """A `TimesheetPosting` for the project `key`."""
        return TimesheetPosting(
            key,
            erp=context.systems["tryton"],
            journal=context.journal,
            timeout=self.options.erp_timeout,
        )

    def pollers(self, context: FlowContext) -> Sequence[Poller]:
        """The Harvest poller of approved time entries."""
        harvest = context.connectors["harvest"]
        assert isinstance(harvest, HarvestConnector)
        return [
            HarvestTimePoller(
                harvest, account_currency=self.options.account_currency, name="harvest_time"
            )
        ]


SHIPPED_FLOWS: Mapping[str, FlowFactory] = MappingProxyType(
    {
        ApprovedTimeFlow.name: ApprovedTimeFlow.from_options,
        ChangeOrdersFlow.name: ChangeOrdersFlow.from_options,
        ReceivablesFlow.name: ReceivablesFlow.from_options,
        CashApplicationFlow.name: CashApplicationFlow.from_options,
        MilestonesFlow.name: MilestonesFlow.from_options,
    }
)
"""The flows mediator ships, by name: what `[flows.<name>]` may enable."""
