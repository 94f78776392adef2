"""Appending: durable receipts, idempotency under concurrency, batches with watermarks."""

from __future__ import annotations

import asyncio
import random

import msgspec
import pytest

from mediator.journal import EntryState, Journal, Watermark
from tests.journal.conftest import Opener
from tests.journal.support import envelope


async def test_append_then_duplicate_returns_first_entry(journal: Journal) -> None:
    first = await journal.append(envelope("harvest:time_entry:1", n=1))
    again = await journal.append(envelope("harvest:time_entry:1", n=2))
    assert not first.duplicate
    assert again.duplicate
    assert again.envelope == first.envelope  # the stored one, payload and all
    stored = await journal.get(first.envelope.id)
    assert stored is not None
    assert stored.envelope == first.envelope
    assert stored.state is EntryState.ACCEPTED


async def test_entries_survive_reopen(opener: Opener) -> None:
    async with opener() as journal:
        sent = [await journal.append(envelope(f"evt_{i}", n=i)) for i in range(3)]
    async with opener() as journal:
        recovered = await journal.recover()
    assert [e.envelope for e in recovered] == [a.envelope for a in sent]


async def test_thousand_concurrent_appenders_one_entry_per_key(journal: Journal) -> None:
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rng = random.Random(seed)
    keys = [f"evt_{rng.randrange(300)}" for _ in range(1000)]

    results = await asyncio.gather(*(journal.append(envelope(k)) for k in keys))

    by_key: dict[str, set[str]] = {}
    for key, result in zip(keys, results, strict=True):
        assert result.envelope.idempotency_key == key
        by_key.setdefault(key, set()).add(result.envelope.id)
    assert all(len(ids) == 1 for ids in by_key.values())  # everyone saw the same entry
    fresh = [r for r in results if not r.duplicate]
    assert len(fresh) == len(set(keys))
    assert len(await journal.recover()) == len(set(keys))
    stats = journal.statistics()
    assert stats.duplicates == 1000 - len(set(keys))
    assert stats.transactions < 100  # they were gathered, not committed one by one


async def test_batch_with_watermark_is_one_transaction(journal: Journal) -> None:
    await journal.append(envelope("harvest:time_entry:1"))
    batch = [envelope(f"harvest:time_entry:{i}") for i in (1, 2, 3, 2)]
    mark = Watermark(name="harvest:time_entries", value="2026-11-02T10:00:00Z")

    results = await journal.append_many(batch, watermark=mark)

    assert [r.duplicate for r in results] == [True, False, False, True]
    assert results[3].envelope == results[1].envelope
    assert await journal.get_watermark(mark.name) == mark
    assert journal.statistics().transactions == 2


async def test_malformed_envelope_fails_alone(opener: Opener) -> None:
    async with opener() as journal:
        await journal.set_watermark(Watermark(name="w", value="1"))
        bad = msgspec.structs.replace(envelope("evt_bad"), id="not-a-uuid")
        other = asyncio.ensure_future(journal.append(envelope("evt_other")))
        with pytest.raises(ValueError, match="32 hex digits"):
            await journal.append_many(
                [envelope("evt_ok"), bad], watermark=Watermark(name="w", value="2")
            )
        assert not (await other).duplicate
    async with opener() as journal:
        assert await journal.get_watermark("w") == Watermark(name="w", value="1")
        assert [e.envelope.idempotency_key for e in await journal.recover()] == ["evt_other"]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("idempotency_key", "evt_\ud800", "is not valid text"),  # a lone surrogate
        ("kind", "psa.\udcff", "is not valid text"),
        ("traceparent", "00-\ud83d", "is not valid text"),
        ("key", 42, "must be text, not int"),
    ],
)
async def test_an_envelope_whose_text_sqlite_cannot_take_fails_alone(
    journal: Journal, field: str, value: object, reason: str
) -> None:
    bad = msgspec.structs.replace(envelope("evt_bad"), **{field: value})
    other = asyncio.ensure_future(journal.append(envelope("evt_other")))
    with pytest.raises(ValueError, match=f"envelope {field} {reason}"):
        await journal.append(bad)
    assert not (await other).duplicate
    # the writer goes on: the envelope failed its own caller only
    assert not (await journal.append(envelope("Zürich: non-ASCII text is fine"))).duplicate


async def test_cancelling_one_appender_does_not_cancel_its_batch(journal: Journal) -> None:
    first = asyncio.ensure_future(journal.append(envelope("evt_1")))
    second = asyncio.ensure_future(journal.append(envelope("evt_2")))
    await asyncio.sleep(0)  # both joined the batch
    first.cancel()
    assert not (await second).duplicate
    with pytest.raises(asyncio.CancelledError):
        await first
    # the cancelled caller's entry was committed with the batch: its key is known
    assert (await journal.append(envelope("evt_1"))).duplicate
