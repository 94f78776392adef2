"""Tax rates (``txr_…``) and the tax they put on an invoice, as Stripe computes it.

A tax rate is created with `display_name`, `percentage` and `inclusive` (all required). This
sandbox computes exclusive rates only (`inclusive=true` is accepted and stored, and computed
as exclusive would be wrong, so an inclusive rate on an invoice is refused when the invoice
is computed — never a silent wrong total).

Each line of a draft is taxed by its item's `tax_rates`, or, when it has none, by the
invoice's `default_tax_rates`: per line, per rate, `amount × percentage / 100` rounded half up
to the currency's minor unit, so the invoice's tax is the sum of its lines' rounded taxes.
A customer whose `tax_exempt` is ``exempt`` or ``reverse`` pays none: each rate still shows on
the line with amount 0 and its `taxability_reason` (``customer_exempt``, ``reverse_charge``).

The API version this sandbox speaks (after 2025-03-31.basil) shows them as the line's `taxes`
and the invoice's `total_taxes` (``type: tax_rate_details``); `total_tax_amounts` is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

from mediator.sandbox.stripe.errors import StripeError
from mediator.sandbox.stripe.params import Params, invalid

__all__ = ["TAX_RATE_PARAMS", "line_taxes", "tax_rate_fields", "total_taxes"]

TAX_RATE_PARAMS = (
    "display_name",
    "inclusive",
    "percentage",
    "active",
    "country",
    "description",
    "jurisdiction",
    "metadata",
    "state",
    "tax_type",
)
StripeObject = dict[str, object]

_TAX_TYPES = (
    "amusement_tax", "communications_tax", "gst", "hst", "igst", "jct", "lease_tax", "pst",
    "qst", "retail_delivery_fee", "rst", "sales_tax", "service_tax", "vat",
)  # fmt: skip
_REASONS = {"exempt": "customer_exempt", "reverse": "reverse_charge"}


def tax_rate_fields(p: Params) -> StripeObject:
    """Read a tax rate's create parameters (Stripe's checks: display name ≤ 50 characters,
    a percentage from 0 to 100 with at most 4 decimals)."""
    p.only(TAX_RATE_PARAMS).required("display_name", "inclusive", "percentage")
    text = p.text("percentage", max_length=20) or ""
    try:
        percentage = Decimal(text)
    except ArithmeticError:
        percentage = Decimal(-1)
    exponent = percentage.as_tuple().exponent if percentage.is_finite() else 0
    if not (0 <= percentage <= 100) or not isinstance(exponent, int) or exponent < -4:
        raise invalid("percentage", f"Invalid decimal: {text[:20]}")
    metadata = p.metadata() or {}
    return {
        "display_name": p.text("display_name", max_length=50),
        "inclusive": p.boolean("inclusive"),
        "percentage": float(percentage),
        "effective_percentage": float(percentage),
        "active": p.boolean("active", True),
        "country": p.text("country", max_length=2),
        "description": p.text("description", max_length=500),
        "jurisdiction": p.text("jurisdiction", max_length=50),
        "jurisdiction_level": None,
        "state": p.text("state", max_length=2),
        "tax_type": p.choice("tax_type", _TAX_TYPES),
        "metadata": {k: v for k, v in metadata.items() if v != ""},
    }


def line_taxes(
    amount: int, rate_ids: list[str], rates: Mapping[str, StripeObject], exempt: str
) -> list[StripeObject]:
    """The `taxes` of a line of `amount` (minor units) under `rate_ids`, for a customer whose
    `tax_exempt` is `exempt`: one entry per rate, rounded half up per line."""
    out: list[StripeObject] = []
    reason = _REASONS.get(exempt)
    for rate_id in rate_ids:
        rate = rates[rate_id]
        if rate["inclusive"]:
            raise StripeError(
                400,
                f"The tax rate {rate_id} is inclusive; this sandbox computes exclusive tax "
                "rates only.",
                param="tax_rates",
            )
        percentage = Decimal(str(rate["percentage"]))
        tax = (Decimal(amount) * percentage / 100).to_integral_value(ROUND_HALF_UP)
        out.append(
            {
                "amount": 0 if reason else int(tax),
                "tax_behavior": "exclusive",
                "tax_rate_details": {"tax_rate": rate_id},
                "taxability_reason": reason or "standard_rated",
                "taxable_amount": 0 if reason else amount,
                "type": "tax_rate_details",
            }
        )
    return out


def total_taxes(lines: list[list[StripeObject]]) -> list[StripeObject]:
    """The invoice's `total_taxes`: the lines' taxes summed per (rate, reason)."""
    totals: dict[tuple[str, str], StripeObject] = {}
    for taxes in lines:
        for tax in taxes:
            details = tax["tax_rate_details"]
            assert isinstance(details, dict)
            key = (str(details["tax_rate"]), str(tax["taxability_reason"]))
            found = totals.get(key)
            if found is None:
                totals[key] = dict(tax)
            else:
                found["amount"] = int(str(found["amount"])) + int(str(tax["amount"]))
                found["taxable_amount"] = int(str(found["taxable_amount"])) + int(
                    str(tax["taxable_amount"])
                )
    return list(totals.values())
