"""Helpers of the journal tests."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from mediator.codecs.envelope import Envelope, new_id


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
