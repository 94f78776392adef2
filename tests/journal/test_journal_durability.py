"""With synchronous=FULL the WAL's fsync runs off the writer's thread: nothing is handed back
before the fsync that follows its commit, and a failed fsync stops the journal."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from mediator.errors import JournalError
from mediator.journal import _durability, open_journal
from mediator.testing import FakeClock
from tests.journal.support import envelope


class HeldFsync:
    """Stands in for the fsync: records each call and, while held, blocks it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.fail: OSError | None = None

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        self.release.wait(30)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def fsync(monkeypatch: pytest.MonkeyPatch) -> HeldFsync:
    held = HeldFsync()
    monkeypatch.setattr(_durability, "_fsync", held)
    return held


def _stored_idems(path: Path) -> list[str]:
    with sqlite3.connect(path) as other:  # another connection: sees what is committed
        return [row[0] for row in other.execute("SELECT idem FROM entries")]


async def test_a_committed_append_waits_for_its_fsync(
    path: Path, clock: FakeClock, fsync: HeldFsync
) -> None:
    async with open_journal(path, clock=clock) as journal:
        sent = envelope("evt_1")
        append = asyncio.create_task(journal.append(sent))
        await asyncio.to_thread(fsync.entered.wait, 30)
        assert _stored_idems(path) == ["evt_1"]  # committed...
        assert not append.done()  # ...but not acknowledged while its fsync runs

        # A read run meanwhile sees the commit, so it too waits for the fsync.
        def count(conn: sqlite3.Connection) -> int:
            return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])

        read = asyncio.create_task(journal._writer.read(count))
        # The writer runs reads in order: once a second one runs, the first has been handed
        # over, and anything handed straight to the loop then is run before we resume.
        second_ran = threading.Event()
        second = asyncio.create_task(journal._writer.read(lambda _: second_ran.set()))
        await asyncio.to_thread(second_ran.wait, 30)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not read.done()
        assert not second.done()
        assert not append.done()

        fsync.release.set()
        assert not (await append).duplicate
        assert await read == 1
        await second
        stored = await journal.get(sent.id)
        assert stored is not None
        assert stored.envelope.idempotency_key == "evt_1"


async def _write_until_stopped(path: Path, clock: FakeClock, failures: list[JournalError]) -> None:
    async with open_journal(path, clock=clock) as journal:
        for n in range(2):
            try:
                await journal.append(envelope(f"evt_{n}"))
            except JournalError as exc:
                failures.append(exc)
        await asyncio.Event().wait()  # until the journal's task group stops the block


async def test_a_failed_fsync_fails_the_write_and_stops_the_journal(
    path: Path, clock: FakeClock, fsync: HeldFsync
) -> None:
    fsync.fail = OSError(errno.EIO, "Input/output error")
    fsync.release.set()
    failures: list[JournalError] = []
    with pytest.raises(JournalError) as stopped:  # as itself, not in an ExceptionGroup
        await _write_until_stopped(path, clock, failures)
    assert "fsync of the WAL failed" in str(stopped.value)
    assert "check the disk" in stopped.value.reason  # and what to do
    first, later = failures  # the write it covered, and one after: neither is acknowledged
    assert "fsync of the WAL failed" in str(first)
    assert str(path) in str(first)
    assert "fsync" in str(later) or "closed" in str(later)


async def test_normal_makes_no_fsync_of_its_own(
    path: Path, clock: FakeClock, fsync: HeldFsync
) -> None:
    async with open_journal(path, clock=clock, synchronous="NORMAL") as journal:
        for n in range(3):
            assert not (await journal.append(envelope(f"evt_{n}"))).duplicate
    assert fsync.calls == 0


class RecordedFsync:
    """Stands in for the fsync: records which file each call flushed, then flushes it."""

    def __init__(self) -> None:
        self.files: list[Path] = []

    def __call__(self, fd: int) -> None:
        self.files.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        os.fsync(fd)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name an fd's file")
async def test_through_a_symlink_the_fsync_reaches_the_wal_sqlite_writes(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = RecordedFsync()
    monkeypatch.setattr(_durability, "_fsync", recorded)
    real = tmp_path / "real" / "journal.db"
    real.parent.mkdir()
    async with open_journal(real, clock=clock):
        pass
    (tmp_path / "link.db").symlink_to(real)
    recorded.files.clear()
    async with open_journal(tmp_path / "link.db", clock=clock) as journal:
        await journal.append(envelope("evt_1"))
    assert recorded.files
    assert set(recorded.files) == {Path(f"{real.resolve()}-wal")}
    assert sorted(os.listdir(tmp_path)) == ["link.db", "real"]  # no stray WAL beside the link


async def test_without_its_own_wal_handle_the_journal_keeps_sqlites_fsync(
    path: Path, clock: FakeClock, fsync: HeldFsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    def cannot_open(path: str) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(_durability, "_open_wal", cannot_open)
    async with open_journal(path, clock=clock) as journal:
        assert not (await journal.append(envelope("evt_1"))).duplicate
        mode = await journal._writer.read(
            lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]
        )
    assert mode == 2  # FULL: SQLite fsyncs inside each COMMIT
    assert fsync.calls == 0


async def test_one_failing_hand_back_does_not_strand_the_others(path: Path) -> None:
    loop = asyncio.get_running_loop()
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    handoff = _durability.DurableHandoff(
        loop, path=str(path), defer_fsync=True, on_failure=lambda: None
    )
    assert handoff.start(conn)
    first: asyncio.Future[object] = loop.create_future()
    second: asyncio.Future[object] = loop.create_future()

    def broken(future: asyncio.Future[object]) -> None:
        raise RuntimeError("a bug in a hand-back")

    handoff.committed(broken, (first,), first)
    handoff.committed(second.set_result, ("delivered",), second)
    await asyncio.to_thread(handoff.close)
    assert await second == "delivered"
    with pytest.raises(RuntimeError, match="a bug"):
        await first
    conn.close()
