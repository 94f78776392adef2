"""The journal kinds, entity keys and payloads the CRM and billing flows share.

Ingress journals what it reads under these kinds; flows declare the kinds they handle. The
names say what happened in business terms, not which vendor said it (``crm.``: the CRM,
``billing.``: the billing platform), so a second CRM is a second poller, not a second flow.

Entity keys order delivery (the dispatcher serializes and parks by key), so everything that
must follow a deal's onboarding is keyed by its opportunity: its milestones and change orders
wait behind it, and a rejected deal holds them back instead of letting them fail.

xref conventions (``record_xref(entity_type, canonical_id, system, system_id)``):

- ``client``: canonical id = the CRM Account id; ids in ``salesforce``, ``tryton`` (party),
  ``harvest`` (client), ``stripe`` (customer).
- ``project``: canonical id = the deal's project code (``P-1042``), or the opportunity id when
  sales gave none; ids in ``salesforce`` (opportunity), ``tryton`` (``project.work``),
  ``harvest`` (project), ``stripe`` (nothing: billing knows customers and invoices).
- ``engagement``: canonical id = the opportunity id; ``salesforce`` (opportunity).
- ``consultant``: canonical id = the firm's key; ``harvest`` (user), ``tryton`` (employee):
  people are kept by the firm's HR process, not by a deal.
"""

from __future__ import annotations

from mediator.codecs import CANONICAL
from mediator.codecs.canonical.payloads import PayloadSchema
from mediator.flows.approved_time import APPROVED_TIME
from mediator.flows.billed_periods import Adjustment

__all__ = [
    "ACCOUNT_CHANGED",
    "ADJUSTMENT_APPROVED",
    "CHANGE_ORDER_CHANGED",
    "CONTRACT_CHANGED",
    "FLOW_PAYLOADS",
    "MILESTONE_CHANGED",
    "OPPORTUNITY_RECHECK",
    "OPPORTUNITY_WON",
    "account_key",
    "client_key",
    "contract_key",
    "opportunity_key",
]

#: An Account was created or changed (payload: `Client`), key ``account:<id>``.
ACCOUNT_CHANGED = "crm.account.changed"
#: An Opportunity is won, or a won one changed (payload: `Deal`), key ``opportunity:<id>``.
OPPORTUNITY_WON = "crm.opportunity.won"
#: A deal should be judged again because something it waited on changed (payload:
#: `mediator.flows.onboarding.Recheck`), key ``opportunity:<id>``.
OPPORTUNITY_RECHECK = "crm.opportunity.recheck"
#: A Contract was created or changed (payload: `Contract`), key ``contract:<id>``.
CONTRACT_CHANGED = "crm.contract.changed"
#: A milestone was created or changed (payload: `Milestone`), key ``opportunity:<its deal>``.
MILESTONE_CHANGED = "crm.milestone.changed"
#: A change order was created or changed (payload: `ChangeOrder`), key
#: ``opportunity:<its deal>``.
CHANGE_ORDER_CHANGED = "crm.change_order.changed"

#: A person approved a back-billing adjustment for a client's next invoice (payload:
#: `mediator.flows.billed_periods.Adjustment`), key ``client:<client id>``.
ADJUSTMENT_APPROVED = "billing.adjustment.approved"

FLOW_PAYLOADS = (
    CANONICAL.with_alias(APPROVED_TIME, like="time_entry")
    .with_alias(ACCOUNT_CHANGED, like="client")
    .with_alias(OPPORTUNITY_WON, like="deal")
    .with_alias(CONTRACT_CHANGED, like="contract")
    .with_alias(MILESTONE_CHANGED, like="milestone")
    .with_alias(CHANGE_ORDER_CHANGED, like="change_order")
    .with_schema(PayloadSchema(kind=ADJUSTMENT_APPROVED, type=Adjustment))
)
"""The canonical payloads with the flows' kinds as aliases (same versions and upcasters)."""


def account_key(account_id: str) -> str:
    """The entity key of a CRM account."""
    return f"account:{account_id}"


def opportunity_key(opportunity_id: str) -> str:
    """The entity key of a deal, its milestones and its change orders."""
    return f"opportunity:{opportunity_id}"


def contract_key(contract_id: str) -> str:
    """The entity key of a CRM contract."""
    return f"contract:{contract_id}"


def client_key(client_id: str) -> str:
    """The entity key of a client's billing (its invoices and adjustments); `client_id` is
    the canonical id, the CRM Account id."""
    return f"client:{client_id}"
