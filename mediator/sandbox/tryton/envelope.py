"""A JSON-RPC body as trytond reads it, before any of its values is trusted.

trytond takes ``id`` as any JSON value and echoes it; it spreads ``params`` into the call
(``*params``), so a string or a map becomes its characters or keys and a number fails; and it
looks ``method`` up in a dict and then splits it, so a list fails as unhashable and a number
as having no ``split``. `read_call` keeps those raw values, and `method_error` and
`spread` say what trytond answers for them; `encode_answer` echoes the id whatever it is.
Checked against trytond 8.2 (tests/tryton_real/hostile.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from mediator.codecs.tryton import RpcValue, TrytonFault
from mediator.codecs.tryton.values import parse, tag, untag
from mediator.errors import DecodeError
from mediator.sandbox.tryton.arguments import server_error
from mediator.sandbox.tryton.errors import HttpRefusal

__all__ = ["Call", "encode_answer", "method_error", "read_call", "spread"]

_ENVELOPE = frozenset({"id", "method", "params"})
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True)
class Call:
    """One request as sent: `id` and `method` raw, `params` untagged but not yet spread."""

    id: object
    method: object
    params: RpcValue
    envelope: bool


def read_call(body: bytes) -> Call:
    """Read a body; refuse with trytond's 400 pages when it has no method or no params."""
    try:
        parsed = parse(body)
    except DecodeError as exc:
        raise HttpRefusal(400, "Unable to get RPC method") from exc
    if not isinstance(parsed, dict) or "method" not in parsed:
        raise HttpRefusal(400, "Unable to get RPC method")
    if "params" not in parsed:
        raise HttpRefusal(400, "Unable to get RPC params")
    try:
        params = untag(parsed["params"], "$.params")
    except DecodeError as exc:  # a bad tagged value or nesting trytond's parser also refuses
        raise HttpRefusal(400, "Unable to get RPC method") from exc
    return Call(
        id=parsed.get("id"),
        method=parsed["method"],
        params=params,
        envelope=parsed.keys() == _ENVELOPE,
    )


def spread(params: RpcValue) -> list[RpcValue]:
    """The positional arguments `*params` gives in Python (None counts as none)."""
    if params is None:
        return []
    if isinstance(params, list):
        return params
    if isinstance(params, str):
        return list(params)
    if isinstance(params, dict):
        return list(params)
    raise server_error(f"Value after * must be an iterable, not {_type_name(params)}")


def method_error(method: object, *, authenticated: bool) -> None:
    """Refuse a method that is not a string as trytond fails on it, before or after auth."""
    if isinstance(method, str):
        return
    if isinstance(method, list | dict):  # the dispatch table's lookup fails before the auth
        raise server_error(f"unhashable type: '{_type_name(method)}'")
    if not authenticated:
        return
    if method is None:  # werkzeug reads a null method as an empty name
        raise server_error("not enough values to unpack (expected 2, got 1)")
    raise server_error(f"'{_type_name(method)}' object has no attribute 'split'")


def encode_answer(call: Call, *, result: object = None, fault: TrytonFault | None = None) -> bytes:
    """Encode the envelope `{id, result}` or `{id, error}`, echoing the id as sent."""
    if fault is not None:
        return _ENCODER.encode({"id": call.id, "error": tag(fault.to_wire())})
    return _ENCODER.encode({"id": call.id, "result": tag(result)})


def _type_name(value: object) -> str:
    return "NoneType" if value is None else type(value).__name__
