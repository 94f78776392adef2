"""Codecs: the canonical model, and each vendor's wire format mapped to it.

`mediator.codecs.canonical` holds the business entities, `Money`, the `Envelope` and its
payload versions, and the canonical commands; the most used are re-exported here. Each vendor
has one package with the same verbs: `mediator.codecs.harvest`, `.salesforce`, `.stripe`,
`.tryton`, each with `decode` (bytes to its wire types), the `<entity>_from_<vendor>` and
`<entity>_to_<vendor>` mappings, and `error_code` with the tables of what its error codes mean
(`errors`). Every decoder raises only `mediator.errors.DecodeError(system, path, reason)`;
vendor decimals and timestamps follow one rule (`scalars`), and a vendor's list decodes record
by record (`records`).
"""

from mediator.codecs.canonical import (
    CANONICAL,
    EXPONENTS,
    MAX_MINOR_UNITS,
    Address,
    Assignment,
    ChangeOrder,
    Client,
    Command,
    Consultant,
    Engagement,
    Entity,
    Envelope,
    Expense,
    Invoice,
    InvoiceLine,
    Milestone,
    Money,
    PayloadRegistry,
    PayloadSchema,
    Payment,
    PostTimesheetLine,
    Project,
    RateCard,
    RateCardLine,
    RateChange,
    Recorded,
    TaxProfile,
    TimeEntry,
    Upcaster,
    effect_reference,
    exponent,
    new_id,
    require_currency,
    sum_money,
)
from mediator.codecs.page import Page
from mediator.codecs.records import Decoded, Undecodable, decode_each
from mediator.codecs.scalars import decimal_at, parse_decimal
from mediator.codecs.validation import WireDecoder, convert, decode_error

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
    "Decoded",
    "Engagement",
    "Entity",
    "Envelope",
    "Expense",
    "Invoice",
    "InvoiceLine",
    "Milestone",
    "Money",
    "Page",
    "PayloadRegistry",
    "PayloadSchema",
    "Payment",
    "PostTimesheetLine",
    "Project",
    "RateCard",
    "RateCardLine",
    "RateChange",
    "Recorded",
    "TaxProfile",
    "TimeEntry",
    "Undecodable",
    "Upcaster",
    "WireDecoder",
    "convert",
    "decimal_at",
    "decode_each",
    "decode_error",
    "effect_reference",
    "exponent",
    "new_id",
    "parse_decimal",
    "require_currency",
    "sum_money",
]
