"""Fault injection does what it says, in each vendor's style, deterministically under a seed."""

import asyncio

import aiohttp
import pytest

from mediator.sandbox import (
    FaultPlan,
    HarvestSandbox,
    Outage,
    SalesforceSandbox,
    StripeSandbox,
    TrytonSandbox,
    open_sandbox,
)
from mediator.testing import FakeClock

HARVEST = {
    "Authorization": "Bearer sandbox-token",
    "Harvest-Account-Id": "1234567",
    "User-Agent": "tests (ops@example.com)",
}
STRIPE = {"Authorization": "Bearer sk_test_sandbox"}


async def _statuses(box: HarvestSandbox, http: aiohttp.ClientSession, count: int) -> list[int]:
    async with open_sandbox(box) as url:
        out = []
        for _ in range(count):
            async with http.get(url + "/v2/clients", headers=HARVEST) as resp:
                out.append(resp.status)
        return out


async def test_error_rate_is_deterministic_under_a_seed(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    plan = FaultPlan(seed=42, error_rate=0.3, error_status=502)
    first = await _statuses(HarvestSandbox(clock=clock, faults=plan), http, 30)
    again = await _statuses(HarvestSandbox(clock=clock, faults=plan), http, 30)
    other = await _statuses(
        HarvestSandbox(clock=clock, faults=FaultPlan(seed=7, error_rate=0.3, error_status=502)),
        http,
        30,
    )
    assert first == again
    assert first != other
    assert set(first) == {200, 502}


async def test_control_endpoint_installs_a_storm(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = HarvestSandbox(clock=clock)
    async with open_sandbox(box) as url:
        async with http.post(
            url + "/__sandbox/faults", json={"storm": 2, "retry_after": 7}
        ) as resp:
            assert resp.status == 200
        statuses = []
        for _ in range(3):
            async with http.get(url + "/v2/clients", headers=HARVEST) as resp:
                statuses.append((resp.status, resp.headers.get("Retry-After")))
        assert statuses == [(429, "7"), (429, "7"), (200, None)]
        async with http.get(url + "/__sandbox/faults") as resp:
            report = await resp.json()
        assert report["statistics"]["storms"] == 2
        assert report["plan"]["storm"] == 2
        async with http.post(url + "/__sandbox/faults", json={"storm": "many"}) as resp:
            assert resp.status == 400
        async with http.delete(url + "/__sandbox/faults") as resp:
            assert (await resp.json())["plan"]["storm"] == 0
    # the control calls are not recorded: only the three product requests are
    assert [r.fault for r in box.requests] == ["storm", "storm", None]


async def test_storms_speak_each_vendors_language(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    storm = FaultPlan(storm=1)
    salesforce = SalesforceSandbox(clock=clock, faults=storm)
    async with open_sandbox(salesforce) as url:
        headers = {"Authorization": f"Bearer {salesforce.issue_token()}"}
        async with http.get(url + "/services/data/v59.0/limits", headers=headers) as resp:
            assert resp.status == 403
            assert (await resp.json())[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
            assert "Sforce-Limit-Info" in resp.headers
    async with open_sandbox(StripeSandbox(clock=clock, faults=storm)) as url:
        resp = await http.get(url + "/v1/customers", headers=STRIPE)
        assert resp.status == 429
        assert (await resp.json())["error"]["code"] == "rate_limit"
    async with (
        open_sandbox(TrytonSandbox(clock=clock, faults=storm)) as url,
        http.post(
            url + "/tryton/rpc/",
            json={"id": 1, "method": "common.db.login", "params": ["admin", {}, "en"]},
        ) as resp,
    ):
        assert resp.status == 429


async def test_outage_window_follows_the_clock(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = SalesforceSandbox(clock=clock, faults=FaultPlan(outages=(Outage(start=10, end=20),)))
    async with open_sandbox(box) as url:
        headers = {"Authorization": f"Bearer {box.issue_token()}"}

        async def status() -> tuple[int, object]:
            async with http.get(url + "/services/data/v59.0/limits", headers=headers) as resp:
                return resp.status, await resp.json()

        assert (await status())[0] == 200
        await clock.advance(10)
        code, body = await status()
        assert code == 503
        assert body == [{"message": "Service Unavailable", "errorCode": "SERVER_UNAVAILABLE"}]
        await clock.advance(10)
        assert (await status())[0] == 200


async def test_latency_waits_on_the_sandbox_clock(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = StripeSandbox(clock=clock, faults=FaultPlan(latency=2.5))
    async with open_sandbox(box) as url:
        call = asyncio.ensure_future(http.get(url + "/v1/customers", headers=STRIPE))
        await clock.wait_for_timers(1)
        assert not call.done()
        await clock.advance(2.5)
        async with await call as resp:
            assert resp.status == 200


async def test_commit_then_drop_the_response(clock: FakeClock, http: aiohttp.ClientSession) -> None:
    box = SalesforceSandbox(clock=clock, faults=FaultPlan(drop_next=1, paths=("/services/data",)))
    async with open_sandbox(box) as url:
        headers = {"Authorization": f"Bearer {box.issue_token()}"}
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with http.post(
                url + "/services/data/v59.0/sobjects/Account", json={"Name": "A"}, headers=headers
            ):
                pass
        async with http.get(url + "/__sandbox/state") as resp:
            state = await resp.json()
    [account] = state["objects"]["Account"]
    assert account["Name"] == "A"  # the effect happened although no answer came back
    [recorded] = box.requests
    assert recorded.dropped
    assert recorded.status is None


async def test_requests_are_recorded_and_traceparent_echoed(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = StripeSandbox(clock=clock)
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with open_sandbox(box) as url:
        async with http.post(
            url + "/v1/customers",
            data="name=ACME",
            headers={
                **STRIPE,
                "traceparent": trace,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ) as resp:
            assert resp.headers["traceparent"] == trace
        async with http.get(
            url + "/v1/customers", headers={**STRIPE, "traceparent": "junk"}
        ) as resp:
            assert resp.status == 200
            assert "traceparent" not in resp.headers
        async with http.get(url + "/__sandbox/requests") as resp:
            log = (await resp.json())["requests"]
        assert [(r["method"], r["path"], r["status"]) for r in log] == [
            ("POST", "/v1/customers", 200),
            ("GET", "/v1/customers", 200),
        ]
        assert log[0]["body"] == "name=ACME"
        assert '"name":"ACME"' in log[0]["response_body"]
        assert box.requests.matching("POST")[0].header("traceparent") == trace
        assert (
            box.requests.matching("POST")[0].json()
            == box.store.customers[next(iter(box.store.customers))]
        )
        async with http.delete(url + "/__sandbox/requests"):
            pass
    assert len(box.requests) == 0
    assert box.requests.evicted == 0


async def test_storm_window_follows_the_clock(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = HarvestSandbox(
        clock=clock, faults=FaultPlan(storm_windows=(Outage(start=5, end=8),), retry_after=3)
    )
    async with open_sandbox(box) as url:
        statuses = []
        for step in (0, 5, 2, 1):
            await clock.advance(step)
            async with http.get(url + "/v2/clients", headers=HARVEST) as resp:
                statuses.append(resp.status)
    assert statuses == [200, 429, 429, 200]


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ({"error_rate": 2}, "error_rate"),
        ({"drop_rate": -0.1}, "drop_rate"),
        ({"error_status": 200}, "error_status"),
        ({"latency": -1}, "latency"),
        ({"storm": -3}, "storm"),
        ({"outages": [{"start": 5, "end": 5}]}, "outages[0]"),
    ],
)
async def test_a_plan_out_of_range_is_refused_naming_the_field(
    clock: FakeClock, http: aiohttp.ClientSession, plan: dict[str, object], field: str
) -> None:
    box = HarvestSandbox(clock=clock)
    async with (
        open_sandbox(box) as url,
        http.post(url + "/__sandbox/faults", json=plan) as resp,
    ):
        assert resp.status == 400
        assert field in (await resp.json())["error"]
    assert box.faults.plan == FaultPlan()  # the plan in force is unchanged
