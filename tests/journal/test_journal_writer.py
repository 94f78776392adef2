"""The writer thread's edges: malformed ids fail their caller, and a dead writer strands no one."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import msgspec
import pytest

from mediator.errors import JournalError
from mediator.journal import DeadLetterFilter, Journal, open_journal
from mediator.testing import FakeClock
from tests.journal.support import envelope


async def test_malformed_ids_fail_their_caller_and_nothing_else(journal: Journal) -> None:
    sent = (await journal.append(envelope("evt_1"))).envelope
    for call in (
        journal.mark_in_flight(["not-an-id"]),
        journal.mark_done([sent.id, "zz" * 16]),
        journal.mark_retry("x", at=1.0, error="e", error_class="E"),
        journal.mark_dead("", reason="r", error_class="E"),
        journal.get("abc"),
        journal.get("0a" * 15 + "  "),  # 32 characters, 15 bytes: fromhex skips spaces
        journal.append(msgspec.structs.replace(envelope("evt_3"), id="0a" * 15 + "  ")),
        journal.release("abc", reason="r", by="me"),
        journal.replay(DeadLetterFilter(ids=("nope",)), dry_run=False),
    ):
        with pytest.raises(ValueError, match="32 hex digits"):
            await call
    await journal.mark_done([sent.id])  # the journal carries on
    stored = await journal.get(sent.id)
    assert stored is not None
    assert not (await journal.append(envelope("evt_2"))).duplicate


async def _write_after_the_writer_died(
    path: Path, clock: FakeClock, late: list[BaseException]
) -> None:
    def bug(conn: sqlite3.Connection, now: float) -> object:
        raise ZeroDivisionError("a bug in an op")

    async with open_journal(path, clock=clock) as journal:
        with pytest.raises(ZeroDivisionError):
            await journal._writer.op(bug)  # (no public op can fail this way)
        try:
            await asyncio.Event().wait()  # until the journal's task group cancels us
        except asyncio.CancelledError:
            for write in (journal.append(envelope("evt_late")), journal.get("0" * 32)):
                try:
                    await write
                except JournalError as exc:
                    late.append(exc)
            raise


async def test_after_the_writer_dies_writes_fail_instead_of_waiting_for_ever(
    path: Path, clock: FakeClock
) -> None:
    late: list[BaseException] = []
    with pytest.raises(ZeroDivisionError, match="a bug in an op"):  # as itself
        await _write_after_the_writer_died(path, clock, late)
    assert len(late) == 2
    assert all("closed" in str(e) for e in late)


async def test_the_switch_interval_is_lowered_while_journals_are_open(
    tmp_path: Path, clock: FakeClock
) -> None:
    before = sys.getswitchinterval()
    async with open_journal(tmp_path / "plain.db", clock=clock):
        assert sys.getswitchinterval() == before  # a library leaves the process's interval
    async with open_journal(tmp_path / "a.db", clock=clock, switch_interval=100e-6):
        assert sys.getswitchinterval() == pytest.approx(100e-6)
        async with open_journal(tmp_path / "b.db", clock=clock, switch_interval=50e-6):
            assert sys.getswitchinterval() == pytest.approx(50e-6)
        assert sys.getswitchinterval() == pytest.approx(50e-6)  # put back by the last only
    assert sys.getswitchinterval() == before
    async with open_journal(tmp_path / "c.db", clock=clock, switch_interval=None):
        assert sys.getswitchinterval() == before
    with pytest.raises(ValueError, match="switch_interval"):
        async with open_journal(tmp_path / "d.db", clock=clock, switch_interval=0):
            pass
    assert sys.getswitchinterval() == before


async def test_a_switch_interval_the_host_sets_meanwhile_is_kept(
    path: Path, clock: FakeClock
) -> None:
    before = sys.getswitchinterval()
    try:
        async with open_journal(path, clock=clock, switch_interval=100e-6):
            sys.setswitchinterval(0.002)  # the host's own choice, made while the journal is open
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(before)
