"""Tryton's JSON-RPC envelope: request, response and the error ("fault") shapes.

A request is exactly ``{"id": n, "method": "model.party.party.create", "params": [...]}``;
trytond answers with the envelope ``{"id": n, "result": ...}`` or ``{"id": n, "error": [...]}``
only when the request has exactly those three keys; with any other key set it answers the bare
result and signals errors by HTTP status (``trytond/protocols/jsonrpc.py``, JSONProtocol).

``error`` is the exception's ``args``. Observed against trytond 8.2 (shared/reference/tryton):

    UserError             ["UserError", [message, description, domain]]
    UserWarning           ["UserWarning", [name, message, description]]
    LoginException        ["LoginException", [name, message, type]]
    ConcurrencyException  ["ConcurrencyException", message]
    anything unexpected   [str(exception), traceback or ""]
"""

from __future__ import annotations

import msgspec

from mediator.codecs.tryton.values import RpcValue, dumps, loads, parse, tag, untag
from mediator.errors import DecodeError

__all__ = [
    "RpcValue",
    "TrytonFault",
    "TrytonRequest",
    "TrytonResponse",
    "decode_request",
    "decode_response",
    "dumps",
    "encode_request",
    "encode_response",
    "loads",
]

_SYSTEM = "tryton"
_ENVELOPE_KEYS = frozenset({"id", "method", "params"})
_NAMED = frozenset(
    {"UserError", "UserWarning", "LoginException", "ConcurrencyException", "RateLimitException"}
)
_ENCODER = msgspec.json.Encoder()


class TrytonRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One call: `method` with positional `params` (for model methods the context is last).

    `envelope` is False when the body had other keys than exactly id/method/params, in which
    case trytond answers the bare result and errors as HTTP statuses.
    """

    id: int | str | None
    method: str
    params: list[RpcValue]
    envelope: bool = True


class TrytonFault(msgspec.Struct, frozen=True, kw_only=True):
    """An error answer: the exception `name` (``ServerError`` for an unexpected one), its text.

    `detail` is the second element of the wire ``error`` as sent (args or traceback), kept so
    that a fault re-encodes exactly.
    """

    name: str
    message: str
    description: str = ""
    detail: RpcValue = None

    @classmethod
    def user_error(
        cls, message: str, description: str = "", domain: RpcValue = None
    ) -> TrytonFault:
        """Build a ``UserError`` (validation or business rule) as trytond sends it."""
        return cls(
            name="UserError",
            message=message,
            description=description,
            detail=[message, description, domain],
        )

    @classmethod
    def user_warning(cls, name: str, message: str, description: str = "") -> TrytonFault:
        """Build a ``UserWarning`` (needs the user's confirmation under `name`)."""
        return cls(
            name="UserWarning",
            message=message,
            description=description,
            detail=[name, message, description],
        )

    @classmethod
    def login_exception(cls, field: str, message: str, kind: str = "password") -> TrytonFault:
        """Build a ``LoginException`` asking for `field` (e.g. the password) of type `kind`."""
        return cls(name="LoginException", message=message, detail=[field, message, kind])

    @classmethod
    def concurrency(cls, message: str) -> TrytonFault:
        """Build a ``ConcurrencyException`` (a ``_timestamp`` no longer matches)."""
        return cls(name="ConcurrencyException", message=message, detail=message)

    @classmethod
    def server_error(cls, message: str, traceback: str = "") -> TrytonFault:
        """Build the answer to an unexpected exception: its text, and a traceback in dev mode."""
        return cls(name="ServerError", message=message, detail=traceback)

    def to_wire(self) -> list[RpcValue]:
        """Return the ``error`` member exactly as trytond writes it."""
        head = self.message if self.name == "ServerError" else self.name
        return [head, self.detail]

    @classmethod
    def from_wire(cls, error: RpcValue, path: str = "$.error") -> TrytonFault:
        """Read an ``error`` member; `DecodeError` at `path` when it is not a 2-element list."""
        if not isinstance(error, list) or len(error) != 2 or not isinstance(error[0], str):
            raise DecodeError(_SYSTEM, path, "expected [name, args]")
        head, detail = error[0], error[1]
        if head not in _NAMED:
            return cls(name="ServerError", message=head, detail=detail)
        items = detail if isinstance(detail, list) else []
        texts = [item if isinstance(item, str) else "" for item in items] + ["", "", ""]
        if isinstance(detail, str):
            message, description = detail, ""
        elif head == "UserWarning":  # [name, message, description]
            message, description = texts[1], texts[2]
        elif head == "LoginException":  # [name, message, type]
            message, description = texts[1], ""
        else:  # UserError: [message, description, domain]
            message, description = texts[0], texts[1]
        return cls(name=head, message=message, description=description, detail=detail)


class TrytonResponse(msgspec.Struct, frozen=True, kw_only=True):
    """An envelope answer: `result`, or `error` when the call failed."""

    id: int | str | None
    result: RpcValue = None
    error: TrytonFault | None = None


def encode_request(request: TrytonRequest) -> bytes:
    """Encode a request body with exactly the keys id, method and params (tagged values)."""
    return _ENCODER.encode(
        {"id": request.id, "method": request.method, "params": tag(request.params)}
    )


def decode_request(body: bytes | str) -> TrytonRequest:
    """Decode a request body (the sandbox's side); `DecodeError` with a path when malformed."""
    parsed = parse(body)
    if not isinstance(parsed, dict):
        raise DecodeError(_SYSTEM, "$", "expected an object")
    method = parsed.get("method")
    if not isinstance(method, str):
        raise DecodeError(_SYSTEM, "$.method", "expected a method name")
    params = untag(parsed.get("params", []), "$.params")
    if not isinstance(params, list):
        raise DecodeError(_SYSTEM, "$.params", "expected a list")
    ident = parsed.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str | None):
        raise DecodeError(_SYSTEM, "$.id", "expected an integer or a string")
    envelope = parsed.keys() == _ENVELOPE_KEYS
    return TrytonRequest(id=ident, method=method, params=params, envelope=envelope)


def encode_response(response: TrytonResponse) -> bytes:
    """Encode an envelope answer: ``{id, error}`` when there is an error, else ``{id, result}``."""
    if response.error is not None:
        return _ENCODER.encode({"id": response.id, "error": tag(response.error.to_wire())})
    return _ENCODER.encode({"id": response.id, "result": tag(response.result)})


def decode_response(body: bytes | str) -> TrytonResponse:
    """Decode an envelope answer; `DecodeError` with a path when it is not one."""
    parsed = parse(body)
    if not isinstance(parsed, dict) or not ("result" in parsed or "error" in parsed):
        raise DecodeError(_SYSTEM, "$", "expected {id, result} or {id, error}")
    ident = parsed.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str | None):
        raise DecodeError(_SYSTEM, "$.id", "expected an integer or a string")
    error = parsed.get("error")
    if error is not None:
        fault = TrytonFault.from_wire(untag(error, "$.error"))
        return TrytonResponse(id=ident, error=fault)
    return TrytonResponse(id=ident, result=untag(parsed.get("result"), "$.result"))
