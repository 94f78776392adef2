"""Child process of the file-fault tests: opens a journal under a fault the test process cannot
impose on itself, and prints what happened as one JSON line.

``fault_child.py PATH [--file-size-limit BYTES] [--as-nobody]``: a limit on the size of any
file this process writes (RLIMIT_FSIZE: a write past it fails as on a full disk; Python
ignores SIGXFSZ), or the uid and gid of `nobody` (a test run as root, to whom a file's mode
bits deny nothing). The journal is opened by its name relative to its directory, entered
before the privileges are dropped, since a test's temporary directory is private to root.
Prints {"opened": recovered entries} or {"error": type, "path": ..., "reason": ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
from pathlib import Path

from mediator.errors import JournalError
from mediator.journal import open_journal
from mediator.testing import FakeClock

NOBODY = 65534


async def _open(name: str) -> dict[str, object]:
    try:
        async with open_journal(name, clock=FakeClock()) as journal:
            return {"opened": len(await journal.recover())}
    except JournalError as exc:
        return {"error": "JournalError", "path": exc.path, "reason": exc.reason}
    except Exception as exc:  # noqa: BLE001 - what the parent must see, whatever it is
        return {"error": type(exc).__name__, "path": "", "reason": str(exc)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--file-size-limit", type=int)
    parser.add_argument("--as-nobody", action="store_true")
    args = parser.parse_args()
    os.chdir(args.path.parent)
    if args.as_nobody:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    if args.file_size_limit is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.file_size_limit, hard))
    sys.stdout.write(json.dumps(asyncio.run(_open(args.path.name))) + "\n")


if __name__ == "__main__":
    main()
