"""The Salesforce sandbox answers Salesforce's documented shapes, statuses and headers."""

import datetime
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from mediator.codecs.salesforce.mapping import decode_salesforce
from mediator.codecs.salesforce.wire import SfSaveResult
from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.sandbox.salesforce.errors import ApiError
from mediator.sandbox.salesforce.soql import MAX_LENGTH, parse_soql
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
        self, method: str, path: str, json: object = None, **kw: Any
    ) -> tuple[int, Any, CIMultiDictProxy[str]]:
        """Status, JSON body (the sandbox's answer, Any: the test asserts its shape; None when
        empty) and headers."""
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


# -- hostile input: always Salesforce's error array, never aiohttp's 500 ---------------------


async def _soql(org: Org, q: str) -> tuple[int, Any]:
    status, body, _ = await org.call("GET", "/query", params={"q": q})
    return status, body


async def test_deeply_nested_soql_is_malformed_not_a_recursion_error(org: Org) -> None:
    # issue #13: 1,000 nested parentheses raised RecursionError (a 500 with a traceback)
    deep = "SELECT Id FROM Account WHERE " + "(" * 1000 + "Name = 'x'" + ")" * 1000
    status, body = await _soql(org, deep)
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "MALFORMED_QUERY"
    nots = "SELECT Id FROM Account WHERE " + "NOT " * 1000 + "Name = 'x'"
    status, body = await _soql(org, nots)
    assert (status, body[0]["errorCode"]) == (400, "MALFORMED_QUERY")
    # shallow nesting still works
    await org.call("POST", "/sobjects/Account", {"Name": "x"})
    fine = "SELECT Id FROM Account WHERE " + "(" * 50 + "Name = 'x'" + ")" * 50
    status, body = await _soql(org, fine)
    assert status == 200
    assert isinstance(body, dict)
    assert body["totalSize"] == 1


@pytest.mark.parametrize(
    "literal",
    ["2026-13-45", "2026-02-30", "2026-12-01T25:00:00Z", "2026-12-01T10:00:00+99:00"],
)
async def test_impossible_date_literals_are_malformed(org: Org, literal: str) -> None:
    # issue #13: `2026-13-45` raised ValueError in the parser
    status, body = await _soql(org, f"SELECT Id FROM Opportunity WHERE CloseDate > {literal}")
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "MALFORMED_QUERY"


