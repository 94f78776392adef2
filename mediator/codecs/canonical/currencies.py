"""ISO 4217 currencies in circulation and their exponents (digits of the minor unit).

From the ISO 4217 list (amendment 178): most currencies have two decimals; the exceptions are
spelled out below. Funds and precious-metal codes without a minor unit (XAU, XDR, ...) are left
out on purpose: nobody invoices a client in troy ounces.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["EXPONENTS", "exponent"]

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP"
    " BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD"
    " FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD"
    " KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD"
    " NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP"
    " SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS"
    " VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

EXPONENTS = MappingProxyType(
    {
        **dict.fromkeys(_TWO.split(), 2),
        **dict.fromkeys(_ZERO.split(), 0),
        **dict.fromkeys(_THREE.split(), 3),
        **dict.fromkeys(_FOUR.split(), 4),
    }
)
"""Upper-case ISO 4217 code → number of decimal digits of its minor unit (read-only)."""


def exponent(currency: str) -> int:
    """Return the minor-unit digits of `currency` (``JPY`` 0, ``USD`` 2, ``KWD`` 3).

    Raises `ValueError` for a code that is not a circulating ISO 4217 currency; codes are
    upper case, as ISO writes them (Stripe's lower-case codes are upper-cased at its edge).
    """
    try:
        return EXPONENTS[currency]
    except (KeyError, TypeError):
        raise ValueError(f"unknown currency {currency!r:.20}") from None
