"""Stripe API v1: its wire types (`wire`), its form encoding (`form`, byte-identical to the
official SDK), the mapping to canonical entities (`mapping`) and what its error types mean
(`errors`).

The same verbs as every vendor package: `decode` (bytes to this vendor's wire types, raising
only `DecodeError`), `<entity>_from_stripe` / `<entity>_to_stripe`, and `error_code`.
"""

from mediator.codecs.stripe.errors import error_code
from mediator.codecs.stripe.form import FormNode, decode_form, encode_form
from mediator.codecs.stripe.mapping import (
    ORIGIN_KEY,
    customer_from_stripe,
    customer_params,
    decode_event_object,
    decode_stripe,
    from_stripe_amount,
    invoice_from_stripe,
    invoice_item_params,
    invoice_params,
    payment_from_stripe,
    to_stripe_amount,
)
from mediator.codecs.stripe.mapping import decode_stripe as decode

__all__ = [
    "ORIGIN_KEY",
    "FormNode",
    "customer_from_stripe",
    "customer_params",
    "decode",
    "decode_event_object",
    "decode_form",
    "decode_stripe",
    "encode_form",
    "error_code",
    "from_stripe_amount",
    "invoice_from_stripe",
    "invoice_item_params",
    "invoice_params",
    "payment_from_stripe",
    "to_stripe_amount",
]
