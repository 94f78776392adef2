"""The basic customer parameters: contact, currency, invoice prefix, address, locales.

Lengths are those of Stripe's API reference (name 256, email 512, phone 20, invoice prefix
3–12 upper-case letters or digits, address lines 200, country two letters); an empty
string unsets a field, as Stripe documents. The rest of what customers take is read in
`documented.py`.
"""

from __future__ import annotations

import re

from mediator.sandbox.stripe.params import Params, invalid
from mediator.sandbox.stripe.store import StripeObject

__all__ = ["CUSTOMER_PARAMS", "customer_fields"]

_TAX_EXEMPT = ("none", "exempt", "reverse")
_ADDRESS = {
    "line1": 200,
    "line2": 200,
    "city": 200,
    "state": 200,
    "postal_code": 20,
    "country": 2,
}
CUSTOMER_PARAMS = (
    "name",
    "email",
    "description",
    "phone",
    "currency",
    "invoice_prefix",
    "tax_exempt",
    "metadata",
    "address",
    "preferred_locales",
)
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_PREFIX = re.compile(r"\A[A-Z0-9]{3,12}\Z")
_LOCALE = re.compile(r"\A[a-z]{2,3}(-[A-Za-z0-9]{2,8})*\Z")


def customer_fields(p: Params) -> StripeObject:
    """Read the basic customer parameters (create and update take the same ones)."""
    fields: StripeObject = {}
    for name, length in (("name", 256), ("description", 5000), ("phone", 20)):
        if p.has(name):
            fields[name] = p.text(name, max_length=length) or None
    if p.has("email"):
        email = p.text("email", max_length=512) or None
        if email is not None and not _EMAIL.match(email):
            raise invalid("email", f"Invalid email address: {email[:80]}", "email_invalid")
        fields["email"] = email
    if p.has("currency"):
        fields["currency"] = p.currency() if p.text("currency") else None
    if p.has("invoice_prefix"):
        prefix = p.text("invoice_prefix", max_length=12) or ""
        if not _PREFIX.match(prefix):
            raise invalid(
                "invoice_prefix",
                "Invalid invoice_prefix: must be 3 to 12 upper-case letters or digits",
            )
        fields["invoice_prefix"] = prefix
    if p.has("tax_exempt"):
        fields["tax_exempt"] = p.choice("tax_exempt", _TAX_EXEMPT)
    if p.has("metadata"):
        fields["metadata"] = p.metadata()
    if p.has("address"):
        fields["address"] = p.record("address", _ADDRESS) or None
    if p.has("preferred_locales"):
        locales = p.strings("preferred_locales", max_items=10, max_length=20) or []
        for index, locale in enumerate(locales):
            if not _LOCALE.match(locale):
                raise invalid(f"preferred_locales[{index}]", f"Invalid locale: {locale[:40]}")
        fields["preferred_locales"] = locales
    return fields
