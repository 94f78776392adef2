"""Canonical business entities and each external system's wire mapping."""

from mediator.codecs.envelope import Envelope, new_id
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

__all__ = [
    "Envelope",
    "FormNode",
    "RpcValue",
    "TrytonFault",
    "TrytonRequest",
    "TrytonResponse",
    "decode_form",
    "decode_tryton_request",
    "decode_tryton_response",
    "encode_form",
    "encode_tryton_request",
    "encode_tryton_response",
    "new_id",
    "tryton_dumps",
    "tryton_loads",
]
