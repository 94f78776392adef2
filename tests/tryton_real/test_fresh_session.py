"""The fresh-session rule of a real trytond: posting an invoice needs a recently used session.

``account.invoice.post`` is declared with ``fresh_session=True``: when the session has been idle
for longer than ``[session] timeout`` the server deletes it and answers 401, and only a new
``common.db.login`` lets the post through. The connector relogs in on that 401; the sandbox must
answer the same way. A server with a two-second window makes the rule observable.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import pytest

from mediator.testing.tryton_server import TrytonServer

from .client import TrytonClient
from .conftest import INSTALL_TIMEOUT, SHORT_SESSION, RealRuns
from .edges import fresh_session

pytestmark = [pytest.mark.tryton, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]


async def test_post_after_an_idle_session_is_refused_until_a_new_login(
    http: aiohttp.ClientSession, short_session_server: TrytonServer, real_runs: RealRuns
) -> None:
    server = short_session_server

    async def wait_out_the_window() -> None:
        await asyncio.sleep(SHORT_SESSION + 0.5)  # trytond reads its own wall clock

    client = TrytonClient(http, server.rpc_url)
    run = await fresh_session(client, server.login, server.password, idle=wait_out_the_window)
    real_runs["fresh_session"] = ("", run)  # the fidelity check compares the sandbox with it

    stale = run.answers["post_stale"]
    # Unlike a missing or unknown session (empty text/plain with WWW-Authenticate), the stale
    # session is refused by werkzeug's abort(401): its HTML page and no WWW-Authenticate.
    assert (stale.status, stale.content_type) == (401, "text/html")
    assert b"401 Unauthorized" in stale.body
    assert "WWW-Authenticate" not in stale.headers
    # The stale session was deleted: even calls that need no fresh session are refused now.
    gone = run.answers["after_stale"]
    assert (gone.status, gone.body) == (401, b"")
    assert gone.headers["WWW-Authenticate"] == 'Basic realm="Tryton"'
    # After a new login the same post goes through.
    (row,) = run.answers["read_fresh"].result
    assert (row["state"], row["total_amount"]) == ("posted", Decimal("100.00"))
