"""Request bodies: JSON objects, decoded with Salesforce's JSON_PARSER_ERROR for anything else.

msgspec's typed decoder (through `WireDecoder`) refuses malformed JSON, invalid UTF-8, a
top-level array and nesting too deep for the parser with the same `DecodeError`, which
becomes the 400 Salesforce answers — never a RecursionError and a 500.
"""

from __future__ import annotations

from mediator.codecs import WireDecoder
from mediator.errors import DecodeError
from mediator.sandbox.salesforce.errors import ApiError

__all__ = ["read_object"]

_OBJECT = WireDecoder("salesforce", dict[str, object])


def read_object(raw: bytes) -> dict[str, object]:
    """Decode a JSON object body (empty: `{}`); 400 JSON_PARSER_ERROR for anything else."""
    try:
        return _OBJECT.decode(raw or b"{}")
    except DecodeError as exc:
        raise ApiError(
            400, "JSON_PARSER_ERROR", f"JSON parser error: {exc.reason} at {exc.path}"
        ) from exc
