"""Tryton JSON-RPC: the envelope (`rpc`) and its tagged values (`values`), wire types
(`wire`), the mapping to canonical entities (`mapping`) and what its exception names mean
(`errors`).

The same verbs as every vendor package: `decode` (bytes to this vendor's wire types, raising
only `DecodeError`), `<entity>_from_tryton` / `<entity>_to_tryton`, and `error_code`.
"""

from mediator.codecs.tryton.errors import error_code
from mediator.codecs.tryton.mapping import (
    ErpSetup,
    invoice_to_tryton,
    party_to_tryton,
    pay_wizard_start,
    project_to_tryton,
    read_invoices,
    read_parties,
    read_timesheet_lines,
    timesheet_key,
    timesheet_line_to_tryton,
)
from mediator.codecs.tryton.rpc import (
    RpcValue,
    TrytonFault,
    TrytonRequest,
    TrytonResponse,
    decode_request,
    decode_response,
    dumps,
    encode_request,
    encode_response,
    loads,
)
from mediator.codecs.tryton.rpc import decode_response as decode

__all__ = [
    "ErpSetup",
    "RpcValue",
    "TrytonFault",
    "TrytonRequest",
    "TrytonResponse",
    "decode",
    "decode_request",
    "decode_response",
    "dumps",
    "encode_request",
    "encode_response",
    "error_code",
    "invoice_to_tryton",
    "loads",
    "party_to_tryton",
    "pay_wizard_start",
    "project_to_tryton",
    "read_invoices",
    "read_parties",
    "read_timesheet_lines",
    "timesheet_key",
    "timesheet_line_to_tryton",
]
