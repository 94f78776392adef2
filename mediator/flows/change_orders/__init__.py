"""Change orders (DESIGN §5 flow 4): new rates and budgets from an effective date, everywhere.

An approved CRM change order adds rate periods to the project's rate history (the billing
flow prices each entry at the rate of its own date), updates the PSA's assignment rates and
budget and the ERP project, marks the change order applied in the CRM, and turns what it
changes in periods already invoiced into back-billing adjustments held for approval.
"""

from mediator.flows.change_orders.back_billing import (
    PENDING,
    BackBill,
    PendingAdjustment,
    adjustments_for,
    load_pending,
    periods_since,
)
from mediator.flows.change_orders.context import (
    FLOW,
    Application,
    ApprovalRequests,
    change_order_source,
    terms_of,
)
from mediator.flows.change_orders.entity import DECISIONS, ChangeOrders, is_approved, steps
from mediator.flows.change_orders.psa import (
    ReadPsaProject,
    UpdatePsaProject,
    UpdatePsaRates,
    staffed_rates,
)
from mediator.flows.change_orders.steps import (
    STATUS_APPLIED,
    AddRatePeriods,
    MarkApplied,
    NoteInErp,
    ResolveProject,
    change_note,
    project_of,
)

__all__ = [
    "DECISIONS",
    "FLOW",
    "PENDING",
    "STATUS_APPLIED",
    "AddRatePeriods",
    "Application",
    "ApprovalRequests",
    "BackBill",
    "ChangeOrders",
    "MarkApplied",
    "NoteInErp",
    "PendingAdjustment",
    "ReadPsaProject",
    "ResolveProject",
    "UpdatePsaProject",
    "UpdatePsaRates",
    "adjustments_for",
    "change_note",
    "change_order_source",
    "is_approved",
    "load_pending",
    "periods_since",
    "project_of",
    "staffed_rates",
    "steps",
    "terms_of",
]
