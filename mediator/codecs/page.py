"""A page of canonical entities read from a system's list endpoint, and where the next one is."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

__all__ = ["Page"]

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """`items` of one page; `next_url` to fetch the next (None on the last), `total` if known.

    `next_url` is exactly what the system said (Harvest's ``links.next``, Salesforce's
    ``nextRecordsUrl``): clients follow it and never build page URLs themselves.
    """

    items: list[T]
    next_url: str | None = None
    total: int | None = None
