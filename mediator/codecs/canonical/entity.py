"""What every canonical entity has: where it came from."""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

__all__ = ["Entity"]

SystemName: TypeAlias = Literal["salesforce", "harvest", "stripe", "tryton", "mediator"]
"""The system an entity was read from (``mediator`` for what the mediator itself made)."""


class Entity(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of the canonical entities: the source system and the id it has there.

    ``gc=False`` (inherited by every entity): they are immutable trees that cannot form
    cycles, so the collector need not track them; decoding a page of 2,000 entries is ~25 %
    faster for it (msgspec docs/perf-tips.rst, bench/codecs.py).

    References to other entities (``client_id``, ``project_id``) are ids in the same source
    system; the xref map translates them to the other systems' ids.
    """

    source_system: SystemName
    source_id: str
