"""The effects a flow asks of Stripe, each one POST with its own `Idempotency-Key`.

A command's wire key is derived from its `idempotency_key` (the journal entry's) and its kind,
so a retry of the same command — in process or after a restart — sends the same key and Stripe
replays the first answer instead of acting twice; two different commands of one journal entry
(a customer and its first invoice item) never share a key.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import msgspec

from mediator.codecs.canonical.billing import InvoiceLine
from mediator.codecs.canonical.parties import Client
from mediator.codecs.stripe.mapping import (
    credit_note_params,
    customer_params,
    invoice_item_params,
    invoice_item_update_params,
    invoice_params,
)
from mediator.systems.connector import Command

__all__ = [
    "AddInvoiceItem",
    "CreateCreditNote",
    "CreateCustomer",
    "CreateDraftInvoice",
    "CreateTaxRate",
    "FinalizeInvoice",
    "PayInvoice",
    "StripeCommand",
    "UpdateInvoiceItem",
    "VoidInvoice",
    "idempotency_header",
]


class StripeCommand(Command, frozen=True, kw_only=True):
    """A Stripe write: `request()` says which POST, with which form parameters."""

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return (path, policy endpoint, form parameters) of this command's POST."""
        raise NotImplementedError(f"{type(self).__name__} does not define its request")


class CreateCustomer(StripeCommand, frozen=True, kw_only=True):
    """Create the customer for `client` (``POST /v1/customers``); the result is `StCustomer`.

    `metadata` adds ids of the same client in other systems; `payment_terms_days` is shown
    on its invoices (see `customer_params`).
    """

    client: Client
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    payment_terms_days: int | None = None

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the customers POST."""
        params = customer_params(
            self.client, metadata=self.metadata, payment_terms_days=self.payment_terms_days
        )
        return "/v1/customers", "/v1/customers", params


class AddInvoiceItem(StripeCommand, frozen=True, kw_only=True):
    """Bill `line` to `customer`, pending or on the draft `invoice`; the result is `StInvoiceItem`.

    `line.origin_id` travels in ``metadata[mediator_origin]`` for reconciliation.
    """

    customer: str
    line: InvoiceLine
    invoice: str | None = None

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the invoice items POST."""
        params = invoice_item_params(self.line, customer=self.customer, invoice=self.invoice)
        return "/v1/invoiceitems", "/v1/invoiceitems", params


class UpdateInvoiceItem(StripeCommand, frozen=True, kw_only=True):
    """Set the item `item` to what `line` now says (``POST /v1/invoiceitems/{id}``); the result
    is `StInvoiceItem`.

    Stripe allows it while the item's invoice is a draft and refuses it (400
    `invoice_not_editable`) once that invoice is finalized: a sent invoice is corrected on a
    later one, never changed. The `idempotency_key` names the new content (an aggregate's
    revision), so a retry of this update is Stripe's replay and a later update is a new key.
    """

    item: str
    line: InvoiceLine

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the invoice item update POST."""
        path = f"/v1/invoiceitems/{self.item}"
        return path, "/v1/invoiceitems/{id}", invoice_item_update_params(self.line)


class CreateDraftInvoice(StripeCommand, frozen=True, kw_only=True):
    """Open a draft invoice for `customer` in `currency` (ISO), due `days_until_due` after
    finalizing; the result is `StInvoice`."""

    customer: str
    currency: str
    days_until_due: int = 30
    engagement_id: str | None = None
    #: the billing period (``YYYY-MM``) the invoice is for, kept in its metadata
    period: str | None = None
    #: the engagement's service line, kept in its metadata (the ERP's revenue account)
    service_line: str | None = None
    #: the invoice's `default_tax_rates` (``txr_…``): Stripe taxes every line with them
    tax_rates: tuple[str, ...] = ()

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the invoices POST."""
        params = invoice_params(
            customer=self.customer,
            currency=self.currency,
            days_until_due=self.days_until_due,
            engagement_id=self.engagement_id,
            period=self.period,
            service_line=self.service_line,
            tax_rates=self.tax_rates,
        )
        return "/v1/invoices", "/v1/invoices", params


class CreateTaxRate(StripeCommand, frozen=True, kw_only=True):
    """Create an exclusive tax rate of `percentage` % (``POST /v1/tax_rates``); the result is
    `StTaxRate`. Stripe keeps tax rates for good (they can only be archived), so a flow
    creates each rate once and remembers its id."""

    percentage: Decimal
    display_name: str

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the tax rates POST."""
        params: dict[str, object] = {
            "display_name": self.display_name,
            "percentage": str(self.percentage),
            "inclusive": False,
        }
        return "/v1/tax_rates", "/v1/tax_rates", params


class FinalizeInvoice(StripeCommand, frozen=True, kw_only=True):
    """draft → open: Stripe numbers the invoice (`StInvoice`)."""

    invoice: str

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the finalize POST."""
        path = f"/v1/invoices/{self.invoice}/finalize"
        return path, "/v1/invoices/{id}/finalize", {}


class PayInvoice(StripeCommand, frozen=True, kw_only=True):
    """open → paid, charged or (`paid_out_of_band`) recorded as paid elsewhere (`StInvoice`)."""

    invoice: str
    paid_out_of_band: bool = False

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the pay POST."""
        params: dict[str, object] = {"paid_out_of_band": True} if self.paid_out_of_band else {}
        return f"/v1/invoices/{self.invoice}/pay", "/v1/invoices/{id}/pay", params


class VoidInvoice(StripeCommand, frozen=True, kw_only=True):
    """open → void: the finance-aware way to cancel a finalized invoice (`StInvoice`)."""

    invoice: str

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the void POST."""
        return f"/v1/invoices/{self.invoice}/void", "/v1/invoices/{id}/void", {}


class CreateCreditNote(StripeCommand, frozen=True, kw_only=True):
    """Credit `lines` (positive amounts: what is taken back) on the finalized `invoice`
    (``POST /v1/credit_notes``); the result is `StCreditNote`.

    Stripe allows it on an open or paid invoice, up to what the invoice can still be credited;
    on an open one it lowers what is left to pay. `origin` (the correction it issues) rides in
    ``metadata[mediator_origin]``: the flow looks for it there before it issues one again, and
    the `idempotency_key` (the correction's) makes a retry Stripe's replay.
    """

    invoice: str
    lines: tuple[InvoiceLine, ...]
    memo: str
    origin: str

    def request(self) -> tuple[str, str, dict[str, object]]:
        """Return the credit notes POST."""
        params = credit_note_params(
            invoice=self.invoice, lines=self.lines, memo=self.memo, origin=self.origin
        )
        return "/v1/credit_notes", "/v1/credit_notes", params


def idempotency_header(command: StripeCommand) -> str:
    """Return the `Idempotency-Key` of `command`: stable across every retry of it.

    A digest rather than the journal key itself: Stripe allows 255 characters, and the kind is
    mixed in so commands of one journal entry get distinct keys.
    """
    digest = hashlib.sha256(f"{type(command).__name__}\0{command.idempotency_key}".encode())
    return "mediator-" + digest.hexdigest()[:40]
