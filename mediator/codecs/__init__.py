"""Canonical business entities and each external system's wire mapping."""

from mediator.codecs.envelope import Envelope, new_id

__all__ = ["Envelope", "new_id"]
