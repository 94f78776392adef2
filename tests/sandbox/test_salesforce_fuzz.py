"""Fuzzing the Salesforce sandbox: hostile SOQL, JSON bodies, ids and windows on every route.

Whatever arrives — SOQL built from real keywords, fields and literals in any order, deep
parentheses, impossible dates; JSON bodies of any shape and depth; ids of every length and
case; broken change windows — the answer is never a 5xx, and every 4xx is Salesforce's error
array `[{"message", "errorCode"}]` (the OAuth endpoint's `{"error", "error_description"}`).
Bounded for CI; see `fuzzing.py` for the longer run.
"""

import asyncio
import json
from typing import Any
from urllib.parse import quote

import requests
from hypothesis import given
from hypothesis import strategies as st

from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.testing import FakeClock
from tests.sandbox.fuzz_settings import fuzzed, no_server_error

API = "/services/data/v59.0"
OBJECTS = ["Account", "Opportunity", "Contract", "Milestone__c", "Nothing", "account", "X__c"]
FIELDS = [
    "Id",
    "Name",
    "IsDeleted",
    "CreatedDate",
    "SystemModstamp",
    "OwnerId",
    "Amount",
    "CloseDate",
    "StageName",
    "IsWon",
    "AccountId",
    "Account.Name",
    "ParentId",
    "Parent.Name",
    "ContractTerm",
    "External_Id__c",
    "Opportunity__c",
    "Opportunity__r.Name",
    "Custom__c",
    "CurrencyIsoCode",
    "AnnualRevenue",
    "Nope",
    "a.b.c",
]
WORDS = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "COUNT",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "null",
    "true",
    "false",
    "TODAY",
    "YESTERDAY",
    "LAST_N_DAYS:30",
    "LAST_N_DAYS:99999999999",
    "'x'",
    "'%a%'",
    "'",
    "5",
    "-1",
    "1.5",
    "2026-01-01",
    "2026-13-45",
    "2026-01-01T00:00:00Z",
    "2026-02-30T10:00:00+14:00",
    "9" * 30,
]


@st.composite
def soql(draw: st.DrawFn) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # well-formed head, random tail
        fields = ", ".join(draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4)))
        tail = " ".join(draw(st.lists(st.sampled_from([*WORDS, *FIELDS]), max_size=12)))
        return f"SELECT {fields} FROM {draw(st.sampled_from(OBJECTS))} {tail}"
    if kind == 1:  # nesting
        depth = draw(st.integers(0, 400))
        op = draw(st.sampled_from(["(", "NOT ", "NOT ("]))
        close = ")" * depth if "(" in op else ""
        return f"SELECT Id FROM Account WHERE {op * depth}Name = 'x'{close}"
    if kind == 2:
        return " ".join(draw(st.lists(st.sampled_from([*WORDS, *FIELDS]), max_size=20)))
    return draw(st.text(max_size=80))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.text(min_size=250, max_size=300),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    names = st.sampled_from([*FIELDS, "attributes", "Rating__c"]) | st.text(max_size=10)
    record = draw(st.dictionaries(names, JSON, max_size=6))
    if draw(st.booleans()):
        record["attributes"] = {"type": draw(st.sampled_from(OBJECTS))}
    return record


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return json.dumps(draw(records())).encode()
    if kind == 1:
        wrapper = {
            "allOrNone": draw(JSON),
            "records": draw(st.lists(records(), max_size=4) | JSON),
        }
        return json.dumps(wrapper).encode()
    if kind == 2:
        depth = draw(st.integers(1, 20_000))
        return b'{"Name":' + b"[" * depth + b"]" * depth + b"}"
    if kind == 3:
        return json.dumps(draw(JSON)).encode()
    return draw(st.binary(max_size=40))


@st.composite
def ids(draw: st.DrawFn, known: list[str]) -> str:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.sampled_from(known))
    if choice == 1:  # a known id, mangled: case, length, checksum
        base = draw(st.sampled_from(known))
        return draw(
            st.sampled_from(
                [
                    base.lower(),
                    base.upper(),
                    base[:15],
                    base[:17],
                    base + "A",
                    base[:15] + "999",
                    base[:15] + "zzz",
                ]
            )
        )
    alphabet = st.sampled_from("abcXYZ0129")
    if choice == 2:
        return draw(st.text(alphabet, min_size=15, max_size=18))
    return quote(draw(st.text(min_size=1, max_size=20)), safe="") or "x"


STAMPS = st.sampled_from(
    [
        "2026-09-20T00:00:00Z",
        "2026-09-21T14:00:00+00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "nope",
        "",
        "2026-13-45T00:00:00Z",
        "2026-09-21",
    ]
)


Call = tuple[str, str, dict[str, str] | None, bytes | None]


