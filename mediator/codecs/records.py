"""A vendor's list decoded record by record: one bad record is rejected, not the whole page.

A page of 2,000 time entries with one ``"hours": "NaN"`` is 1,999 good records and one that
needs a person. `decode_each` decodes each record of a list on its own and returns the good
ones and, for each bad one, an `Undecodable`: its raw JSON, the `DecodeError` naming the field
(``$.time_entries[3].hours``), and its identity as far as it can be read (id and last update),
so that a poller can dead-letter it under a key that is the same each time the record is read
again. Decoding the page's envelope first and its records one by one costs no more than one
typed decode of the page (the 2,000-entry page of bench/codecs.py: 18 ms against 22 ms).
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import msgspec

from mediator.codecs.scalars import check_timestamp
from mediator.codecs.validation import Timestamp, WireDecoder
from mediator.errors import DecodeError

__all__ = ["Decoded", "Undecodable", "decode_each"]

T = TypeVar("T")
_MAX_ID = 255  # characters of an id worth putting in a key: Stripe's limit, and Salesforce's


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A record that did not decode: its JSON, why, and what identifies it.

    `source_id` is its id when that could be read (an int or a short string), `updated_at`
    its last update when that was a valid timestamp; `fingerprint` is a digest of its JSON,
    which tells two records apart when neither could be read.
    """

    raw: bytes
    error: DecodeError
    source_id: str | None
    updated_at: datetime.datetime | None

    @property
    def fingerprint(self) -> str:
        """Return the SHA-256 of the record's JSON (32 hex digits): the same each read."""
        return hashlib.sha256(self.raw).hexdigest()[:32]

    def version(self) -> str:
        """Return what names this version of the record: its `updated_at` or its fingerprint."""
        if self.updated_at is not None:
            return self.updated_at.isoformat()
        return f"sha256:{self.fingerprint}"


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """The records of a list that decoded, in order, and those that did not."""

    records: list[T]
    rejected: list[Undecodable]


_STAMP = msgspec.json.Decoder(Timestamp)


def decode_each(
    decoder: WireDecoder[T],
    raws: Sequence[msgspec.Raw],
    path: str,
    *,
    id_field: str = "id",
    stamp_field: str = "updated_at",
) -> Decoded[T]:
    """Decode each raw record of the list at `path` (``$.time_entries``) with `decoder`.

    Never raises for a record: a `DecodeError` becomes an `Undecodable` whose error names the
    record's place and field (``$.time_entries[3].hours``), with the record's `id_field` and
    `stamp_field` (Salesforce: ``Id``, ``SystemModstamp``) read as far as they can be.
    """
    records: list[T] = []
    rejected: list[Undecodable] = []
    identity: msgspec.json.Decoder[msgspec.Struct] | None = None
    for index, raw in enumerate(raws):
        try:
            records.append(decoder.decode(raw))
        except DecodeError as exc:
            where = f"{path}[{index}]{exc.path[1:]}"
            error = DecodeError(exc.system, where, exc.reason)
            error.__cause__ = exc
            if identity is None:  # built for the first bad record only: most pages have none
                identity = msgspec.json.Decoder(_identity_of(id_field, stamp_field))
            rejected.append(_undecodable(bytes(raw), error, identity, id_field, stamp_field))
    return Decoded(records=records, rejected=rejected)


def _identity_of(id_field: str, stamp_field: str) -> type[msgspec.Struct]:
    # `object`: whatever the two fields hold, this decode of them does not fail on their type;
    # every other field is skipped unread
    fields = [(id_field, object, None), (stamp_field, object, None)]
    return msgspec.defstruct("Identity", fields, frozen=True)


def _undecodable(
    raw: bytes,
    error: DecodeError,
    identity: msgspec.json.Decoder[msgspec.Struct],
    id_field: str,
    stamp_field: str,
) -> Undecodable:
    try:
        found = identity.decode(raw)
    except (msgspec.DecodeError, RecursionError):  # not even an object: nothing to read
        return Undecodable(raw=raw, error=error, source_id=None, updated_at=None)
    return Undecodable(
        raw=raw,
        error=error,
        source_id=_id(getattr(found, id_field)),
        updated_at=_stamp(getattr(found, stamp_field)),
    )


def _id(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 0 < value <= 2**63 - 1:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID and value.isprintable():
        return value
    return None


def _stamp(value: object) -> datetime.datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        stamp = _STAMP.decode(msgspec.json.encode(value))
        check_timestamp(stamp)
    except (msgspec.DecodeError, ValueError):
        return None
    return stamp
