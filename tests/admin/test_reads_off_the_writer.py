"""Reads never take the journal's writer: with the writer's thread held inside a
transaction, every read endpoint (and a dry-run replay) still answers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import aiohttp
import pytest

from mediator.journal import SqliteJournal
from tests.admin.conftest import Admin

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


async def test_reads_answer_while_the_writer_is_held(admin: Admin) -> None:
    journal = admin.mediator._journal  # the writer: white box, to hold it
    assert isinstance(journal, SqliteJournal)
    entered, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection, now: float) -> None:
        # runs on the writer's thread, inside its transaction: nothing else is written
        entered.set()
        release.wait(30)

    held = asyncio.ensure_future(journal._writer.op(hold))
    try:
        await asyncio.to_thread(entered.wait, 10)
        assert entered.is_set()
        target = admin.dead[0]
        paths = [
            "/flows", "/systems", "/dead-letters", f"/dead-letters/{target.id}",
            f"/entities/{target.key}", "/approvals", "/audit", "/healthz", "/posting-windows",
        ]  # fmt: skip
        async with aiohttp.ClientSession(admin.url, headers=admin.headers("viewer")) as http:
            async with asyncio.timeout(5):
                for path in paths:
                    async with http.get(path) as response:
                        assert response.status == 200, path
            async with (
                asyncio.timeout(5),
                http.post(
                    f"/dead-letters/{target.id}/replay",
                    json={},
                    headers=admin.headers("operator"),
                ) as response,
            ):
                assert response.status == 200
                assert (await response.json())["dry_run"] is True
        assert not held.done()  # the writer was held the whole time
    finally:
        release.set()
        await held
