"""Tryton's JSON: plain JSON plus tagged objects for the types JSON lacks.

As trytond's ``protocols/jsonrpc.py`` writes and reads them (checked against trytond 8.2):

    Decimal    {"__class__": "Decimal", "decimal": "100.00"}
    date       {"__class__": "date", "year": 2026, "month": 11, "day": 26}
    datetime   {"__class__": "datetime", "year", "month", "day", "hour", "minute", "second",
                "microsecond"}   (naive; Tryton stores UTC)
    time       {"__class__": "time", "hour", "minute", "second", "microsecond"}
    timedelta  {"__class__": "timedelta", "seconds": 10800.0}
    bytes      {"__class__": "bytes", "base64": "…"}   (base64.encodebytes: a newline per 76)

An object with another ``__class__`` (or none) stays a plain map, as in trytond. A Decimal must
be a finite, bounded number (`mediator.codecs.scalars.parse_decimal`).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import math
from decimal import Decimal
from typing import TypeAlias

import msgspec

from mediator.codecs.scalars import decimal_at, parse_decimal
from mediator.errors import DecodeError

__all__ = ["RpcValue", "dumps", "loads", "parse", "tag", "untag"]

RpcValue: TypeAlias = (
    "bool | int | float | str | Decimal | datetime.datetime | datetime.date | datetime.time"
    " | datetime.timedelta | bytes | list[RpcValue] | dict[str, RpcValue] | None"
)
"""A value as Tryton's JSON-RPC carries it, with its tagged types decoded."""

_SYSTEM = "tryton"
_MAX_DEPTH = 64  # Tryton values are domains and records: a few levels; deeper is hostile
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()


def tag(value: object) -> object:
    """Return `value` with every Decimal, date, time, timedelta and bytes as a tagged map.

    Tuples become lists (Tryton domains are often written as tuples). Aware datetimes are
    converted to UTC and made naive, as Tryton stores them. Raises `TypeError` for a value
    Tryton cannot carry, `ValueError` for a float that is not finite or a Decimal that is not
    a vendor decimal (`mediator.codecs.scalars.parse_decimal`: NaN, too large, too long).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"Tryton JSON cannot carry {value!r}")
        return value
    if isinstance(value, dict):
        return {_key(key): tag(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [tag(item) for item in value]
    if isinstance(value, Decimal):
        parse_decimal(value)  # what `loads` would refuse is never written: ValueError
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return {
            "__class__": "datetime",
            "year": value.year,
            "month": value.month,
            "day": value.day,
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, datetime.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, datetime.time):
        return {
            "__class__": "time",
            "hour": value.hour,
            "minute": value.minute,
            "second": value.second,
            "microsecond": value.microsecond,
        }
    if isinstance(value, datetime.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.encodebytes(bytes(value)).decode("ascii")}
    raise TypeError(f"Tryton JSON cannot carry {type(value).__name__}: {value!r:.80}")


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"Tryton JSON keys are strings, not {type(key).__name__}")
    return key


def dumps(value: object) -> bytes:
    """Encode `value` as Tryton JSON (compact, as trytond answers). Raises like `tag`."""
    return _ENCODER.encode(tag(value))


def loads(data: bytes | str) -> RpcValue:
    """Decode Tryton JSON, turning tagged maps back into Python values.

    Raises `DecodeError` (system ``tryton``) with the JSON path for malformed JSON, invalid
    UTF-8, nesting deeper than 64, or a tagged value that is not valid (``$[2].year``).
    """
    return untag(parse(data), "$")


def parse(data: bytes | str) -> object:
    """Parse JSON without untagging; `DecodeError` at ``$`` for anything that is not JSON."""
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise DecodeError(_SYSTEM, "$", str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise DecodeError(_SYSTEM, "$", f"invalid UTF-8 at byte {exc.start}") from exc
    except RecursionError as exc:
        raise DecodeError(_SYSTEM, "$", "nested too deeply") from exc


def untag(value: object, path: str, depth: int = 0) -> RpcValue:
    """Turn the tagged maps inside parsed JSON `value` (found at `path`) into Python values."""
    if depth > _MAX_DEPTH:
        raise DecodeError(_SYSTEM, path, f"nested deeper than {_MAX_DEPTH}")
    if isinstance(value, list):
        return [untag(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value)]
    if isinstance(value, dict):
        kind = value.get("__class__")
        if isinstance(kind, str) and kind in _DECODERS:
            return _DECODERS[kind](value, path)
        return {key: untag(item, f"{path}.{key}", depth + 1) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise DecodeError(_SYSTEM, path, f"unexpected {type(value).__name__}")  # pragma: no cover


def _int(tagged: dict[str, object], field: str, path: str) -> int:
    value = tagged.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(_SYSTEM, f"{path}.{field}", f"expected an integer, got {value!r:.40}")
    return value


def _invalid(path: str, kind: str, exc: Exception) -> DecodeError:
    return DecodeError(_SYSTEM, path, f"not a valid {kind}: {exc}")


def _date(tagged: dict[str, object], path: str) -> RpcValue:
    year, month, day = (_int(tagged, f, path) for f in ("year", "month", "day"))
    try:
        return datetime.date(year, month, day)
    except (ValueError, OverflowError) as exc:
        raise _invalid(path, "date", exc) from exc


def _datetime(tagged: dict[str, object], path: str) -> RpcValue:
    fields = ("year", "month", "day", "hour", "minute", "second", "microsecond")
    year, month, day, hour, minute, second, micro = (_int(tagged, f, path) for f in fields)
    try:
        return datetime.datetime(year, month, day, hour, minute, second, micro)
    except (ValueError, OverflowError) as exc:
        raise _invalid(path, "datetime", exc) from exc


def _time(tagged: dict[str, object], path: str) -> RpcValue:
    fields = ("hour", "minute", "second", "microsecond")
    hour, minute, second, micro = (_int(tagged, f, path) for f in fields)
    try:
        return datetime.time(hour, minute, second, micro)
    except (ValueError, OverflowError) as exc:
        raise _invalid(path, "time", exc) from exc


def _timedelta(tagged: dict[str, object], path: str) -> RpcValue:
    seconds = tagged.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise DecodeError(_SYSTEM, f"{path}.seconds", f"expected a number, got {seconds!r:.40}")
    try:
        if not math.isfinite(seconds):
            raise OverflowError("not finite")
        return datetime.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise _invalid(f"{path}.seconds", "timedelta", exc) from exc


def _decimal(tagged: dict[str, object], path: str) -> RpcValue:
    text = tagged.get("decimal")
    if not isinstance(text, str):
        raise DecodeError(
            _SYSTEM, f"{path}.decimal", f"expected a decimal string, got {text!r:.40}"
        )
    # trytond itself would read "NaN" or "1e999999"; no amount is either, so they stop here
    return decimal_at(_SYSTEM, f"{path}.decimal", text)


def _bytes(tagged: dict[str, object], path: str) -> RpcValue:
    text = tagged.get("base64")
    if not isinstance(text, str):
        raise DecodeError(_SYSTEM, f"{path}.base64", "expected a base64 string")
    try:
        # strict but for the newlines encodebytes puts every 76 characters
        return base64.b64decode(text.replace("\n", ""), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise DecodeError(_SYSTEM, f"{path}.base64", f"not base64: {exc}") from exc


_DECODERS = {
    "Decimal": _decimal,
    "date": _date,
    "datetime": _datetime,
    "time": _time,
    "timedelta": _timedelta,
    "bytes": _bytes,
}
