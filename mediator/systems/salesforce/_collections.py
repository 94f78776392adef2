"""sObject Collections upsert and update bodies and their per-record results.

Collection results name their error code ``statusCode`` where single-record resources say
``errorCode`` (Salesforce REST guide, "sObject Collections"); the codec's `SfSaveResult`
reads either (`SfSaveError.code`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec

from mediator.codecs.salesforce.mapping import decode_salesforce
from mediator.codecs.salesforce.wire import SfSaveError, SfSaveResult
from mediator.errors import DecodeError, RemoteRejected
from mediator.systems.salesforce.commands import UpdateRecord, Upserted, UpsertRecord

__all__ = [
    "MAX_RECORDS",
    "chunk_updates",
    "chunk_upserts",
    "collection_body",
    "read_results",
    "update_body",
]

C = TypeVar("C")

MAX_RECORDS = 200  # per sObject Collections call
_NO_ERROR = SfSaveError(message="no error given", errorCode="")


_encode = msgspec.json.Encoder(decimal_format="number").encode


def chunk_upserts(
    items: Sequence[tuple[int, UpsertRecord]],
) -> list[list[tuple[int, UpsertRecord]]]:
    """Split one object's upserts into calls of at most 200 with no external id twice in one.

    Items are (position in the batch, command). A repeated key starts a new call, so the later
    write lands after the earlier one (Salesforce refuses a collection with a key twice).
    """
    # external ids match case-insensitively
    return _chunks(items, lambda command: command.idempotency_key.lower())


def chunk_updates(
    items: Sequence[tuple[int, UpdateRecord]],
) -> list[list[tuple[int, UpdateRecord]]]:
    """Split one object's updates into calls of at most 200 with no record id twice in one.

    A repeated id starts a new call, so the later update lands after the earlier one
    (Salesforce refuses a collection that names a record twice).
    """
    # 15- and 18-character ids of one record share their first 15 characters
    return _chunks(items, lambda command: command.id[:15])


def _chunks(
    items: Sequence[tuple[int, C]], key_of: Callable[[C], str]
) -> list[list[tuple[int, C]]]:
    chunks: list[list[tuple[int, C]]] = []
    current: list[tuple[int, C]] = []
    keys: set[str] = set()
    for item in items:
        key = key_of(item[1])
        if len(current) >= MAX_RECORDS or key in keys:
            chunks.append(current)
            current, keys = [], set()
        current.append(item)
        keys.add(key)
    if current:
        chunks.append(current)
    return chunks


def collection_body(sobject: str, field: str, commands: Sequence[UpsertRecord]) -> bytes:
    """The JSON body of ``PATCH /composite/sobjects/<sobject>/<field>`` (allOrNone false)."""
    records = [
        {**c.fields, "attributes": {"type": sobject}, field: c.idempotency_key} for c in commands
    ]
    return _encode({"allOrNone": False, "records": records})


def update_body(sobject: str, commands: Sequence[UpdateRecord]) -> bytes:
    """The JSON body of ``PATCH /composite/sobjects`` (allOrNone false): records by ``id``."""
    records = [{**c.fields, "attributes": {"type": sobject}, "id": c.id} for c in commands]
    return _encode({"allOrNone": False, "records": records})


def read_results(system: str, body: bytes, count: int) -> list[Upserted | RemoteRejected]:
    """Map the per-record results back, in request order: `Upserted` or the item's rejection.

    Raises `DecodeError` when the answer is not a list of `count` results.
    """
    results = decode_salesforce(body, list[SfSaveResult])
    if len(results) != count:
        raise DecodeError(system, "$", f"{len(results)} results for {count} records")
    out: list[Upserted | RemoteRejected] = []
    for i, result in enumerate(results):
        if result.success and result.id:
            out.append(Upserted(id=result.id, created=bool(result.created)))
            continue
        first = result.errors[0] if result.errors else _NO_ERROR
        code = first.code
        fields = f" [{', '.join(first.fields)}]" if first.fields else ""
        # the call succeeded (200); the record was refused as it is: a 400 for the classifier
        out.append(RemoteRejected(system, 400, code, f"record {i}: {first.message}{fields}"))
    return out
