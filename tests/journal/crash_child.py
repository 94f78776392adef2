"""Child process of the crash test: appends batches until killed, acknowledging each on stdout.

Each line is written only after `append_many` returned, i.e. after the batch was durable:
``<producer> <batch> <id> <id> ...``. The parent SIGKILLs this process at a random moment.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import msgspec

from mediator.clock import SystemClock
from mediator.codecs.canonical.envelope import Envelope, new_id
from mediator.journal import Watermark, open_journal

BATCH = 5
PRODUCERS = 8
MEMORY_KEYS = 64  # small, so that kills land during merges of keys into the file too


def envelope_for(idem: str) -> Envelope:
    return Envelope(
        id=new_id(),
        key=f"project:{idem[:6]}",
        kind="psa.time_entry.approved",
        source="harvest",
        idempotency_key=idem,
        occurred_at=datetime.now(UTC),
        payload=msgspec.Raw(b'{"hours":1.5,"note":"' + b"x" * 150 + b'"}'),
    )


async def _produce(journal: object, round_: int, producer: int) -> None:
    from mediator.journal import SqliteJournal

    assert isinstance(journal, SqliteJournal)
    n = 0
    while True:
        keys = [f"r{round_}-p{producer}-b{n}-{i}" for i in range(BATCH)]
        if n > 0:  # every batch repeats a key of the previous one: must come back a duplicate
            keys[0] = f"r{round_}-p{producer}-b{n - 1}-1"
        mark = Watermark(name=f"r{round_}-p{producer}", value=str(n))
        done = await journal.append_many([envelope_for(k) for k in keys], watermark=mark)
        ids = " ".join(f"{a.envelope.idempotency_key}={a.envelope.id}" for a in done)
        sys.stdout.write(f"{producer} {n} {ids}\n")
        sys.stdout.flush()
        n += 1


async def _main(path: str, round_: int) -> None:
    async with open_journal(path, clock=SystemClock(), memory_keys=MEMORY_KEYS) as journal:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        async with asyncio.TaskGroup() as tg:
            for p in range(PRODUCERS):
                tg.create_task(_produce(journal, round_, p))


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1], int(sys.argv[2])))
