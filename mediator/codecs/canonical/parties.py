"""Who the firm works for and who does the work: clients and consultants."""

from __future__ import annotations

from typing import Literal

import msgspec

from mediator.codecs.canonical.currencies import exponent
from mediator.codecs.canonical.entity import Entity

__all__ = ["Address", "Client", "Consultant", "TaxProfile"]


class Address(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A postal address; `country` is an ISO 3166 alpha-2 code when the source has one."""

    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class TaxProfile(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """How a client is taxed: its tax id (VAT, EIN...) and whether it is exempt.

    `exempt` follows Stripe's vocabulary: ``reverse`` is the EU reverse charge.
    """

    tax_id: str | None = None
    scheme: str | None = None
    exempt: Literal["none", "exempt", "reverse"] = "none"


class Client(Entity, frozen=True, kw_only=True):
    """A customer of the firm, possibly part of a group through `parent_id`.

    `legal_entity` is which of the firm's own companies contracts with it.
    """

    name: str
    legal_entity: str | None = None
    parent_id: str | None = None
    tax: TaxProfile = TaxProfile()
    billing_address: Address | None = None
    currency: str | None = None
    email: str | None = None
    is_active: bool = True

    def __post_init__(self) -> None:
        if self.currency is not None:
            exponent(self.currency)


class Consultant(Entity, frozen=True, kw_only=True):
    """A person whose time is billed: an employee or contractor of the firm."""

    name: str
    email: str | None = None
    role: str | None = None
    is_contractor: bool = False
    is_active: bool = True
