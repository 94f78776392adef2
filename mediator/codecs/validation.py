"""Decoding with errors that name the system and the field path, and the size limits of fields.

msgspec reports a validation failure as ``Expected `int`, got `str` - at `$.items[3].hours```;
this module turns every failure (malformed JSON, invalid UTF-8, nesting too deep, wrong
types, values out of range, unknown currencies raised by ``__post_init__``) into
``DecodeError(system, "$.items[3].hours", "Expected `int`, got `str`")`` and nothing else, so
the flows can dead-letter the message with that reason. Wire Structs derive from `WireStruct`,
which checks every decimal and timestamp field by `mediator.codecs.scalars`' rule (finite,
bounded, in range) as msgspec decodes it, and names the field in the path.
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from typing import Annotated, ClassVar, Generic, TypeVar, get_args

import msgspec

from mediator.codecs.scalars import check_decimal, check_timestamp
from mediator.errors import DecodeError

__all__ = [
    "Identifier",
    "Name",
    "Text",
    "Timestamp",
    "WireDecoder",
    "WireStruct",
    "convert",
    "decode_error",
]

T = TypeVar("T")

Identifier = Annotated[str, msgspec.Meta(max_length=255)]
"""An id, code or external key: Stripe caps ids and idempotency keys at 255 characters."""

Name = Annotated[str, msgspec.Meta(max_length=1_000)]
"""A name, label or picklist value."""

Text = Annotated[str, msgspec.Meta(max_length=100_000)]
"""Free text (notes, descriptions): generous, but a 10 MB note is an attack, not a note."""

Timestamp = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
"""A vendor's point in time: RFC 3339 with an offset (a naive one cannot be compared)."""

_AT = re.compile(r"^(?P<reason>.*?) - at `(?P<path>\$[^`]*)`$", re.DOTALL)


def decode_error(system: str, exc: Exception, data: bytes | str | None = None) -> DecodeError:
    """Translate a msgspec (or Unicode, or recursion) failure into a `DecodeError` with a path.

    Given the input `data`, an invalid UTF-8 error names the offset in the whole body (msgspec
    reports it relative to the string it was reading).
    """
    if isinstance(exc, UnicodeDecodeError):
        start = exc.start
        if isinstance(data, bytes | bytearray | memoryview):
            try:
                bytes(data).decode("utf-8")
            except UnicodeDecodeError as whole:
                start = whole.start
        return DecodeError(system, "$", f"invalid UTF-8 at byte {start}")
    if isinstance(exc, RecursionError):
        return DecodeError(system, "$", "nested too deeply")
    message = str(exc)
    match = _AT.match(message)
    # msgspec names no path for the top-level value
    path, reason = ("$", message) if match is None else (match["path"], match["reason"])
    field = _FIELD.match(reason)
    if field is not None:  # raised by a __post_init__ about one of its fields
        path, reason = f"{path}.{field['field']}", field["reason"]
    return DecodeError(system, path[:500], reason[:500])


_FIELD = re.compile(r"^`(?P<field>[A-Za-z_][A-Za-z0-9_.]{0,200})`: (?P<reason>.*)$", re.DOTALL)


class WireStruct(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of the wire Structs: each `Decimal` and `datetime` field is checked on decode.

    A decimal must be a vendor decimal and a timestamp must exist in UTC
    (`mediator.codecs.scalars`); a field that is not raises ``ValueError("`hours`: …")``,
    which msgspec reports at the Struct's path and `decode_error` at the field's.
    """

    # (attribute, wire name) of the fields that can hold a Decimal or a datetime, per class:
    # found once from the annotations, so a record's check costs a few getattr
    # (bench/codecs.py: checking every field by its value cost 4.5 µs per time entry)
    _wire_checked: ClassVar[tuple[tuple[str, str], ...] | None] = None

    def __post_init__(self) -> None:
        cls = type(self)
        checked = cls.__dict__.get("_wire_checked")
        if checked is None:
            checked = tuple(
                (f.name, f.encode_name) for f in msgspec.structs.fields(cls) if _checked(f.type)
            )
            cls._wire_checked = checked
        for name, wire_name in checked:
            value = getattr(self, name)
            try:
                if isinstance(value, Decimal):
                    check_decimal(value)
                elif isinstance(value, datetime.datetime):
                    check_timestamp(value)
            except ValueError as exc:
                raise ValueError(f"`{wire_name}`: {exc}") from exc


def _checked(kind: object) -> bool:
    if kind is Decimal or kind is datetime.datetime:
        return True
    return any(_checked(arg) for arg in get_args(kind))  # unions, Annotated, lists of them


class WireDecoder(Generic[T]):
    """A JSON decoder for `type`, built once and reused, that raises only `DecodeError`.

    Decoding is msgspec's typed decode: no intermediate dicts, so it is faster than plain
    ``msgspec.json.decode`` into dicts (bench/codecs.py).
    """

    __slots__ = ("_decoder", "system", "type")

    def __init__(self, system: str, type: type[T]) -> None:
        self.system = system
        self.type = type
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type)

    def decode(self, data: bytes | str) -> T:
        """Decode `data`; `DecodeError(system, path, reason)` on any failure."""
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise decode_error(self.system, exc, data) from exc


def convert(system: str, value: object, type: type[T]) -> T:
    """Validate already-parsed `value` (a Tryton result, a Stripe form) into `type`.

    Raises `DecodeError(system, path, reason)` on any mismatch.
    """
    try:
        return msgspec.convert(value, type)
    except (msgspec.ValidationError, RecursionError) as exc:
        raise decode_error(system, exc) from exc