@pytest.mark.parametrize(
    ("q", "code"),
    [
        ("SELECT Id FROM Account LIMIT 1.5", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account LIMIT -1", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Id FROM Account WHERE CreatedDate > LAST_N_DAYS:99999999999", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name LIKE 5", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE Amount = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE IsWon = 'true'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = 2026-01-01T00:00:00Z", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Nope = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Account ORDER BY Nope", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Name = 'x' \x00", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
    ],
)
async def test_soql_edge_cases_answer_400(org: Org, q: str, code: str) -> None:
    status, body = await _soql(org, q)
    assert status == 400, body
    assert isinstance(body, list)
    assert body[0]["errorCode"] == code


def test_soql_longer_than_salesforces_limit_is_malformed() -> None:
    # Over HTTP, a URL this long is refused by the server's request-line limit first.
    text = "SELECT Id FROM Account WHERE " + " OR ".join(["Name = 'x'"] * 9000)
    assert len(text) > MAX_LENGTH
    with pytest.raises(ApiError) as caught:
        parse_soql(text, today=datetime.date(2026, 12, 7))
    assert (caught.value.status, caught.value.code) == (400, "MALFORMED_QUERY")
    assert "100,000 characters" in caught.value.message
    # a long flat OR just under the limit parses (no recursion per term)
    fits = "SELECT Id FROM Account WHERE " + " OR ".join(["Name = 'x'"] * 7000)
    assert parse_soql(fits, today=datetime.date(2026, 12, 7)).where is not None


async def test_like_with_many_wildcards_answers_at_once(org: Org) -> None:
    await org.call("POST", "/sobjects/Account", {"Name": "a" * 255})
    pattern = "%a" * 60 + "%b"  # backtracking regex: exponential; the matcher: linear-ish
    status, body = await _soql(org, f"SELECT Id FROM Account WHERE Name LIKE '{pattern}'")
    assert status == 200
    assert isinstance(body, dict)
    assert body["totalSize"] == 0
    status, body = await _soql(org, "SELECT Id FROM Account WHERE Name LIKE 'a_a%'")
    assert isinstance(body, dict)
    assert body["totalSize"] == 1


async def test_a_ten_thousand_deep_json_body_is_a_parser_error(org: Org) -> None:
    # issue #13: a 10,000-deep JSON body raised RecursionError in msgspec
    deep = b'{"Name":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    for method, path in (
        ("POST", "/sobjects/Account"),
        ("POST", "/composite/sobjects"),
        ("PATCH", "/sobjects/Account/External_Id__c/X1"),
    ):
        async with org.http.request(
            method,
            org.url + API + path,
            data=deep,
            headers={**org.headers(), "Content-Type": "application/json"},
        ) as resp:
            assert resp.status == 400, path
            body = await resp.json()
        assert body[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert org.box.store.records("Account") == []


@pytest.mark.parametrize(
    ("obj", "values", "code", "field"),
    [
        ("Account", {"Name": {"a": 1}}, "JSON_PARSER_ERROR", None),
        ("Account", {"Name": ["a"]}, "JSON_PARSER_ERROR", None),
        ("Account", {"Name": "n" * 256}, "STRING_TOO_LONG", "Name"),
        (
            "Account",
            {"Name": "A", "AnnualRevenue": "lots"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            None,
        ),
        ("Account", {"Name": "A", "AnnualRevenue": True}, "INVALID_TYPE_ON_FIELD_IN_RECORD", None),
        ("Account", {"Name": "A", "AnnualRevenue": 1e30}, "NUMBER_OUTSIDE_VALID_RANGE", None),
        ("Account", {"Name": "A", "Phone": "1" * 41}, "STRING_TOO_LONG", "Phone"),
        (
            "Account",
            {"Name": "A", "CurrencyIsoCode": "XYZ"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            None,
        ),
        ("Account", {"Name": "A", "ParentId": 42}, "MALFORMED_ID", "ParentId"),
        ("Account", {"Name": "A", "OwnerId": "nope"}, "MALFORMED_ID", "OwnerId"),
        ("Account", {"Name": "A", "Rating__c": {"x": 1}}, "JSON_PARSER_ERROR", None),
        ("Account", {"Name": "A", "Big__c": 10**30}, "NUMBER_OUTSIDE_VALID_RANGE", None),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-13-45"},
            "JSON_PARSER_ERROR",
            None,
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": "Prospecting", "CloseDate": 20261201},
            "JSON_PARSER_ERROR",
            None,
        ),
        (
            "Opportunity",
            {"Name": "D", "StageName": 7, "CloseDate": "2026-12-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            None,
        ),
        (
            "Contract",
            {"ContractTerm": 1.5},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            None,
        ),
    ],
)
async def test_wrong_typed_values_are_refused_with_salesforce_codes(
    org: Org, obj: str, values: dict[str, object], code: str, field: str | None
) -> None:
    status, body, _ = await org.call("POST", f"/sobjects/{obj}", values)
    assert status == 400, body
    assert isinstance(body, list)
    assert body[0]["errorCode"] == code
    if field is not None:
        assert body[0]["fields"] == [field]


async def test_lenient_values_are_read_as_salesforce_reads_them(org: Org) -> None:
    # a Decimal encodes as "1200.50"; Salesforce's JSON reader takes numbers as strings
    _, account, _ = await org.call(
        "POST",
        "/sobjects/Account",
        {"Name": 42, "AnnualRevenue": "1200000", "Score__c": 7.5, "Flag__c": True},
    )
    assert isinstance(account, dict)
    _, deal, _ = await org.call(
        "POST",
        "/sobjects/Opportunity",
        {
            "Name": "D",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-01",
            "Amount": "1200.50",
            "AccountId": account["id"][:15],
        },
    )
    assert isinstance(deal, dict)
    _, record, _ = await org.call("GET", f"/sobjects/Account/{account['id']}")
    assert isinstance(record, dict)
    assert (record["Name"], record["AnnualRevenue"]) == ("42", 1200000)
    assert (record["Score__c"], record["Flag__c"]) == (7.5, True)
    _, record, _ = await org.call("GET", f"/sobjects/Opportunity/{deal['id']}")
    assert isinstance(record, dict)
    assert record["Amount"] == 1200.5
    assert record["AccountId"] == account["id"]  # stored in the 18-character form


async def test_record_ids_are_checked_like_salesforce(org: Org) -> None:
    _, account, _ = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
    assert isinstance(account, dict)
    account_id = account["id"]
    # an 18-character id survives a case-insensitive system: its suffix restores the case
    status, record, _ = await org.call("GET", f"/sobjects/Account/{account_id.lower()}")
    assert status == 200
    assert isinstance(record, dict)
    assert record["Id"] == account_id
    for path, status_code, code in (
        ("/sobjects/Account/nope", 404, "NOT_FOUND"),
        ("/sobjects/Account/001000000000999AAA", 404, "NOT_FOUND"),
        (f"/sobjects/Account/{account_id[:15]}999", 400, "MALFORMED_ID"),
        (f"/sobjects/Opportunity/{account_id}", 400, "MALFORMED_ID"),
    ):
        for method in ("GET", "PATCH", "DELETE"):
            status, body, _ = await org.call(
                method, path, {"Name": "x"} if method == "PATCH" else None
            )
            assert (status, body[0]["errorCode"]) == (status_code, code), (method, path)


async def test_unknown_objects_answer_invalid_type_in_soql_and_collections(org: Org) -> None:
    status, body = await _soql(org, "SELECT Id FROM Nothing__c")
    assert status == 400
    assert body == [
        {
            "message": "sObject type 'Nothing__c' is not supported. If you are attempting to "
            "use a custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
            "errorCode": "INVALID_TYPE",
        }
    ]
    status, body, _ = await org.call(
        "POST", "/composite/sobjects", {"records": [{"attributes": {"type": "Nothing"}}]}
    )
    assert status == 200
    assert isinstance(body, list)
    assert body[0]["errors"][0]["statusCode"] == "INVALID_TYPE"


async def test_hostile_token_requests_get_oauth_errors(
    clock: FakeClock, http: aiohttp.ClientSession
) -> None:
    box = SalesforceSandbox(clock=clock)
    async with open_sandbox(box) as url:
        for headers, data in (
            ({"Content-Type": "multipart/form-data; boundary=x"}, b"--y\r\nbroken"),
            ({"Content-Type": "application/json"}, b'{"grant_type": "client_credentials"}'),
            ({}, b"\xff\xfe"),
        ):
            async with http.post(
                url + "/services/oauth2/token", data=data, headers=headers
            ) as resp:
                assert resp.status == 400
                assert (await resp.json())["error"] == "unsupported_grant_type"


async def test_records_in_the_recycle_bin_are_deleted_entities(org: Org) -> None:
    _, account, _ = await org.call("POST", "/sobjects/Account", {"Name": "Gone"})
    assert isinstance(account, dict)
    await org.call("DELETE", f"/sobjects/Account/{account['id']}")
    for method, body in (("PATCH", {"Name": "x"}), ("DELETE", None)):
        status, answer, _ = await org.call(method, f"/sobjects/Account/{account['id']}", body)
        assert status == 404
        assert answer == [
            {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
        ]
    status, answer, _ = await org.call(
        "POST",
        "/sobjects/Opportunity",
        {
            "Name": "D",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-01",
            "AccountId": account["id"],
        },
    )
    assert status == 400
    assert isinstance(answer, list)
    assert (answer[0]["errorCode"], answer[0]["fields"]) == ("ENTITY_IS_DELETED", ["AccountId"])
    # still there for queryAll, with IsDeleted
    status, page, _ = await org.call(
        "GET", "/queryAll", params={"q": "SELECT Id, IsDeleted FROM Account"}
    )
    assert isinstance(page, dict)
    assert [r["IsDeleted"] for r in page["records"]] == [True]


async def test_unknown_fields_in_a_record_read_are_invalid_field(org: Org) -> None:
    _, account, _ = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
    assert isinstance(account, dict)
    path = f"/sobjects/Account/{account['id']}"
    status, record, _ = await org.call("GET", path, params={"fields": "Name, Industry"})
    assert status == 200
    assert isinstance(record, dict)
    assert set(record) == {"attributes", "Name", "Industry"}
    status, body, _ = await org.call("GET", path, params={"fields": "Name,Nope"})
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_FIELD"
    assert body[0]["message"].startswith("No such column 'Nope' on entity 'Account'.")


async def test_relative_date_literals_filter_datetime_fields(org: Org, clock: FakeClock) -> None:
    # TODAY and LAST_N_DAYS:n work on datetime fields; an explicit date does not
    await org.call("POST", "/sobjects/Account", {"Name": "Recent"})
    for q in (
        "SELECT Id FROM Account WHERE CreatedDate >= TODAY",
        "SELECT Id FROM Account WHERE SystemModstamp > LAST_N_DAYS:3",
        "SELECT Id FROM Account WHERE CreatedDate > YESTERDAY",
    ):
        status, body = await _soql(org, q)
        assert status == 200, body
        assert isinstance(body, dict)
        assert body["totalSize"] == 1, q
    status, body = await _soql(org, "SELECT Id FROM Account WHERE CreatedDate > 2026-01-01")
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "INVALID_FIELD"
    # a datetime literal with an offset compares in UTC: 14:13:20Z is 16:13:20+02:00
    created = "SELECT Id FROM Account WHERE CreatedDate = 2026-09-21T16:13:20+02:00"
    status, body = await _soql(org, created)
    assert isinstance(body, dict)
    assert body["totalSize"] == 1


async def test_the_firms_custom_fields_are_typed(org: Org) -> None:
    status, body, _ = await org.call(
        "POST", "/sobjects/Milestone__c", {"Name": "M1", "Due_Date__c": "soon"}
    )
    assert status == 400
    assert isinstance(body, list)
    assert body[0]["errorCode"] == "JSON_PARSER_ERROR"
    status, body, _ = await org.call(
        "POST", "/sobjects/Milestone__c", {"Name": "M1", "Amount__c": "1200.505"}
    )
    assert status == 201
    assert isinstance(body, dict)
    _, record, _ = await org.call("GET", f"/sobjects/Milestone__c/{body['id']}")
    assert isinstance(record, dict)
    assert record["Amount__c"] == 1200.51  # currency(16, 2): rounded half up to its scale
    assert record["Due_Date__c"] is None  # every declared field is in the record, as null


async def test_in_and_not_in_lists(org: Org) -> None:
    for name in ("a", "B", "c"):
        await org.call("POST", "/sobjects/Account", {"Name": name})
    many = ", ".join(f"'n{i}'" for i in range(500))
    status, body = await _soql(org, f"SELECT Name FROM Account WHERE Name IN ({many}, 'b', 'A')")
    assert status == 200
    assert isinstance(body, dict)
    assert sorted(r["Name"] for r in body["records"]) == ["B", "a"]
    status, body = await _soql(org, "SELECT Name FROM Account WHERE Name NOT IN ('a', 'b')")
    assert isinstance(body, dict)
    assert [r["Name"] for r in body["records"]] == ["c"]


async def test_an_id_filter_takes_only_ids(org: Org) -> None:
    _, account, _ = await org.call("POST", "/sobjects/Account", {"Name": "ACME"})
    assert isinstance(account, dict)
    status, body = await _soql(org, f"SELECT Name FROM Account WHERE Id = '{account['id']}'")
    assert isinstance(body, dict)
    assert body["totalSize"] == 1
    for q in (
        "SELECT Name FROM Account WHERE Id = 'nope'",
        "SELECT Name FROM Opportunity WHERE AccountId IN ('001000000000000AAA', 'x')",
    ):
        status, body = await _soql(org, q)
        assert status == 400
        assert body == [
            {
                "message": "invalid ID field: " + q.split("'")[-2],
                "errorCode": "INVALID_QUERY_FILTER_OPERATOR",
            }
        ]
