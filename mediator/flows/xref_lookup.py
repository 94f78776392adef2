"""Resolving one system's id to another's through the xref map (and its canonical id).

The finance flows meet records other flows made: the client onboarding recorded (an Account
with a Stripe customer and a Tryton party), the invoice the receivables flow posted. A record
that is not there yet is a `MissingReference` naming it, so the dead letter says what to do
first (onboard the client) and the entry is replayed once that is done.
"""

from __future__ import annotations

from mediator.errors import MissingReference
from mediator.journal import Journal

__all__ = ["system_id_for", "translate"]


async def system_id_for(
    journal: Journal, entity_type: str, canonical_id: str, system: str, *, needed_for: str
) -> str:
    """The `system` id of the `entity_type` whose canonical id is `canonical_id`; a
    `MissingReference` saying what it is `needed_for` when the map has none."""
    found = await journal.xref_to(entity_type, canonical_id, system)
    if found is None:
        raise MissingReference(
            f"{entity_type} {canonical_id}",
            f"no {system} id in the xref map (not onboarded yet?); needed for {needed_for}",
        )
    return found.system_id


async def translate(
    journal: Journal,
    entity_type: str,
    source: str,
    source_id: str,
    target: str,
    *,
    needed_for: str,
) -> tuple[str, str]:
    """The canonical id and the `target` id of the `entity_type` known in `source` as
    `source_id`; a `MissingReference` naming the gap (which system, which id) otherwise."""
    canonical = await journal.xref_from(source, entity_type, source_id)
    if canonical is None:
        raise MissingReference(
            f"{source} {entity_type} {source_id}",
            f"not in the xref map (not onboarded yet?); needed for {needed_for}",
        )
    target_id = await system_id_for(
        journal, entity_type, canonical.canonical_id, target, needed_for=needed_for
    )
    return canonical.canonical_id, target_id
