"""Helpers of the journal tests."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.journal import Journal


def envelope(
    idem: str, *, key: str = "project:P-1", kind: str = "psa.time_entry.approved", n: int = 0
) -> Envelope:
    """An envelope with a fresh id and a small JSON payload."""
    return Envelope(
        id=new_id(),
        key=key,
        kind=kind,
        source="harvest",
        idempotency_key=idem,
        occurred_at=datetime(2026, 11, 2, 9, 30, n % 60, tzinfo=UTC),
        payload=msgspec.Raw(msgspec.json.encode({"n": n, "hours": 1.5})),
    )


async def append_all(journal: Journal, keys: list[str]) -> dict[str, str]:
    """Append one envelope per key, ten per transaction; return key → stored id."""
    ids: dict[str, str] = {}
    for start in range(0, len(keys), 10):
        for result in await journal.append_many([envelope(k) for k in keys[start : start + 10]]):
            ids[result.envelope.idempotency_key] = result.envelope.id
    return ids


async def all_duplicates(journal: Journal, ids: dict[str, str]) -> bool:
    """Whether appending each key again returns its stored entry as a duplicate."""
    results = await journal.append_many([envelope(k) for k in ids])
    return all(r.duplicate and r.envelope.id == ids[r.envelope.idempotency_key] for r in results)
