"""The Stripe connector: secret key, form bodies, idempotent POSTs, lists to the last page."""

from mediator.systems.stripe.commands import (
    AddInvoiceItem,
    CreateCreditNote,
    CreateCustomer,
    CreateDraftInvoice,
    CreateTaxRate,
    FinalizeInvoice,
    PayInvoice,
    StripeCommand,
    UpdateInvoiceItem,
    VoidInvoice,
    idempotency_header,
)
from mediator.systems.stripe.connector import API_VERSION, StripeConnector

__all__ = [
    "API_VERSION",
    "AddInvoiceItem",
    "CreateCreditNote",
    "CreateCustomer",
    "CreateDraftInvoice",
    "CreateTaxRate",
    "FinalizeInvoice",
    "PayInvoice",
    "StripeCommand",
    "StripeConnector",
    "UpdateInvoiceItem",
    "VoidInvoice",
    "idempotency_header",
]
