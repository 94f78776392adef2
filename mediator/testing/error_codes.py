"""Every shipped vendor's error codes at once: what tests of the classifier itself use.

A connector gives the policies only its own vendor's tables; a test of the classifier, or of
a made-up system that answers like several vendors, needs them all in one `ErrorCodes`.
"""

from __future__ import annotations

from mediator.codecs.harvest import errors as harvest
from mediator.codecs.salesforce import errors as salesforce
from mediator.codecs.stripe import errors as stripe
from mediator.codecs.tryton import errors as tryton
from mediator.policies import ErrorCodes, PolicyRegistry

__all__ = ["EVERY_VENDORS_CODES", "any_vendors_error_code", "register_vendor_error_codes"]

_VENDORS = (harvest, salesforce, stripe, tryton)

EVERY_VENDORS_CODES = ErrorCodes(
    retry=frozenset().union(*(v.RETRY_CODES for v in _VENDORS)),
    dead=frozenset().union(*(v.DEAD_CODES for v in _VENDORS)),
    system_failure=frozenset().union(*(v.SYSTEM_FAILURE_CODES for v in _VENDORS)),
    exhausted=frozenset().union(*(v.EXHAUSTED_CODES for v in _VENDORS)),
)
"""The union of the four vendors' tables."""


def any_vendors_error_code(status: int, body: bytes) -> str | None:
    """The error code of `body` as the first vendor that recognises its shape reads it."""
    for vendor in (salesforce, stripe, tryton, harvest):
        code: str | None = vendor.error_code(max(status, 400), body)
        if code is not None:
            return code
    return None


def register_vendor_error_codes(registry: PolicyRegistry) -> PolicyRegistry:
    """Register each vendor's tables under its system name, as its connector would."""
    for name, vendor in zip(("harvest", "salesforce", "stripe", "tryton"), _VENDORS, strict=True):
        registry.register_error_codes(name, vendor.ERROR_CODES)
    return registry
