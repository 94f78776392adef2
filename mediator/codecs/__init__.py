"""Canonical business entities, each external system's wire mapping, and payload versions.

Entities are frozen msgspec Structs carrying their source system and id; money is `Money`
(integer minor units + ISO 4217 code, bounded to 64 bits). Every decoder is built once and
raises only `mediator.errors.DecodeError(system, path, reason)`; vendor decimals and timestamps
follow one rule (`scalars`), and a vendor's list decodes record by record (`records`).

Per system, import from its modules: `harvest` (+ `harvest_wire`), `salesforce`
(+ `salesforce_wire`), `stripe_billing` (+ `stripe_wire`, `stripe_form`), `tryton_erp`
(+ `tryton_wire`, `tryton_rpc`, `tryton_values`).
"""

from mediator.codecs.billing import Invoice, InvoiceLine, Payment
from mediator.codecs.currencies import EXPONENTS, exponent
from mediator.codecs.engagements import (
    ChangeOrder,
    Engagement,
    Milestone,
    Project,
    RateChange,
)
from mediator.codecs.entity import Entity
from mediator.codecs.envelope import Envelope, new_id
from mediator.codecs.kinds import CANONICAL
from mediator.codecs.money import MAX_MINOR_UNITS, Money, require_currency, sum_money
from mediator.codecs.page import Page
from mediator.codecs.parties import Address, Client, Consultant, TaxProfile
from mediator.codecs.payloads import PayloadRegistry, PayloadSchema, Upcaster
from mediator.codecs.rates import Assignment, RateCard, RateCardLine
from mediator.codecs.records import Decoded, Undecodable, decode_each
from mediator.codecs.scalars import decimal_at, parse_decimal
from mediator.codecs.stripe_form import FormNode, decode_form, encode_form
from mediator.codecs.tryton_rpc import (
    RpcValue,
    TrytonFault,
    TrytonRequest,
    TrytonResponse,
)
from mediator.codecs.tryton_rpc import decode_request as decode_tryton_request
from mediator.codecs.tryton_rpc import decode_response as decode_tryton_response
from mediator.codecs.tryton_rpc import dumps as tryton_dumps
from mediator.codecs.tryton_rpc import encode_request as encode_tryton_request
from mediator.codecs.tryton_rpc import encode_response as encode_tryton_response
from mediator.codecs.tryton_rpc import loads as tryton_loads
from mediator.codecs.validation import WireDecoder, convert, decode_error
from mediator.codecs.work import Expense, TimeEntry

__all__ = [
    "CANONICAL",
    "EXPONENTS",
    "MAX_MINOR_UNITS",
    "Address",
    "Assignment",
    "ChangeOrder",
    "Client",
    "Consultant",
    "Decoded",
    "Engagement",
    "Entity",
    "Envelope",
    "Expense",
    "FormNode",
    "Invoice",
    "InvoiceLine",
    "Milestone",
    "Money",
    "Page",
    "PayloadRegistry",
    "PayloadSchema",
    "Payment",
    "Project",
    "RateCard",
    "RateCardLine",
    "RateChange",
    "RpcValue",
    "TaxProfile",
    "TimeEntry",
    "TrytonFault",
    "TrytonRequest",
    "TrytonResponse",
    "Undecodable",
    "Upcaster",
    "WireDecoder",
    "convert",
    "decimal_at",
    "decode_each",
    "decode_error",
    "decode_form",
    "decode_tryton_request",
    "decode_tryton_response",
    "encode_form",
    "encode_tryton_request",
    "encode_tryton_response",
    "exponent",
    "new_id",
    "parse_decimal",
    "require_currency",
    "sum_money",
    "tryton_dumps",
    "tryton_loads",
]
