"""simple-salesforce, unchanged, creates, upserts and queries accounts against the sandbox."""

import asyncio
import datetime
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from mediator.sandbox.loopback import open_sandbox
from mediator.sandbox.salesforce import SalesforceSandbox
from mediator.testing import FakeClock


class _PlainHTTP(HTTPAdapter):
    # simple-salesforce hard-codes https://; the sandbox speaks plain HTTP on loopback.
    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        request.url = request.url.replace("https://", "http://", 1)
        return super().send(request, *args, **kwargs)


def _client(url: str, token: str) -> Any:
    """simple-salesforce on the sandbox. Typed Any: the SDK types ``sf.<sObject>`` as a union of
    `SFType` and its bulk handlers, so its documented use (``sf.Account.create``) only checks
    dynamically; the answers are Salesforce's JSON, whose shape the assertions check."""
    session = requests.Session()
    session.trust_env = False
    session.mount("https://127.0.0.1", _PlainHTTP())
    return Salesforce(instance_url=url, session_id=token, session=session, version="59.0")


def _scenario(sf: Any) -> dict[str, Any]:
    created = sf.Account.create({"Name": "ACME", "External_Id__c": "C-42"})
    status_update = sf.Account.upsert("External_Id__c/C-42", {"Industry": "Consulting"})
    status_create = sf.Account.upsert("External_Id__c/C-43", {"Name": "Beta"})
    fetched = sf.Account.get(created["id"])
    by_ext = sf.Account.get_by_custom_id("External_Id__c", "C-43")
    everything = sf.query_all("SELECT Id, Name, Industry FROM Account ORDER BY Name")
    sf.Account.delete(by_ext["Id"])
    start = datetime.datetime(2026, 9, 21, 14, 0, tzinfo=datetime.UTC)
    end = datetime.datetime(2026, 9, 21, 15, 0, tzinfo=datetime.UTC)
    return {
        "created": created,
        "update": status_update,
        "create": status_create,
        "fetched": fetched,
        "by_ext": by_ext,
        "all": everything,
        "updated": sf.Account.updated(start, end),
        "deleted": sf.Account.deleted(start, end),
        "describe": sf.Account.describe(),
        "global": sf.describe(),
    }


def _content(exc: BaseException) -> Any:
    """The error's body: simple-salesforce declares ``content: bytes`` but holds the JSON list."""
    assert isinstance(exc, SalesforceError), exc
    return exc.content


async def test_simple_salesforce_round_trip(clock: FakeClock) -> None:
    box = SalesforceSandbox(clock=clock, query_batch_size=1)
    async with open_sandbox(box) as url:
        sf = _client(url, box.issue_token())
        out = await asyncio.to_thread(_scenario, sf)
    assert out["created"]["success"] is True
    assert out["update"] == 200
    assert out["create"] == 201
    assert out["fetched"]["Industry"] == "Consulting"
    assert out["by_ext"]["Name"] == "Beta"
    assert out["all"]["totalSize"] == 2
    assert [r["Name"] for r in out["all"]["records"]] == ["ACME", "Beta"]  # two pages of one
    assert box.requests.matching("GET", "/services/data/v59.0/query/01g")
    assert out["updated"]["ids"] == [out["created"]["id"]]
    assert [d["id"] for d in out["deleted"]["deletedRecords"]] == [out["by_ext"]["Id"]]
    assert out["describe"]["keyPrefix"] == "001"
    assert "Milestone__c" in {o["name"] for o in out["global"]["sobjects"]}
    assert {"External_Id__c", "Name"} <= {f["name"] for f in out["describe"]["fields"]}


async def test_simple_salesforce_sees_expired_session(clock: FakeClock) -> None:
    box = SalesforceSandbox(clock=clock)
    async with open_sandbox(box) as url:
        sf = _client(url, box.issue_token(ttl=1))
        await clock.advance(2)
        with pytest.raises(SalesforceExpiredSession) as caught:
            await asyncio.to_thread(sf.query, "SELECT Id FROM Account")
    assert caught.value.status == 401


