"""The fresh-session rule of a real trytond: posting an invoice needs a recently used session.

``account.invoice.post`` is declared with ``fresh_session=True``: when the session has been idle
for longer than ``[session] timeout`` the server deletes it and answers 401, and only a new
``common.db.login`` lets the post through. The connector relogs in on that 401; the sandbox must
answer the same way. A server with a two-second window makes the rule observable.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import aiohttp
import pytest

from mediator.testing.tryton_server import TrytonServer

from .client import CallFailed, TrytonClient
from .conftest import INSTALL_TIMEOUT, SHORT_SESSION

pytestmark = [pytest.mark.tryton, pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT)]


async def _draft_invoice(client: TrytonClient, server: TrytonServer) -> int:
    setup = server.setup
    (party,) = await client.model(
        "party.party",
        "create",
        [{"name": "Hooli", "addresses": [["create", [{"city": "Palo Alto"}]]]}],
    )
    (address,) = (await client.model("party.party", "read", [party], ["addresses"]))[0]["addresses"]
    (invoice,) = await client.model(
        "account.invoice",
        "create",
        [
            {
                "type": "out",
                "company": setup.company,
                "party": party,
                "invoice_address": address,
                "account": setup.receivable_account,
                "journal": setup.revenue_journal,
                "payment_term": setup.payment_term,
                "currency": setup.currency,
                "invoice_date": dt.date.today(),
                "lines": [
                    [
                        "create",
                        [
                            {
                                "product": setup.product,
                                "quantity": 2.0,
                                "unit": setup.uom_hour,
                                "unit_price": Decimal("150.0000"),
                                "account": setup.revenue_account,
                            }
                        ],
                    ]
                ],
            }
        ],
    )
    return invoice


async def test_post_after_an_idle_session_is_refused_until_a_new_login(
    http: aiohttp.ClientSession, short_session_server: TrytonServer
) -> None:
    server = short_session_server
    client = TrytonClient(http, server.rpc_url)
    await client.login(server.login, server.password)
    invoice = await _draft_invoice(client, server)

    # trytond reads its own wall clock; nothing can be injected into it, so real idle time it is.
    await asyncio.sleep(SHORT_SESSION + 0.5)
    with pytest.raises(CallFailed) as refused:
        await client.model("account.invoice", "post", [invoice])
    answer = refused.value.answer
    # Unlike a missing or unknown session (empty text/plain with WWW-Authenticate), the stale
    # session is refused by werkzeug's abort(401): its HTML page and no WWW-Authenticate.
    assert (answer.status, answer.content_type) == (401, "text/html")
    assert b"401 Unauthorized" in answer.body
    assert "WWW-Authenticate" not in answer.headers
    # The stale session was deleted: even calls that need no fresh session are refused now.
    with pytest.raises(CallFailed) as gone:
        await client.model("account.invoice", "read", [invoice], ["state"])
    assert (gone.value.answer.status, gone.value.answer.body) == (401, b"")

    await client.login(server.login, server.password)
    await client.model("account.invoice", "post", [invoice])
    (row,) = await client.model("account.invoice", "read", [invoice], ["state", "total_amount"])
    assert row == {"id": invoice, "state": "posted", "total_amount": Decimal("300.00")}
