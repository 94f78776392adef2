"""A flow's state for one entity, read and changed safely: the journal's flow state, typed.

`update` applies a change to what is saved and saves it over the version it read, reading and
applying it again when another save came first; a change that changes nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from mediator.journal import Journal

__all__ = ["load", "update"]

S = TypeVar("S", bound=msgspec.Struct)
_encode = msgspec.json.Encoder().encode


async def load(journal: Journal, flow: str, entity: str, kind: type[S]) -> tuple[S | None, int]:
    """The saved state of `flow` for `entity` (None when there is none) and its version."""
    saved = await journal.load_flow(flow, entity)
    if saved is None:
        return None, 0
    return msgspec.json.decode(saved.state, type=kind), saved.version


async def update(
    journal: Journal,
    flow: str,
    entity: str,
    kind: type[S],
    change: Callable[[S | None], S],
) -> tuple[S | None, S]:
    """Apply `change` to the saved state and save it, again after a concurrent save; return
    the state before and after (nothing is written when `change` changes nothing)."""
    while True:
        current, version = await load(journal, flow, entity, kind)
        updated = change(current)
        if updated == current:
            return current, updated
        if await journal.save_flow(flow, entity, _encode(updated), expected_version=version):
            return current, updated
