"""Reading one Account or Contract by its id, in canonical terms: what onboarding checks a
won deal against (its client, that client's parents, its signed contract).

One SOQL query each (``WHERE Id = '…'``), through the connector's retried, quota-counted
reads; the id is checked first, so nothing but an id ever reaches the query text.
"""

from __future__ import annotations

import re

import msgspec

from mediator.codecs.canonical.deals import Contract
from mediator.codecs.canonical.parties import Client
from mediator.codecs.salesforce.deals import contract_from_salesforce
from mediator.codecs.salesforce.mapping import client_from_salesforce
from mediator.codecs.salesforce.wire import SfAccount, SfContract
from mediator.errors import DecodeError
from mediator.systems.salesforce.connector import SalesforceConnector

__all__ = ["accounts_named", "read_account", "read_contract", "soql_string"]

_ID = re.compile(r"\A[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?\Z")
# CurrencyIsoCode exists only in multi-currency orgs: the deal carries its own currency
_SKIP = frozenset({"attributes", "CurrencyIsoCode"})


def _fields(record_type: type[msgspec.Struct]) -> str:
    names = (f.encode_name for f in msgspec.structs.fields(record_type))
    return ", ".join(name for name in names if name not in _SKIP)


def _checked(sobject: str, record_id: str) -> str:
    if not _ID.match(record_id):
        raise DecodeError("salesforce", f"$.{sobject}.Id", f"not a record id: {record_id!r:.40}")
    return record_id


async def read_account(
    connector: SalesforceConnector, account_id: str, *, priority: str | None = None
) -> Client | None:
    """The Account `account_id` as a canonical `Client` (None when there is no such record)."""
    checked = _checked("Account", account_id)
    soql = f"SELECT {_fields(SfAccount)} FROM Account WHERE Id = '{checked}'"
    found = await connector.query_all(soql, SfAccount, priority=priority)
    return client_from_salesforce(found[0]) if found else None


async def read_contract(
    connector: SalesforceConnector, contract_id: str, *, priority: str | None = None
) -> Contract | None:
    """The Contract `contract_id` in canonical terms (None when there is no such record)."""
    checked = _checked("Contract", contract_id)
    soql = f"SELECT {_fields(SfContract)} FROM Contract WHERE Id = '{checked}'"
    found = await connector.query_all(soql, SfContract, priority=priority)
    return contract_from_salesforce(found[0]) if found else None


def soql_string(value: str) -> str:
    """`value` as a SOQL string literal: quoted, its backslashes and quotes escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def accounts_named(
    connector: SalesforceConnector, name: str, *, priority: str | None = None
) -> list[str]:
    """The ids of every Account named exactly `name` (a client's namesakes, with itself)."""
    soql = f"SELECT Id, Name FROM Account WHERE Name = {soql_string(name)} ORDER BY Id"
    found = await connector.query_all(soql, SfAccount, priority=priority)
    return [record.Id for record in found]