def calls(obj: str, record: str, locator: str, known: list[str]) -> st.SearchStrategy[Call]:
    """One request to one route, its inputs drawn only for that route."""
    window = st.fixed_dictionaries({"start": STAMPS, "end": STAMPS})
    none = st.none()
    return st.one_of(
        st.tuples(
            st.just("GET"),
            st.sampled_from(["/query", "/queryAll"]),
            soql().map(lambda q: {"q": q}),
            none,
        ),
        st.tuples(
            st.just("GET"),
            st.sampled_from([f"/query/{record}", f"/query/{locator}", f"/query/{locator[:-1]}x"]),
            none,
            none,
        ),
        st.tuples(st.just("POST"), st.just(f"/sobjects/{obj}"), none, bodies()),
        st.tuples(
            st.just("GET"),
            st.just(f"/sobjects/{obj}/{record}"),
            st.text(max_size=20).map(lambda f: {"fields": f}),
            none,
        ),
        st.tuples(st.just("PATCH"), st.just(f"/sobjects/{obj}/{record}"), none, bodies()),
        st.tuples(st.just("DELETE"), st.just(f"/sobjects/{obj}/{record}"), none, none),
        st.tuples(
            st.just("PATCH"),
            st.just(f"/sobjects/{obj}/External_Id__c/{record}"),
            st.sampled_from([None, {"updateOnly": "true"}]),
            bodies(),
        ),
        st.tuples(st.just("GET"), st.just(f"/sobjects/{obj}/External_Id__c/{record}"), none, none),
        st.tuples(
            st.just("GET"),
            st.sampled_from([f"/sobjects/{obj}/describe", "/sobjects", "/limits", ""]),
            none,
            none,
        ),
        st.tuples(
            st.just("GET"),
            st.sampled_from([f"/sobjects/{obj}/updated", f"/sobjects/{obj}/deleted"]),
            window,
            none,
        ),
        st.tuples(
            st.sampled_from(["POST", "PATCH"]),
            st.sampled_from(["/composite/sobjects", f"/composite/sobjects/{obj}/External_Id__c"]),
            none,
            bodies(),
        ),
        st.tuples(
            st.just("DELETE"),
            st.just("/composite/sobjects"),
            st.fixed_dictionaries(
                {
                    "ids": st.lists(ids(known), max_size=5).map(",".join),
                    "allOrNone": st.sampled_from(["true", "false", "x"]),
                }
            ),
            none,
        ),
        st.tuples(st.just("PUT"), st.just(f"/sobjects/{obj}"), none, none),
    )


async def test_salesforce_routes_never_answer_5xx_and_4xx_is_salesforce_shaped(
    clock: FakeClock,
) -> None:
    box = SalesforceSandbox(clock=clock, daily_api_requests=10**9, query_batch_size=2)
    async with open_sandbox(box) as url:

        def scenario() -> None:
            with requests.Session() as http:
                http.trust_env = False
                http.headers["Authorization"] = f"Bearer {box.issue_token()}"
                known = []
                for i in range(3):
                    created = http.post(
                        url + API + "/sobjects/Account",
                        json={"Name": f"A{i}", "External_Id__c": f"E{i}"},
                    )
                    known.append(created.json()["id"])
                page = http.get(url + API + "/query", params={"q": "SELECT Id FROM Account"})
                locator = page.json()["nextRecordsUrl"].rsplit("/", 1)[1]
                known.append(locator)

                @fuzzed
                @given(data=st.data())
                def probe(data: Any) -> None:
                    obj = data.draw(st.sampled_from(OBJECTS))
                    record = data.draw(ids(known))
                    method, path, params, body = data.draw(calls(obj, record, locator, known))
                    what = f"{method} {path} {params!r:.300} {body!r:.300}"
                    response = http.request(
                        method,
                        url + API + path,
                        params=params,
                        data=body,
                        headers={
                            "Content-Type": "application/json",
                            "Sforce-Query-Options": data.draw(
                                st.sampled_from(
                                    ["", "batchSize=200", "batchSize=²", "batchSize=-5"]
                                )
                            ),
                        },
                    )
                    answer = no_server_error(response, what)
                    if 400 <= response.status_code < 500:
                        assert isinstance(answer, list), what
                        assert all(isinstance(e["errorCode"], str) for e in answer), what
                        assert all(isinstance(e["message"], str) for e in answer), what

                probe()

                @fuzzed
                @given(
                    body=st.binary(max_size=60),
                    kind=st.sampled_from(
                        [
                            "application/x-www-form-urlencoded",
                            "application/json",
                            "multipart/form-data; boundary=x",
                            "text/plain",
                        ]
                    ),
                )
                def token(body: bytes, kind: str) -> None:
                    response = requests.post(
                        url + "/services/oauth2/token", data=body, headers={"Content-Type": kind}
                    )
                    answer = no_server_error(response, f"token {kind} {body!r}")
                    if response.status_code >= 400:
                        assert set(answer) == {"error", "error_description"}

                token()

        await asyncio.to_thread(scenario)
