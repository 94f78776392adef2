"""The Stripe API v1 sandbox (billing): customers, invoice items, invoices, events, webhooks."""

from mediator.sandbox.stripe.app import API_VERSION, StripeSandbox
from mediator.sandbox.stripe.errors import StripeError
from mediator.sandbox.stripe.idempotency import IdempotencyCache
from mediator.sandbox.stripe.store import StripeStore
from mediator.sandbox.stripe.webhooks import DeliveryAttempt, WebhookSender, sign

__all__ = [
    "API_VERSION",
    "DeliveryAttempt",
    "IdempotencyCache",
    "StripeError",
    "StripeSandbox",
    "StripeStore",
    "WebhookSender",
    "sign",
]
