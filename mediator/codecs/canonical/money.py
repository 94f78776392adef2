"""Money: an integer count of minor units in one ISO 4217 currency. Never a float.

``Money(amount=150050, currency="USD")`` is 1,500.50 USD; ``Money(amount=1500, currency="JPY")``
is ¥1,500. Arithmetic and ordering only combine amounts of one currency; mixing raises
`CurrencyMismatch`, because silently adding euros to dollars is how ledgers drift. An amount is
at most ±(2**63 - 1) minor units, what a signed 64-bit column holds: constructing (or decoding)
one beyond that, or an operation (``+``, ``-``, negation, ``*``, `scale`, `from_decimal`) whose
result would be, raises `AmountOutOfRange` naming the operation, never a silent big integer.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal, DecimalException
from typing import Annotated

import msgspec

from mediator.codecs.canonical.currencies import exponent
from mediator.codecs.scalars import parse_decimal
from mediator.errors import AmountOutOfRange, CurrencyMismatch

__all__ = ["MAX_MINOR_UNITS", "Money", "require_currency", "sum_money"]

MAX_MINOR_UNITS = 2**63 - 1
"""The largest amount in minor units: what a signed 64-bit column (SQLite, PostgreSQL) holds."""

_Minor = Annotated[int, msgspec.Meta(ge=-MAX_MINOR_UNITS, le=MAX_MINOR_UNITS)]


class Money(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An amount of `currency` in its minor units (cents, fils, yen).

    Constructing or decoding Money with a currency that is not ISO 4217 raises `ValueError`,
    with an amount that is not an `int` `TypeError`, and beyond the range `AmountOutOfRange`
    (msgspec reports each as a validation error with the field path).
    """

    amount: _Minor
    currency: str

    def __post_init__(self) -> None:
        exponent(self.currency)  # validates the code: unknown currencies never get in
        # msgspec checks `_Minor` only when decoding; a constructor call must not skip it
        if type(self.amount) is not int:
            raise TypeError(f"an amount is an int of minor units, not {type(self.amount).__name__}")
        if not -MAX_MINOR_UNITS <= self.amount <= MAX_MINOR_UNITS:
            raise AmountOutOfRange(
                f"an amount of {_digits(self.amount)} minor units", self.currency
            )

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return nothing of `currency`."""
        return cls(amount=0, currency=currency)

    @classmethod
    def from_decimal(
        cls, value: Decimal | int | str, currency: str, *, rounding: str = ROUND_HALF_EVEN
    ) -> Money:
        """Return `value` major units of `currency` (``Decimal("12.345")`` USD is 1235 cents).

        Rounds to the minor unit with `rounding` (half even: see `scale`). Text must be a
        vendor decimal (`mediator.codecs.scalars.parse_decimal`). Raises `ValueError` for NaN,
        infinities, text that is not a number, and `AmountOutOfRange` (a `ValueError` too) for
        an amount too large.
        """
        try:
            number = parse_decimal(value) if isinstance(value, str) else Decimal(value)
        except ValueError as exc:
            raise ValueError(f"not an amount: {exc}") from exc
        try:
            minor = number.scaleb(exponent(currency)).to_integral_value(rounding=rounding)
        except DecimalException as exc:  # not a number, or an exponent beyond the context
            raise ValueError(f"not an amount: {value!r:.40}") from exc
        if not minor.is_finite():
            raise ValueError(f"not an amount: {value!r:.40}")
        if abs(minor) > MAX_MINOR_UNITS:
            raise AmountOutOfRange(f"{_digits(value)} {currency}", currency)
        return cls(amount=int(minor), currency=currency)

    def to_decimal(self) -> Decimal:
        """Return the amount in major units, exact (``Decimal("1500.50")``)."""
        return Decimal(self.amount).scaleb(-exponent(self.currency))

    def scale(self, factor: Decimal | int, *, rounding: str = ROUND_HALF_EVEN) -> Money:
        """Return this amount times `factor`, rounded once to the minor unit (rate × hours).

        Half even by default because the ERP rounds so (Tryton's ``currency.round``): 7.25 h at
        180.50 is 1308.62 there, and an invoice line must be the same amount everywhere.
        """
        operation = f"{self} × {_digits(factor)}"
        try:
            product = (Decimal(self.amount) * Decimal(factor)).to_integral_value(rounding=rounding)
        except DecimalException as exc:
            raise AmountOutOfRange(operation, self.currency) from exc
        if not product.is_finite() or abs(product) > MAX_MINOR_UNITS:
            raise AmountOutOfRange(operation, self.currency)
        return Money(amount=int(product), currency=self.currency)

    def allocate(self, ratios: Sequence[int]) -> list[Money]:
        """Split into parts proportional to `ratios` that add up exactly to this amount.

        Remainders go one minor unit at a time to the first parts (largest-remainder rule is
        not needed for invoices: the order of lines decides, and it is stable).
        """
        total = sum(ratios)
        if total <= 0 or any(ratio < 0 for ratio in ratios):
            raise ValueError("ratios must be non-negative with a positive sum")
        shares = [self.amount * ratio // total for ratio in ratios]
        for index in range(self.amount - sum(shares)):
            shares[index % len(shares)] += 1
        return [Money(amount=share, currency=self.currency) for share in shares]

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(self.currency, other.currency)

    def _result(self, amount: int, operation: str) -> Money:
        if not -MAX_MINOR_UNITS <= amount <= MAX_MINOR_UNITS:
            raise AmountOutOfRange(operation, self.currency)
        return Money(amount=amount, currency=self.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return self._result(self.amount + other.amount, f"{self} + {other}")

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return self._result(self.amount - other.amount, f"{self} - {other}")

    def __neg__(self) -> Money:
        # symmetric bounds: cannot overflow today, checked like every operation all the same
        return self._result(-self.amount, f"-({self})")

    def __mul__(self, times: int) -> Money:
        if isinstance(times, bool) or not isinstance(times, int):
            return NotImplemented
        return self._result(self.amount * times, f"{self} × {_digits(times)}")

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __bool__(self) -> bool:
        return self.amount != 0

    def __str__(self) -> str:
        return f"{self.to_decimal():,f} {self.currency}"


def _digits(value: object) -> str:
    # a 5,000-digit amount in a message is a wall of digits (and str() refuses past 4,300):
    # say how long it is instead
    if isinstance(value, int) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit integer"
    text = str(value)
    return text if len(text) <= 40 else f"{text[:12]}…({len(text)} digits)"


def sum_money(amounts: Sequence[Money], currency: str) -> Money:
    """Add up `amounts`, all in `currency` (an empty sum is zero of it)."""
    total = Money.zero(currency)
    for amount in amounts:
        total = total + amount
    return total


def require_currency(currency: str, *amounts: Money | None) -> None:
    """Check that `currency` is ISO 4217 and that every given amount is in it.

    Raises `ValueError` (which msgspec reports with the path of the Struct being decoded).
    """
    exponent(currency)
    for amount in amounts:
        if amount is not None and amount.currency != currency:
            raise ValueError(f"{amount.currency} amount in a {currency} record")