async def test_simple_salesforce_maps_our_errors(clock: FakeClock) -> None:
    from simple_salesforce.exceptions import (
        SalesforceMalformedRequest,
        SalesforceMoreThanOneRecord,
        SalesforceRefusedRequest,
    )

    box = SalesforceSandbox(clock=clock, daily_api_requests=5)
    async with open_sandbox(box) as url:
        sf = _client(url, box.issue_token())

        def scenario() -> dict[str, Exception]:
            caught: dict[str, Exception] = {}
            sf.Account.create({"Name": "A", "External_Id__c": "X"})
            sf.Account.create({"Name": "B", "External_Id__c": "x"})
            for name, call in (
                ("ambiguous", lambda: sf.Account.upsert("External_Id__c/X", {"Name": "C"})),
                ("invalid", lambda: sf.Opportunity.create({"Name": "no stage"})),
                ("limit", lambda: [sf.query("SELECT Id FROM Account") for _ in range(5)]),
            ):
                try:
                    call()
                except Exception as exc:  # noqa: BLE001 - the SDK's class is what is checked
                    caught[name] = exc
            return caught

        caught = await asyncio.to_thread(scenario)
    assert isinstance(caught["ambiguous"], SalesforceMoreThanOneRecord)
    assert isinstance(caught["invalid"], SalesforceMalformedRequest)
    assert isinstance(caught["limit"], SalesforceRefusedRequest)
    assert _content(caught["limit"])[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


async def test_simple_salesforce_sees_invalid_type_for_an_unknown_object(
    clock: FakeClock,
) -> None:
    # issue #14: SOQL on an unknown object answered 404 NOT_FOUND, not 400 INVALID_TYPE
    from simple_salesforce.exceptions import SalesforceMalformedRequest

    box = SalesforceSandbox(clock=clock)
    async with open_sandbox(box) as url:
        sf = _client(url, box.issue_token())
        with pytest.raises(SalesforceMalformedRequest) as caught:
            await asyncio.to_thread(sf.query, "SELECT Id FROM Invoice__c")
    assert caught.value.status == 400
    [error] = _content(caught.value)
    assert error["errorCode"] == "INVALID_TYPE"
    assert error["message"].startswith("sObject type 'Invoice__c' is not supported.")


async def test_simple_salesforce_describe_reports_real_field_types(clock: FakeClock) -> None:
    # issue #14: describe said `Id` was a reference, system fields strings, no nameField, ...
    box = SalesforceSandbox(clock=clock)
    async with open_sandbox(box) as url:
        sf = _client(url, box.issue_token())
        milestone, opportunity = await asyncio.gather(
            asyncio.to_thread(sf.Milestone__c.describe),
            asyncio.to_thread(sf.Opportunity.describe),
        )
    fields = {f["name"]: f for f in milestone["fields"]}
    assert fields["Id"]["type"] == "id"
    assert fields["Id"]["soapType"] == "tns:ID"
    assert fields["IsDeleted"]["type"] == "boolean"
    for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert fields[stamp]["type"] == "datetime"
    for name, relationship in (
        ("CreatedById", "CreatedBy"),
        ("LastModifiedById", "LastModifiedBy"),
        ("OwnerId", "Owner"),
    ):
        assert fields[name]["type"] == "reference"
        assert fields[name]["referenceTo"] == ["User"]
        assert fields[name]["relationshipName"] == relationship
    assert fields["Opportunity__c"]["referenceTo"] == ["Opportunity"]
    assert fields["Opportunity__c"]["relationshipName"] == "Opportunity__r"
    assert fields["Name"]["nameField"] is True
    assert [n for n, f in fields.items() if f["nameField"]] == ["Name"]
    assert fields["Name"]["length"] == 80
    assert fields["External_Id__c"]["externalId"] is True
    # the firm's own custom fields are described with their types too
    assert (fields["Amount__c"]["type"], fields["Amount__c"]["scale"]) == ("currency", 2)
    assert fields["Due_Date__c"]["type"] == "date"
    assert fields["Amount__c"]["custom"] is True
    assert milestone["labelPlural"] == "Milestones"
    assert milestone["deletable"] is True
    assert milestone["urls"]["describe"] == "/services/data/v59.0/sobjects/Milestone__c/describe"
    assert milestone["urls"]["rowTemplate"] == "/services/data/v59.0/sobjects/Milestone__c/{ID}"
    deal = {f["name"]: f for f in opportunity["fields"]}
    assert opportunity["labelPlural"] == "Opportunities"
    assert (deal["Amount"]["type"], deal["Amount"]["scale"]) == ("currency", 2)
    assert deal["CloseDate"]["type"] == "date"
    assert deal["IsWon"]["type"] == "boolean"
    assert deal["IsWon"]["createable"] is False
    assert "Closed Won" in {v["value"] for v in deal["StageName"]["picklistValues"]}
    assert deal["StageName"]["nillable"] is False  # required


async def test_simple_salesforce_sees_type_and_id_errors(clock: FakeClock) -> None:
    from simple_salesforce.exceptions import (
        SalesforceMalformedRequest,
        SalesforceResourceNotFound,
    )

    box = SalesforceSandbox(clock=clock)
    async with open_sandbox(box) as url:
        sf = _client(url, box.issue_token())

        def scenario() -> dict[str, Exception]:
            caught: dict[str, Exception] = {}
            account = sf.Account.create({"Name": "ACME"})
            calls: tuple[tuple[str, Callable[[], object]], ...] = (
                ("too_long", lambda: sf.Account.create({"Name": "x" * 300})),
                (
                    "not_a_number",
                    lambda: sf.Account.update(account["id"], {"AnnualRevenue": "a lot"}),
                ),
                (
                    "bad_date",
                    lambda: sf.Opportunity.create(
                        {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-13-45"}
                    ),
                ),
                ("unknown", lambda: sf.Account.get("001000000000999AAA")),
                ("malformed", lambda: sf.Account.get(account["id"][:15] + "999")),
            )
            for name, call in calls:
                try:
                    call()
                except Exception as exc:  # noqa: BLE001 - the SDK's class is what is checked
                    caught[name] = exc
            return caught

        caught = await asyncio.to_thread(scenario)
    codes = {name: (type(exc), _content(exc)[0]["errorCode"]) for name, exc in caught.items()}
    assert codes == {
        "too_long": (SalesforceMalformedRequest, "STRING_TOO_LONG"),
        "not_a_number": (SalesforceMalformedRequest, "INVALID_TYPE_ON_FIELD_IN_RECORD"),
        "bad_date": (SalesforceMalformedRequest, "JSON_PARSER_ERROR"),
        "unknown": (SalesforceResourceNotFound, "NOT_FOUND"),
        "malformed": (SalesforceMalformedRequest, "MALFORMED_ID"),
    }
