"""Records/s written through each connector to its sandbox, against raw aiohttp, and under limits.

For each system (a function registered in `SYSTEMS`; Stripe and Tryton plug in the same way):

- ``unlimited``: the sandbox's limits off and no rate limit or quota bound in the policies
  (breaker, retry and timeouts stay on). The connector writes N records in batches; the
  same-run baseline posts the same bodies to the same endpoint with a bare aiohttp session
  (no policies, no decoding, no look-ups). Batches alternate between the sides, so all meet the
  sandbox at the same size. ``ratio`` = connector / baseline. Harvest writes look their records
  up first (Harvest has no idempotency key), so it also reports a raw client making the same
  look-up (``ratio_same_requests``): the sandbox lists by scanning its whole table, so the
  look-up's cost grows with the table, which is the sandbox's cost, not the connector's.
- ``limited``: the shipped default policies (Harvest's 100 requests / 15 s bucket, scaled up
  by ``--scale`` in both the policy and the sandbox so a run takes seconds, not minutes), and
  the achieved request rate as a fraction of the limit after the burst (target >= 0.95: the
  connector, not the API, must never be the bottleneck). Salesforce's limit is a daily quota,
  not a rate, so its limited run reports records/s with the quota on against quota off.

Each sandbox runs in its own process, so the client side measured here is the connector alone.

    .venv/bin/python bench/connectors.py [--quick] [--systems salesforce,harvest] [--scale 20]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import msgspec
from _connectors_common import (  # bench/ siblings
    Options,
    alternate,
    compare,
    ok,
    rate_limited,
    registry,
    served,
    without_limits,
)
from _connectors_stripe_tryton import bench_stripe, bench_tryton
from _machine import machine

from mediator.clock import SystemClock
from mediator.policies import PolicyConfig, default_policy_config
from mediator.policies import parse_policy_config as parse_policies
from mediator.sandbox.base import Sandbox
from mediator.sandbox.harvest import HarvestSandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.systems import Secret
from mediator.systems.harvest import CreateTimeEntry, HarvestConnector
from mediator.systems.salesforce import (
    ClientCredentials,
    SalesforceConnector,
    UpsertRecord,
)

HARVEST_ACCOUNT = 1234567
HARVEST_TOKEN = "bench-token"


# -- sandboxes (built in their own process) ----------------------------------------------------


def _salesforce_box(**options: Any) -> tuple[Sandbox, dict[str, Any]]:
    sandbox = SalesforceSandbox(**options)
    return sandbox, {"token": sandbox.issue_token(ttl=86_400.0)}


def _harvest_box(**options: Any) -> tuple[Sandbox, dict[str, Any]]:
    sandbox = HarvestSandbox(tokens={HARVEST_TOKEN: HARVEST_ACCOUNT}, **options)
    return sandbox, {"ids": _seed_harvest(sandbox)}


def _seed_harvest(sandbox: HarvestSandbox) -> dict[str, int]:
    store = sandbox.store
    client = store.create("clients", {"name": "Acme"})
    user = store.create("users", {"first_name": "A", "last_name": "B", "email": "a@b.example"})
    task = store.create("tasks", {"name": "Consulting"})
    project = store.create("projects", {"client_id": client["id"], "name": "Roll-out"})
    store.create("user_assignments", {"project_id": project["id"], "user_id": user["id"]})
    store.create("task_assignments", {"project_id": project["id"], "task_id": task["id"]})
    return {
        "user": int(str(user["id"])),
        "task": int(str(task["id"])),
        "project": int(str(project["id"])),
    }


# -- Salesforce ---------------------------------------------------------------------------------

SF_BATCH = 200


def _sf_connector(url: str, config: PolicyConfig) -> SalesforceConnector:
    return SalesforceConnector(
        base_url=url,
        policies=registry(config),
        clock=SystemClock(),
        credentials=ClientCredentials(
            login_url=url, client_id="mediator", client_secret=Secret("sandbox-secret")
        ),
    )


def _sf_commands(prefix: str, index: int) -> list[UpsertRecord]:
    return [
        UpsertRecord(
            idempotency_key=f"{prefix}-{index}-{i}",
            sobject="Account",
            fields={"Name": f"Client {index}-{i}", "Industry": "Consulting"},
        )
        for i in range(SF_BATCH)
    ]


async def bench_salesforce(options: Options) -> dict[str, object]:
    """Collections of 200 upserts; baseline: the same PATCH bodies from a bare session."""
    batches = max(1, options.records // SF_BATCH)
    async with served(_salesforce_box, daily_api_requests=10**12) as box:
        url, token = box["url"], box["token"]
        path = f"{url}/services/data/v61.0/composite/sobjects/Account/External_Id__c"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connector = _sf_connector(url, without_limits("salesforce"))
        async with aiohttp.ClientSession() as session:

            async def through_connector(index: int) -> int:
                return ok(await connector.execute_batch(_sf_commands("c", index)))

            async def raw(index: int) -> int:
                records = [
                    {
                        "attributes": {"type": "Account"},
                        **c.fields,
                        "External_Id__c": c.idempotency_key,
                    }
                    for c in _sf_commands("b", index)
                ]
                body = json.dumps({"allOrNone": False, "records": records}).encode()
                async with session.patch(path, data=body, headers=headers) as response:
                    answer = await response.json()
                return sum(1 for r in answer if r["success"])

            await connector.auth.session()
            rates = await alternate(batches, {"baseline": raw, "connector": through_connector})
            unlimited = compare(rates, batches * SF_BATCH)
        await connector.aclose()

    # with the shipped quota (a daily allowance of calls, not a rate) against without, and the
    # sandbox's own allowance at its default (100,000 calls a day)
    async with served(_salesforce_box) as box:
        url = box["url"]
        quota_on = _sf_connector(url, default_policy_config())
        quota_off = _sf_connector(url, without_limits("salesforce"))

        def side(name: str, conn: SalesforceConnector) -> Callable[[int], Awaitable[int]]:
            async def run(index: int) -> int:
                return ok(await conn.execute_batch(_sf_commands(name, index)))

            return run

        for conn in (quota_on, quota_off):
            await conn.auth.session()
        rates = await alternate(
            batches, {"on": side("on", quota_on), "off": side("off", quota_off)}
        )
        (quota,) = quota_on.statistics().policies.quotas
        await quota_on.aclose()
        await quota_off.aclose()
    return {
        "unlimited": unlimited,
        "limited": {
            "limit": "100,000 API calls per rolling 24 h (a quota; 200 records per call)",
            "records_per_s_quota_on": round(rates["on"], 1),
            "records_per_s_quota_off": round(rates["off"], 1),
            "ratio": round(rates["on"] / rates["off"], 3),
            "quota_used": quota.used,
            "quota_left": quota.left,
            "fraction_of_limit": None,
        },
    }


# -- Harvest ------------------------------------------------------------------------------------

HV_BATCH = 100


def _hv_connector(url: str, config: PolicyConfig) -> HarvestConnector:
    return HarvestConnector(
        base_url=url,
        policies=registry(config),
        clock=SystemClock(),
        account_id=str(HARVEST_ACCOUNT),
        token=lambda: Secret(HARVEST_TOKEN),
        user_agent="mediator bench (ops@example.com)",
    )


def _hv_commands(prefix: str, index: int, ids: dict[str, int]) -> list[CreateTimeEntry]:
    # one day per batch: a batch's look-up lists that day's entries of the project
    day = f"{2026 + index // 365}-{1 + index // 28 % 12:02d}-{1 + index % 28:02d}"
    return [
        CreateTimeEntry(
            idempotency_key=f"{prefix}-{index}-{i}",
            fields={
                "project_id": ids["project"],
                "task_id": ids["task"],
                "user_id": ids["user"],
                "spent_date": day,
                "hours": 1.25,
                "notes": f"work item {i}",
            },
        )
        for i in range(HV_BATCH)
    ]


async def bench_harvest(options: Options) -> dict[str, object]:
    """Time entries, 100 a batch; baseline: the same POST bodies, as concurrent, no look-up."""
    batches = max(1, options.records // HV_BATCH)
    headers = {
        "Authorization": f"Bearer {HARVEST_TOKEN}",
        "Harvest-Account-Id": str(HARVEST_ACCOUNT),
        "User-Agent": "mediator bench (ops@example.com)",
        "Content-Type": "application/json",
    }
    async with served(_harvest_box, rate_limit=10**9) as box:
        url, ids = box["url"], box["ids"]
        connector = _hv_connector(url, without_limits("harvest"))
        async with aiohttp.ClientSession() as session:
            gate = asyncio.Semaphore(connector.concurrency)

            async def post(command: CreateTimeEntry) -> bool:
                reference = {"id": command.idempotency_key, "group_id": "mediator"}
                body = json.dumps({**command.fields, "external_reference": reference}).encode()
                async with (
                    gate,
                    session.post(f"{url}/v2/time_entries", data=body, headers=headers) as response,
                ):
                    await response.read()
                    return response.status == 201

            async def raw(index: int) -> int:
                done = await asyncio.gather(*(post(c) for c in _hv_commands("b", index, ids)))
                return sum(done)

            async def raw_with_lookup(index: int) -> int:
                # the connector's requests exactly: the batch's look-up, then the creates
                commands = _hv_commands("r", index, ids)
                day = str(commands[0].fields["spent_date"])
                query = {"project_id": str(ids["project"]), "from": day, "to": day}
                async with session.get(
                    f"{url}/v2/time_entries", params={**query, "per_page": "2000"}, headers=headers
                ) as response:
                    await response.read()
                done = await asyncio.gather(*(post(c) for c in commands))
                return sum(done)

            async def through_connector(index: int) -> int:
                return ok(await connector.execute_batch(_hv_commands("c", index, ids)))

            rates = await alternate(
                batches,
                {"baseline": raw, "same_requests": raw_with_lookup, "connector": through_connector},
            )
            unlimited = compare(rates, batches * HV_BATCH)
        await connector.aclose()

    # the shipped bucket and the sandbox's 100-per-15 s window, both x scale
    shipped = default_policy_config().ratelimits["harvest"]
    rate, burst = shipped.rate * options.scale, shipped.burst * options.scale
    config = parse_policies(
        f"[policies.ratelimits.harvest]\nrate = {rate}\nburst = {burst:g}\nmax_wait = 60.0\n",
        base=default_policy_config(),
    )
    wanted = int(burst + rate * options.limited_seconds)
    async with served(_harvest_box, rate_limit=int(100 * options.scale)) as box:
        connector = _hv_connector(box["url"], config)
        start, index, written = time.perf_counter(), 0, 0
        while connector.transport.statistics().calls < wanted:
            results = await connector.execute_batch(_hv_commands("l", index, box["ids"]))
            written += ok(results)
            index += 1
        elapsed = time.perf_counter() - start
        stats = connector.statistics()
        await connector.aclose()
    limit = f"100 requests / 15 s x{options.scale:g}: {rate:g}/s after {burst:g} at once"
    limited = rate_limited(limit, stats, elapsed=elapsed, written=written, burst=burst, rate=rate)
    steady = (stats.transport.calls - burst) / elapsed
    limited["fraction_of_api_limit"] = round(steady / (100 / 15 * options.scale), 3)
    return {"unlimited": unlimited, "limited": limited}


SYSTEMS: dict[str, Callable[[Options], Coroutine[Any, Any, dict[str, object]]]] = {
    "salesforce": bench_salesforce,
    "harvest": bench_harvest,
    "stripe": bench_stripe,
    "tryton": bench_tryton,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer records, shorter limited run")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated")
    parser.add_argument("--scale", type=float, default=20.0, help="limit scale-up factor")
    args = parser.parse_args()
    options = Options(
        records=1_000 if args.quick else 4_000,
        limited_seconds=3.0 if args.quick else 8.0,
        scale=args.scale,
    )
    report: dict[str, object] = {
        "bench": "connectors",
        "machine": machine(),
        "quick": args.quick,
        "options": msgspec.to_builtins(options),
    }
    for name in args.systems.split(","):
        report[name] = asyncio.run(SYSTEMS[name](options))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
