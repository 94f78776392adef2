"""What a failure of SQLite or of the disk under the journal means, and what to do about it.

Every sqlite3 error that leaves the journal is translated here, once, at the edge it leaves
by (opening, the writer's transactions, reads, starting the writer): into a `JournalError`
naming the file, what was being done, what went wrong in words, and what the operator can do.
SQLite's own result code (`sqlite_errorcode`; the primary code is its low byte) says which: a
damaged file, a full disk, a file this process may not write, a lock held by another
process. An error without a code is Python's own (a value it could not convert, a closed
connection): a bug or a value written behind the journal's back, not a fault of the disk.
A row whose values cannot be read back (`DamagedRecord`) is a damaged file too, met by the
one read or write that needed it.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from mediator.errors import JournalError

# SQLite's primary result codes (sqlite.org/rescode.html)
_PERM, _BUSY, _LOCKED, _NOMEM, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = (
    3, 5, 6, 7, 8, 10, 11, 13, 14, 26,
)  # fmt: skip

_BACKUP = (
    "restore it from a backup, or salvage what SQLite can still read into a new file "
    "(sqlite3 FILE .recover | sqlite3 NEW) and open that"
)
_WRITABLE = (
    "make the file, its -wal and -shm files and its directory writable by the user mediator "
    "runs as (SQLite creates the -wal and -shm files beside it)"
)
# what it means, what to do
_MEANING: dict[int, tuple[str, str]] = {
    _CORRUPT: ("the file is damaged", _BACKUP),
    _NOTADB: ("not a usable SQLite database", _BACKUP),
    _FULL: ("the disk is full", "free space on its filesystem, then start again"),
    _IOERR: (
        "a read or write of the file failed",
        "check the disk (a full disk, a file size limit, a failing device: see the kernel's log), "
        "then start again",
    ),
    _READONLY: ("the file cannot be written by this process", _WRITABLE),
    _CANTOPEN: ("the file cannot be opened", f"check that its directory exists; {_WRITABLE}"),
    _PERM: ("permission denied", _WRITABLE),
    _BUSY: ("the file is locked", "is another process using this journal? stop it first"),
    _LOCKED: ("the file is locked", "is another process using this journal? stop it first"),
    _NOMEM: ("SQLite ran out of memory", "give the process more memory (or a lower memory_keys)"),
}


class DamagedRecord(Exception):
    """A stored row holds a value this code cannot read back (`what` it is, `why`): a bit
    flipped on the disk that left SQLite's structure whole, or a row written behind the
    journal's back. Raised by `_rows` and `_keys`; translated at the same edges as SQLite's
    errors (a read or write fails, the writer goes on)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(what, why)
        self.what = what
        self.why = why


def is_fault(exc: sqlite3.Error) -> bool:
    """Whether `exc` is a fault of the file, the disk or the host (one of `_MEANING`), rather
    than of a statement or a value."""
    return _primary(exc) in _MEANING


def translate(path: str | Path, doing: str, exc: sqlite3.Error | DamagedRecord) -> JournalError:
    """The `JournalError` for `exc`, raised while `doing` (e.g. "cannot open"); raise it
    `from exc`."""
    if isinstance(exc, DamagedRecord):
        return JournalError(
            str(path),
            f"{doing}: the file is damaged ({exc.what} cannot be read: {exc.why}); restore it "
            "from a backup, or repair or delete that row with the sqlite3 shell",
        )
    code = _primary(exc)
    name = getattr(exc, "sqlite_errorname", None)
    detail = f"{exc}, {name}" if name else str(exc)
    if code not in _MEANING:
        return JournalError(str(path), f"{doing}: SQLite failed ({detail})")
    meaning, remedy = _MEANING[code]
    if code in (_FULL, _IOERR):
        free = _free_bytes(Path(path))
        if free is not None:
            detail += f"; {free:,} bytes free on its filesystem"
    return JournalError(str(path), f"{doing}: {meaning} ({detail}); {remedy}")


def _primary(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return None
