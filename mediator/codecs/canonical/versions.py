"""The canonical payload kinds of this release, at their current schema versions.

Each canonical entity travels under the kind named after it (``time_entry``). Flows that want
a more specific kind for the same payload (``psa.time_entry.approved``) add it with
``CANONICAL.with_alias("psa.time_entry.approved", like="time_entry")``, so it shares the
entity's version and upcasters.

Changing an entity in a way old entries do not fit (renaming or retyping a field, adding a
required one) means: bump its version here and add the upcaster from the previous version.
``tests/codecs/fixtures/journal_v1.json`` holds entries written by version 1 and must keep
decoding.
"""

from __future__ import annotations

from mediator.codecs.canonical.billing import Invoice, Payment
from mediator.codecs.canonical.deals import Contract, Deal
from mediator.codecs.canonical.engagements import ChangeOrder, Engagement, Milestone, Project
from mediator.codecs.canonical.parties import Client, Consultant
from mediator.codecs.canonical.payloads import PayloadRegistry, PayloadSchema
from mediator.codecs.canonical.rates import Assignment, RateCard
from mediator.codecs.canonical.time_and_expenses import Expense, TimeEntry

__all__ = ["CANONICAL"]

CANONICAL = PayloadRegistry(
    [
        PayloadSchema(kind="client", type=Client),
        PayloadSchema(kind="engagement", type=Engagement),
        PayloadSchema(kind="project", type=Project),
        PayloadSchema(kind="consultant", type=Consultant),
        PayloadSchema(kind="assignment", type=Assignment),
        PayloadSchema(kind="rate_card", type=RateCard),
        PayloadSchema(kind="time_entry", type=TimeEntry),
        PayloadSchema(kind="expense", type=Expense),
        PayloadSchema(kind="milestone", type=Milestone),
        PayloadSchema(kind="change_order", type=ChangeOrder),
        PayloadSchema(kind="invoice", type=Invoice),
        PayloadSchema(kind="payment", type=Payment),
        PayloadSchema(kind="deal", type=Deal),
        PayloadSchema(kind="contract", type=Contract),
    ]
)
"""The registry of the canonical entity kinds (immutable; extend with `with_alias`)."""
