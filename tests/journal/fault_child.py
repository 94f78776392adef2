"""Child process of the file-fault tests: opens a journal under a fault the test process cannot
impose on itself, and prints what happened as one JSON line.

``fault_child.py PATH [--file-size-limit BYTES] [--as-nobody] [--fill]``: a limit on the size of any
file this process writes (RLIMIT_FSIZE: a write past it fails as on a full disk; Python
ignores SIGXFSZ), or the uid and gid of `nobody` (a test run as root, to whom a file's mode
bits deny nothing). The journal is opened by its name relative to its directory, entered
before the privileges are dropped, since a test's temporary directory is private to root.
Prints {"opened": recovered entries} or {"error": type, "path": ..., "reason": ...}; with
--fill, it appends until a write fails, lifts the limit and appends once more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from mediator.codecs.envelope import Envelope, new_id
from mediator.errors import JournalError
from mediator.journal import SqliteJournal, open_journal
from mediator.testing import FakeClock

NOBODY = 65534


async def _open(name: str, fill: bool) -> dict[str, object]:
    try:
        async with open_journal(name, clock=FakeClock()) as journal:
            if fill:
                return await _fill(journal)
            return {"opened": len(await journal.recover())}
    except JournalError as exc:
        return {"error": "JournalError", "path": exc.path, "reason": exc.reason}
    except Exception as exc:  # noqa: BLE001 - what the parent must see, whatever it is
        return {"error": type(exc).__name__, "path": "", "reason": str(exc)}


async def _fill(journal: SqliteJournal) -> dict[str, object]:
    # Appends of 64 KiB until one fails; then the limit is lifted (as when space is freed)
    # and one more is appended.
    payload = msgspec.Raw(msgspec.json.encode({"note": "x" * (64 << 10)}))
    appended = 0
    failure: dict[str, object] = {}
    for n in range(1000):
        try:
            await journal.append(_envelope(f"evt_fill_{n}", payload))
        except JournalError as exc:
            failure = {"error": "JournalError", "path": exc.path, "reason": exc.reason}
            break
        appended += 1
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    after = await journal.append(_envelope("evt_after", payload))
    return {**failure, "appended": appended, "after": not after.duplicate}


def _envelope(idem: str, payload: msgspec.Raw) -> Envelope:
    return Envelope(
        id=new_id(),
        key="project:P-1",
        kind="psa.time_entry.approved",
        source="harvest",
        idempotency_key=idem,
        occurred_at=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
        payload=payload,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--file-size-limit", type=int)
    parser.add_argument("--as-nobody", action="store_true")
    parser.add_argument("--fill", action="store_true", help="append until a write fails")
    args = parser.parse_args()
    os.chdir(args.path.parent)
    if args.as_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    if args.file_size_limit is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size_limit, hard))
    sys.stdout.write(json.dumps(asyncio.run(_open(args.path.name, args.fill))) + "\n")


if __name__ == "__main__":
    main()
