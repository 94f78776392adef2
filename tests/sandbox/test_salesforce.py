"""The Salesforce sandbox answers Salesforce's documented shapes, statuses and headers."""

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from mediator.codecs.salesforce.mapping import decode_salesforce
from mediator.codecs.salesforce.wire import SfSaveResult
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.testing import FakeClock

API = "/services/data/v59.0"


@dataclass
class Org:
    box: SalesforceSandbox
    url: str
    http: aiohttp.ClientSession
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(
        self, method: str, path: str, json: object = None, **kw: object
    ) -> tuple[int, object, aiohttp.typedefs.LooseHeaders]:
        async with self.http.request(
            method, self.url + API + path, json=json, headers=self.headers(), **kw
        ) as resp:
            body = await resp.json() if resp.content_length != 0 and resp.status != 204 else None
            return resp.status, body, resp.headers


@pytest.fixture
async def org(clock: FakeClock, http: aiohttp.ClientSession) -> AsyncIterator[Org]:
    box = SalesforceSandbox(clock=clock, query_batch_size=3, daily_api_requests=50)
    async with open_sandbox(box) as url:
        yield Org(box, url, http, box.issue_token())


async def test_token_endpoint_issues_bearer_tokens_that_expire(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = SalesforceSandbox(clock=clock, token_ttl=60)
    async with open_sandbox(box) as url:
        form = {
            "grant_type": "client_credentials",
            "client_id": "mediator",
            "client_secret": "sandbox-secret",
        }
        async with http.post(url + "/services/oauth2/token", data=form) as resp:
            assert resp.status == 200
            token = await resp.json()
        assert token["token_type"] == "Bearer"
        assert token["instance_url"] == url
        assert token["issued_at"] == str(int(clock.time() * 1000))
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        async with http.get(url + API + "/limits", headers=auth) as resp:
            assert resp.status == 200
        await clock.advance(61)
        async with http.get(url + API + "/limits", headers=auth) as resp:
            assert resp.status == 401
            assert resp.headers["Sforce-Limit-Info"].startswith("api-usage=")
            assert await resp.json() == [
                {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
            ]
        bad = dict(form, client_secret="wrong")
        async with http.post(url + "/services/oauth2/token", data=bad) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"] == "invalid_client"
        async with http.post(url + "/services/oauth2/token", data={"grant_type": "x"}) as resp:
            assert (await resp.json())["error"] == "unsupported_grant_type"


async def test_crud_with_limit_header_and_system_fields(org: Org, clock: FakeClock) -> None:
    status, body, headers = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
    assert status == 201
    assert isinstance(body, dict)
    assert body["success"] is True
    assert body["errors"] == []
    account_id = body["id"]
    assert len(account_id) == 18
    assert account_id.startswith("001")
    assert headers["Sforce-Limit-Info"] == "api-usage=1/50"
    status, record, _ = await org.call("GET", f"/sobjects/Account/{account_id}")
    assert status == 200
    assert isinstance(record, dict)
    assert record["attributes"] == {
        "type": "Account",
        "url": f"{API}/sobjects/Account/{account_id}",
    }
    created = record["SystemModstamp"]
    await clock.advance(5)
    status, _, _ = await org.call("PATCH", f"/sobjects/Account/{account_id}", {"Industry": "IT"})
    assert status == 204
    _, record, _ = await org.call("GET", f"/sobjects/Account/{account_id}")
    assert isinstance(record, dict)
    assert record["Industry"] == "IT"
    assert record["SystemModstamp"] > created
    # 15-character ids are accepted as well
    status, _, _ = await org.call("GET", f"/sobjects/Account/{account_id[:15]}")
    assert status == 200
    status, _, _ = await org.call("DELETE", f"/sobjects/Account/{account_id}")
    assert status == 204
    status, body, _ = await org.call("GET", f"/sobjects/Account/{account_id}")
    assert status == 404
    assert body == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


async def test_validation_errors_are_arrays(org: Org) -> None:
    status, body, _ = await org.call("POST", "/sobjects/Opportunity", {"Name": "Deal"})
    assert status == 400
    assert body == [
        {
            "message": "Required fields are missing: [StageName, CloseDate]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["StageName", "CloseDate"],
        }
    ]
    status, body, _ = await org.call("POST", "/sobjects/Account", {"Name": "X", "Nope": 1})
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_FIELD"
    status, body, _ = await org.call("POST", "/sobjects/Account", {"Name": "X", "IsDeleted": True})
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    status, body, _ = await org.call(
        "POST",
        "/sobjects/Opportunity",
        {"Name": "D", "StageName": "Won-ish", "CloseDate": "2026-11-30"},
    )
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    status, body, _ = await org.call("POST", "/sobjects/Nothing", {"Name": "X"})
    assert status == 404


async def test_stage_derives_is_won_and_is_closed(org: Org) -> None:
    _, acct, _ = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
    assert isinstance(acct, dict)
    _, opp, _ = await org.call(
        "POST",
        "/sobjects/Opportunity",
        {
            "Name": "Deal",
            "AccountId": acct["id"],
            "StageName": "Prospecting",
            "CloseDate": "2026-11-30",
            "Amount": 120000,
        },
    )
    assert isinstance(opp, dict)
    _, record, _ = await org.call("GET", f"/sobjects/Opportunity/{opp['id']}")
    assert isinstance(record, dict)
    assert (record["IsWon"], record["IsClosed"], record["Probability"]) == (False, False, 10)
    await org.call("PATCH", f"/sobjects/Opportunity/{opp['id']}", {"StageName": "closed won"})
    _, record, _ = await org.call("GET", f"/sobjects/Opportunity/{opp['id']}")
    assert isinstance(record, dict)
    assert (record["StageName"], record["IsWon"], record["IsClosed"]) == ("Closed Won", True, True)
    status, body, _ = await org.call(
        "PATCH", f"/sobjects/Opportunity/{opp['id']}", {"IsWon": False}
    )
    assert status == 400
    status, body, _ = await org.call(
        "POST",
        "/sobjects/Opportunity",
        {
            "Name": "D",
            "StageName": "Prospecting",
            "CloseDate": "2026-11-30",
            "AccountId": "001000000000000AAA",
        },
    )
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"


async def test_upsert_by_external_id(org: Org) -> None:
    status, body, _ = await org.call("PATCH", "/sobjects/Account/External_Id__c/C-1", {"Name": "A"})
    assert status == 201
    assert isinstance(body, dict)
    assert body["created"] is True
    first = body["id"]
    status, body, _ = await org.call("PATCH", "/sobjects/Account/external_id__c/c-1", {"Name": "B"})
    assert status == 200
    assert body == {"id": first, "success": True, "errors": [], "created": False}
    async with org.http.patch(
        org.url + "/services/data/v45.0/sobjects/Account/External_Id__c/C-1",
        json={"Name": "C"},
        headers=org.headers(),
    ) as resp:
        assert resp.status == 204
    await org.call("POST", "/sobjects/Account", {"Name": "dup", "External_Id__c": "C-1"})
    status, body, _ = await org.call("PATCH", "/sobjects/Account/External_Id__c/C-1", {"Name": "D"})
    assert status == 300
    assert isinstance(body, list)
    assert len(body) == 2
    status, body, _ = await org.call("PATCH", "/sobjects/Account/Name/x", {"Industry": "IT"})
    assert status == 404
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "NOT_FOUND"
    status, _, _ = await org.call(
        "PATCH", "/sobjects/Account/External_Id__c/NEW?updateOnly=true", {"Name": "N"}
    )
    assert status == 404


async def test_soql_filters_orders_and_pages(org: Org, clock: FakeClock) -> None:
    for i in range(4):
        await org.call("POST", "/sobjects/Account", {"Name": f"Old {i}"})
    cutoff = "2026-09-21T14:13:21Z"  # clock starts at 1_790_000_000 = 2026-09-21T14:13:20Z
    await clock.advance(10)
    for i in range(4):
        await org.call("POST", "/sobjects/Account", {"Name": f"New {i}", "Industry": "IT"})
    q = f"SELECT Id, Name FROM Account WHERE SystemModstamp > {cutoff} ORDER BY Name DESC"
    status, body, _ = await org.call("GET", "/query", params={"q": q})
    assert status == 200
    assert isinstance(body, dict)
    assert body["totalSize"] == 4
    assert body["done"] is False
    assert [r["Name"] for r in body["records"]] == ["New 3", "New 2", "New 1"]
    assert set(body["records"][0]) == {"attributes", "Id", "Name"}
    async with org.http.get(org.url + body["nextRecordsUrl"], headers=org.headers()) as resp:
        rest = await resp.json()
    assert rest["done"] is True
    assert [r["Name"] for r in rest["records"]] == ["New 0"]
    assert "nextRecordsUrl" not in rest
    status, body, _ = await org.call(
        "GET",
        "/query",
        params={
            "q": "SELECT Name FROM Account WHERE Name LIKE 'old%' "
            "AND (Industry = null OR Industry = 'x') LIMIT 2"
        },
    )
    assert isinstance(body, dict)
    assert body["totalSize"] == 2
    status, body, _ = await org.call("GET", "/query", params={"q": "SELECT COUNT() FROM Account"})
    assert isinstance(body, dict)
    assert body == {"totalSize": 8, "done": True, "records": []}
    status, body, _ = await org.call("GET", "/query", params={"q": "SELECT Nope FROM Account"})
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_FIELD"
    status, body, _ = await org.call("GET", "/query", params={"q": "SELEKT Id FROM Account"})
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "MALFORMED_QUERY"


async def test_won_opportunities_with_parent_fields(org: Org) -> None:
    _, acct, _ = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
    assert isinstance(acct, dict)
    for stage in ("Closed Won", "Closed Lost", "Prospecting"):
        await org.call(
            "POST",
            "/sobjects/Opportunity",
            {"Name": stage, "AccountId": acct["id"], "StageName": stage, "CloseDate": "2026-11-30"},
        )
    q = "SELECT Id, Name, Account.Name, IsWon FROM Opportunity WHERE IsWon = true"
    _, body, _ = await org.call("GET", "/query/", params={"q": q})
    assert isinstance(body, dict)
    [won] = body["records"]
    assert won["Name"] == "Closed Won"
    assert won["IsWon"] is True
    assert won["Account"]["Name"] == "ACME"
    assert won["Account"]["attributes"]["type"] == "Account"


async def test_query_locators_expire(org: Org, clock: FakeClock) -> None:
    for i in range(4):
        await org.call("POST", "/sobjects/Account", {"Name": f"A{i}"})
    _, body, _ = await org.call("GET", "/query", params={"q": "SELECT Id FROM Account"})
    assert isinstance(body, dict)
    await clock.advance(16 * 60)
    async with org.http.get(org.url + body["nextRecordsUrl"], headers=org.headers()) as resp:
        assert resp.status == 400
        assert (await resp.json())[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


async def test_collections_all_or_none(org: Org) -> None:
    good = {"attributes": {"type": "Account"}, "Name": "Good"}
    bad = {"attributes": {"type": "Opportunity"}, "Name": "Bad"}
    status, body, _ = await org.call(
        "POST", "/composite/sobjects", {"allOrNone": False, "records": [good, bad]}
    )
    assert status == 200
    assert isinstance(body, list)
    assert body[0]["success"] is True
    assert body[1]["success"] is False
    assert body[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    status, body, _ = await org.call(
        "POST", "/composite/sobjects", {"allOrNone": True, "records": [good, bad]}
    )
    assert isinstance(body, list)
    assert body[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert len(org.box.store.records("Account")) == 1
    status, body, _ = await org.call("POST", "/composite/sobjects", {"records": [good] * 201})
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    records = [
        {"attributes": {"type": "Account"}, "External_Id__c": f"E{i}", "Name": "n"}
        for i in range(3)
    ]
    status, body, _ = await org.call(
        "PATCH", "/composite/sobjects/Account/External_Id__c", {"records": records}
    )
    assert isinstance(body, list)
    assert [r["created"] for r in body] == [True, True, True]
    status, body, _ = await org.call(
        "PATCH", "/composite/sobjects/Account/External_Id__c", {"records": records[:1]}
    )
    assert isinstance(body, list)
    assert body[0]["created"] is False


async def test_daily_allowance_gives_403_and_limits_resource(org: Org) -> None:
    status, body, _ = await org.call("GET", "/limits")
    assert isinstance(body, dict)
    assert body["DailyApiRequests"] == {"Max": 50, "Remaining": 49}
    for _ in range(49):
        await org.call("GET", "/limits")
    status, body, headers = await org.call("GET", "/limits")
    assert status == 403
    assert headers["Sforce-Limit-Info"] == "api-usage=50/50"
    assert body == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


async def test_updated_window_is_limited_to_30_days(org: Org) -> None:
    status, body, _ = await org.call(
        "GET",
        "/sobjects/Account/updated/",
        params={"start": "2026-08-01T00:00:00+00:00", "end": "2026-09-21T00:00:00+00:00"},
    )
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_REPLICATION_DATE"


async def test_every_object_carries_a_currency_defaulting_to_the_orgs(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    # a multi-currency org: CurrencyIsoCode on every object, the corporate currency unless given
    box = SalesforceSandbox(clock=clock, currency="EUR")
    async with open_sandbox(box) as url:
        org = Org(box, url, http, box.issue_token())
        _, account, _ = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
        _, contract, _ = await org.call(
            "POST", "/sobjects/Contract", {"AccountId": account["id"], "CurrencyIsoCode": "GBP"}
        )
        _, deal, _ = await org.call(
            "POST",
            "/sobjects/Opportunity",
            {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
        )
        status, milestone, _ = await org.call(
            "POST", "/sobjects/Milestone__c", {"Name": "M1", "CurrencyIsoCode": "CHF"}
        )
        assert status == 201
        currencies = {}
        for obj, created in (
            ("Account", account),
            ("Contract", contract),
            ("Opportunity", deal),
            ("Milestone__c", milestone),
        ):
            _, record, _ = await org.call("GET", f"/sobjects/{obj}/{created['id']}")
            q = f"SELECT Id, CurrencyIsoCode FROM {obj}"
            status, page, _ = await org.call("GET", "/query", params={"q": q})
            assert status == 200
            assert page["records"][0]["CurrencyIsoCode"] == record["CurrencyIsoCode"]
            currencies[obj] = record["CurrencyIsoCode"]
        assert currencies == {
            "Account": "EUR",
            "Contract": "GBP",
            "Opportunity": "EUR",
            "Milestone__c": "CHF",
        }
        status, _, _ = await org.call(
            "PATCH", f"/sobjects/Account/{account['id']}", {"CurrencyIsoCode": "USD"}
        )
        assert status == 204
        _, record, _ = await org.call("GET", f"/sobjects/Account/{account['id']}")
        assert record["CurrencyIsoCode"] == "USD"


async def test_collection_results_decode_with_the_codec(org: Org) -> None:
    # the codec reads sObject Collections' own error shape ({statusCode, message, fields})
    records = [
        {"attributes": {"type": "Account"}, "Name": "Good", "External_Id__c": "G"},
        {"attributes": {"type": "Account"}, "External_Id__c": "B"},
    ]
    async with org.http.patch(
        org.url + API + "/composite/sobjects/Account/External_Id__c",
        json={"allOrNone": False, "records": records},
        headers=org.headers(),
    ) as resp:
        assert resp.status == 200
        body = await resp.read()
    good, bad = decode_salesforce(body, list[SfSaveResult])
    assert (good.success, good.created, good.errors) == (True, True, [])
    assert bad.success is False
    assert [(e.code, e.fields) for e in bad.errors] == [("REQUIRED_FIELD_MISSING", ["Name"])]
