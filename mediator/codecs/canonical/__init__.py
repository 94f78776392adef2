"""The canonical model: the firm's business entities as every system's data becomes them.

Entities are frozen msgspec Structs carrying their source system and id; money is `Money`
(integer minor units + ISO 4217 code, bounded to 64 bits). The `Envelope` carries one of them
through the journal under a kind and a schema version (`versions.CANONICAL`, upcast on read);
`commands` are the effects flows ask of system actors, in these terms. No vendor here: each
vendor's wire format and its mapping to these entities live in `mediator.codecs.<vendor>`.
"""

from mediator.codecs.canonical.billing import Invoice, InvoiceLine, Payment
from mediator.codecs.canonical.commands import (
    Command,
    PostTimesheetLine,
    Recorded,
    effect_reference,
)
from mediator.codecs.canonical.currencies import EXPONENTS, exponent
from mediator.codecs.canonical.deals import Contract, Deal, StaffingLine
from mediator.codecs.canonical.engagements import (
    ChangeOrder,
    Engagement,
    Milestone,
    Project,
    RateChange,
)
from mediator.codecs.canonical.entity import Entity
from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.codecs.canonical.money import MAX_MINOR_UNITS, Money, require_currency, sum_money
from mediator.codecs.canonical.parties import Address, Client, Consultant, TaxProfile
from mediator.codecs.canonical.payloads import PayloadRegistry, PayloadSchema, Upcaster
from mediator.codecs.canonical.rates import Assignment, RateCard, RateCardLine
from mediator.codecs.canonical.time_and_expenses import Expense, TimeEntry
from mediator.codecs.canonical.versions import CANONICAL

__all__ = [
    "CANONICAL",
    "EXPONENTS",
    "MAX_MINOR_UNITS",
    "Address",
    "Assignment",
    "ChangeOrder",
    "Client",
    "Command",
    "Consultant",
    "Contract",
    "Deal",
    "Engagement",
    "Entity",
    "Envelope",
    "Expense",
    "Invoice",
    "InvoiceLine",
    "Milestone",
    "Money",
    "PayloadRegistry",
    "PayloadSchema",
    "Payment",
    "PostTimesheetLine",
    "Project",
    "RateCard",
    "RateCardLine",
    "RateChange",
    "Recorded",
    "StaffingLine",
    "TaxProfile",
    "TimeEntry",
    "Upcaster",
    "effect_reference",
    "exponent",
    "new_id",
    "require_currency",
    "sum_money",
]
