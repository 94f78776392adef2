"""Money: integer minor units in one ISO 4217 currency; arithmetic never mixes currencies."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediator.codecs import EXPONENTS, Money, WireDecoder, exponent, sum_money
from mediator.errors import CurrencyMismatch, DecodeError

_currencies = st.sampled_from(sorted(EXPONENTS))
_amounts = st.integers(min_value=-(10**15), max_value=10**15)


@given(_amounts, _currencies)
def test_money_survives_json_and_decimal_round_trips(amount: int, currency: str) -> None:
    money = Money(amount=amount, currency=currency)
    assert msgspec.json.decode(msgspec.json.encode(money), type=Money) == money
    assert Money.from_decimal(money.to_decimal(), currency) == money


@given(_amounts, _amounts, _currencies)
def test_addition_and_subtraction_are_exact(a: int, b: int, currency: str) -> None:
    x, y = Money(amount=a, currency=currency), Money(amount=b, currency=currency)
    assert (x + y).amount == a + b
    assert (x + y - y) == x
    assert -x + x == Money.zero(currency)


@given(_amounts, st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=8))
def test_allocation_never_loses_or_invents_a_cent(amount: int, ratios: list[int]) -> None:
    if sum(ratios) == 0:
        ratios[0] = 1
    parts = Money(amount=amount, currency="USD").allocate(ratios)
    assert sum(part.amount for part in parts) == amount


@pytest.mark.parametrize(("code", "digits"), [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3)])
def test_exponents_follow_iso_4217(code: str, digits: int) -> None:
    assert exponent(code) == digits
    assert Money.from_decimal("1", code).amount == 10**digits


def test_decimals_round_half_even_to_the_minor_unit_as_the_erp_does() -> None:
    assert Money.from_decimal(Decimal("10.005"), "USD").amount == 1000
    assert Money.from_decimal(Decimal("10.015"), "USD").amount == 1002
    assert Money.from_decimal(Decimal("10.5"), "JPY").amount == 10
    assert Money.from_decimal(Decimal("1.0005"), "KWD").amount == 1000


def test_rate_times_hours_rounds_once() -> None:
    rate = Money(amount=15_000, currency="USD")  # 150.00 an hour
    assert rate.scale(Decimal("7.25")) == Money(amount=108_750, currency="USD")
    assert Money(amount=3333, currency="USD").scale(Decimal("0.5")).amount == 1666


def test_currencies_never_mix() -> None:
    usd, eur = Money(amount=1, currency="USD"), Money(amount=1, currency="EUR")
    with pytest.raises(CurrencyMismatch) as info:
        _ = usd + eur
    assert (info.value.left, info.value.right) == ("USD", "EUR")
    with pytest.raises(CurrencyMismatch):
        _ = usd < eur
    with pytest.raises(CurrencyMismatch):
        sum_money([usd, eur], "USD")


def test_integer_multiples_only() -> None:
    usd = Money(amount=250, currency="USD")
    assert usd * 3 == 3 * usd == Money(amount=750, currency="USD")
    with pytest.raises(TypeError):
        _ = usd * 1.5  # type: ignore[operator]  # the point: a float factor is refused


@pytest.mark.parametrize("value", ["NaN", "Infinity", "abc", "1e30", "1e999999"])
def test_not_an_amount_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        Money.from_decimal(value, "USD")


def test_unknown_currency_is_refused_on_construction() -> None:
    with pytest.raises(ValueError, match="unknown currency"):
        Money(amount=1, currency="usd")
    with pytest.raises(ValueError, match="unknown currency"):
        Money(amount=1, currency="XAU")


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"amount":1,"currency":"BTC"}', "$"),
        (b'{"amount":1.5,"currency":"USD"}', "$.amount"),
        (b'{"amount":NaN,"currency":"USD"}', "$"),
        (b'{"amount":' + b"9" * 40 + b',"currency":"USD"}', "$.amount"),
        (b'{"amount":"100","currency":"USD"}', "$.amount"),
    ],
)
def test_bad_money_on_the_wire_is_a_decode_error(body: bytes, path: str) -> None:
    with pytest.raises(DecodeError) as info:
        WireDecoder("test", Money).decode(body)
    assert info.value.path == path


def test_money_reads_as_people_write_it() -> None:
    assert str(Money(amount=150_050, currency="USD")) == "1,500.50 USD"
    assert str(Money(amount=1500, currency="JPY")) == "1,500 JPY"
