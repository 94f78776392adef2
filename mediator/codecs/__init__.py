"""Canonical business entities and each external system's wire mapping."""

from mediator.codecs.envelope import Envelope, new_id
from mediator.codecs.stripe_form import FormNode, decode_form, encode_form

__all__ = ["Envelope", "FormNode", "decode_form", "encode_form", "new_id"]
