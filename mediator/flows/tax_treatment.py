"""A client's tax treatment: the key both finance flows read their tax configuration by.

The canonical `TaxProfile.exempt` and the Stripe customer's `tax_exempt` say ``none``,
``exempt`` or ``reverse`` (the EU reverse charge); the configuration names the taxed case
``standard`` (`[flows.billing.options.tax_rates]`, `[flows.receivables.options.taxes]`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Literal

from mediator.errors import BusinessRejected

__all__ = ["TREATMENTS", "tax_percentage", "treatment_of"]  # and the alias `Treatment`

Treatment = Literal["standard", "reverse", "exempt"]
"""How a client is taxed: at the standard rate, by reverse charge, or not at all."""

TREATMENTS: tuple[Treatment, ...] = ("standard", "reverse", "exempt")
"""Every treatment, as the configuration tables may name them."""

_BY_EXEMPTION: dict[str, Treatment] = {
    "none": "standard",
    "exempt": "exempt",
    "reverse": "reverse",
}


def treatment_of(tax_exempt: str, *, who: str) -> Treatment:
    """The treatment of a client whose Stripe `tax_exempt` (or canonical `TaxProfile.exempt`)
    is `tax_exempt`; another value is a `BusinessRejected` naming `who`."""
    found = _BY_EXEMPTION.get(tax_exempt)
    if found is None:
        raise BusinessRejected(
            who, f"tax_exempt {tax_exempt!r:.40} is none of none, exempt, reverse"
        )
    return found


def tax_percentage(text: str) -> Decimal | None:
    """The percentage `text` (``"20.0"``) means, or None unless it is a decimal from 0 to 100
    with at most 4 decimals (what Stripe accepts as a tax rate's `percentage`)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    exponent = value.as_tuple().exponent if value.is_finite() else 0
    if not (0 <= value <= 100) or not isinstance(exponent, int) or exponent < -4:
        return None
    return value
