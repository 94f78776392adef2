"""The xref map of a firm seeded as already onboarded (`seed_sandboxes(..., onboarded=True)`).

Tests of the flows downstream of onboarding (approved time, billing) start from a firm whose
projects already exist in the PSA and the ERP; `record_onboarding` writes what the onboarding
flow and HR would have written for it: each project's and consultant's PSA and ERP ids under
the canonical (firm) key.
"""

from __future__ import annotations

from mediator.journal import Journal
from mediator.sandbox import Sandboxes
from mediator.sandbox.generator import Firm

__all__ = ["record_onboarding"]


async def record_onboarding(journal: Journal, firm: Firm, boxes: Sandboxes) -> int:
    """Write the xref map onboarding would have for `firm`; return the mappings written."""
    index = boxes.index
    written = 0
    for entity_type, keys in (
        ("project", [p.key for p in firm.projects if p.onboarded]),
        ("consultant", [c.key for c in firm.consultants]),
    ):
        for key in keys:
            for system, ids in (("harvest", index.harvest), ("tryton", index.tryton)):
                if key in ids:
                    await journal.record_xref(entity_type, key, system, str(ids[key]))
                    written += 1
    return written
