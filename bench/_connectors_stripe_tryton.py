"""Stripe and Tryton for bench/connectors.py (registered in its `SYSTEMS`).

- Stripe has no bulk endpoint: the connector POSTs invoice items one by one, four at a time;
  the baseline posts the same form bodies with the same `Idempotency-Key`s from a bare aiohttp
  session, as concurrent. ``limited``: the shipped bucket (20/s after a burst of 5) against the
  sandbox's own 25 requests/s per key, for `limited_seconds`.
- Tryton: timesheet lines, 100 a batch; the connector looks the batch's references up and
  creates the missing ones in one list ``create`` (2 calls a batch); the baseline sends the
  list ``create`` alone, and ``same_requests`` the look-up and the create, from a bare session.
  Tryton has no rate limit (its policy is a bulkhead of 4 concurrent calls), so there is no
  ``limited`` figure.

Each sandbox runs in its own process, as for the other systems.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time
from decimal import Decimal
from typing import Any

import aiohttp
from _connectors_common import (  # a bench/ sibling
    Options,
    alternate,
    compare,
    ok,
    rate_limited,
    registry,
    served,
    without_limits,
)

from mediator.clock import SystemClock
from mediator.codecs import InvoiceLine, Money
from mediator.codecs.stripe import encode_form
from mediator.codecs.tryton import TrytonRequest
from mediator.codecs.tryton.rpc import encode_request as encode_tryton_request
from mediator.policies import PolicyConfig, default_policy_config
from mediator.sandbox.base import Sandbox
from mediator.sandbox.stripe import StripeSandbox
from mediator.sandbox.tryton import TrytonSandbox
from mediator.systems import Secret
from mediator.systems.stripe import AddInvoiceItem, StripeConnector, idempotency_header
from mediator.systems.tryton import CreateRecord, TrytonConnector

STRIPE_KEY = "sk_test_bench"
TRYTON_BATCH = 100


def _stripe_box(**options: Any) -> tuple[Sandbox, dict[str, Any]]:
    sandbox = StripeSandbox(api_keys=(STRIPE_KEY,), **options)
    customer = sandbox.store.create_customer({"name": "Bench", "currency": "usd"})
    return sandbox, {"customer": customer["id"]}


def _tryton_box(**options: Any) -> tuple[Sandbox, dict[str, Any]]:
    sandbox = TrytonSandbox(**options)
    return sandbox, _seed_tryton(sandbox)


def _seed_tryton(sandbox: TrytonSandbox) -> dict[str, int]:
    db, setup = sandbox.db, sandbox.setup
    [person] = db.create("party.party", [{"name": "Ada Consultant"}])
    [employee] = db.create("company.employee", [{"party": person, "company": setup.company}])
    db.create(
        "project.work",
        [
            {
                "name": "P-1 Bench",
                "type": "project",
                "company": setup.company,
                "timesheet_available": True,
                "list_price": Decimal("100"),
            }
        ],
    )
    [work] = list(db.tables["timesheet.work"])
    return {"company": setup.company, "employee": employee, "work": work}


# -- Stripe -------------------------------------------------------------------------------------

STRIPE_BATCH = 50


def _items(prefix: str, index: int, customer: str) -> list[AddInvoiceItem]:
    money = Money(amount=12_500, currency="USD")
    return [
        AddInvoiceItem(
            idempotency_key=f"{prefix}-{index}-{i}",
            customer=customer,
            line=InvoiceLine(
                description="Consulting", unit_amount=money, amount=money, origin_id=f"te:{i}"
            ),
        )
        for i in range(STRIPE_BATCH)
    ]


def _stripe(url: str, config: PolicyConfig) -> StripeConnector:
    return StripeConnector(
        base_url=url,
        policies=registry(config),
        clock=SystemClock(),
        secret=lambda: Secret(STRIPE_KEY),
    )


async def bench_stripe(options: Options) -> dict[str, object]:
    """Invoice items one POST each; baseline: the same POSTs from a bare session."""
    batches = max(1, options.records // STRIPE_BATCH)
    async with served(_stripe_box, rate_limit=10**9) as box:
        url, customer = box["url"], box["customer"]
        connector = _stripe(url, without_limits("stripe"))
        headers = {
            "Authorization": f"Bearer {STRIPE_KEY}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with aiohttp.ClientSession() as session:
            gate = asyncio.Semaphore(4)  # the connector's own concurrency within a batch

            async def post(command: AddInvoiceItem) -> bool:
                path, _, params = command.request()
                sent = {**headers, "Idempotency-Key": idempotency_header(command)}
                body = encode_form(params).encode()
                async with gate, session.post(url + path, data=body, headers=sent) as response:
                    await response.read()
                    return response.status == 200

            async def raw(index: int) -> int:
                return sum(await asyncio.gather(*(post(c) for c in _items("b", index, customer))))

            async def through_connector(index: int) -> int:
                return ok(await connector.execute_batch(_items("c", index, customer)))

            rates = await alternate(batches, {"baseline": raw, "connector": through_connector})
        await connector.aclose()
    unlimited = compare(rates, batches * STRIPE_BATCH)

    # the shipped bucket against the sandbox's real-world limit, unscaled (it is per second)
    config = default_policy_config()
    spec = config.ratelimits["stripe"]
    async with served(_stripe_box) as box:
        connector = _stripe(box["url"], config)
        start, written = time.perf_counter(), 0
        for index in itertools.count():
            written += ok(await connector.execute_batch(_items("l", index, box["customer"])))
            if time.perf_counter() - start >= options.limited_seconds:
                break
        elapsed = time.perf_counter() - start
        stats = connector.statistics()
        await connector.aclose()
    limit = f"Stripe test mode 25 requests/s; policy {spec.rate:g}/s after {spec.burst}"
    steady = (stats.transport.calls - spec.burst) / elapsed
    return {
        "unlimited": unlimited,
        "limited": {
            **rate_limited(
                limit, stats, elapsed=elapsed, written=written, burst=spec.burst, rate=spec.rate
            ),
            "fraction_of_api_limit": round(steady / 25.0, 3),
        },
    }


# -- Tryton -------------------------------------------------------------------------------------


def _lines(prefix: str, index: int, ids: dict[str, int]) -> list[CreateRecord]:
    day = dt.date(2026, 1, 1) + dt.timedelta(days=index)
    return [
        CreateRecord(
            idempotency_key=f"{prefix}-{index}-{i}",
            model="timesheet.line",
            values={
                "company": ids["company"],
                "employee": ids["employee"],
                "work": ids["work"],
                "date": day,
                "duration": dt.timedelta(hours=1.25),
            },
            reference=f"Work item [{prefix}-{index}-{i}]",
        )
        for i in range(TRYTON_BATCH)
    ]


async def bench_tryton(options: Options) -> dict[str, object]:
    """Timesheet lines, 100 a batch; baselines: the list create alone, and look-up + create."""
    batches = max(1, options.records // TRYTON_BATCH)
    async with served(_tryton_box) as box:
        url, rpc = box["url"], box["url"] + "/tryton/rpc/"
        ids = {k: box[k] for k in ("company", "employee", "work")}
        connector = TrytonConnector(
            base_url=url,
            database="tryton",
            login="admin",
            secret=lambda: Secret("admin"),
            policies=registry(default_policy_config()),
            clock=SystemClock(),
        )
        await connector.call("model.party.party.search_count", [])  # log in before timing
        session_header = connector.session.authorization()  # type: ignore[union-attr]  # the connector has logged in by now
        context = connector.sessions.context
        headers = {"Content-Type": "application/json", "Authorization": session_header}
        calls = itertools.count(1)
        async with aiohttp.ClientSession() as session:

            async def call(method: str, *params: Any) -> Any:
                request = TrytonRequest(id=next(calls), method=method, params=[*params, context])
                body = encode_tryton_request(request)
                async with session.post(rpc, data=body, headers=headers) as response:
                    return await response.read()

            async def raw(index: int) -> int:
                commands = _lines("b", index, ids)
                values = [{**c.values, "description": c.reference} for c in commands]
                await call("model.timesheet.line.create", values)
                return len(values)

            async def raw_with_lookup(index: int) -> int:
                commands = _lines("r", index, ids)
                refs = [c.reference for c in commands]
                fields = ["id", "description"]
                await call(
                    "model.timesheet.line.search_read",
                    [["description", "in", refs]], 0, None, [["id", "ASC"]], fields,
                )  # fmt: skip
                values = [{**c.values, "description": c.reference} for c in commands]
                await call("model.timesheet.line.create", values)
                return len(values)

            async def through_connector(index: int) -> int:
                return ok(await connector.execute_batch(_lines("c", index, ids)))

            rates = await alternate(
                batches,
                {"baseline": raw, "same_requests": raw_with_lookup, "connector": through_connector},
            )
        await connector.aclose()
    return {
        "unlimited": compare(rates, batches * TRYTON_BATCH),
        "limited": {"limit": "none: Tryton's policy is a bulkhead of 4 concurrent calls"},
    }
