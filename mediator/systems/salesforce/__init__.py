"""The Salesforce connector: OAuth2 client credentials, SOQL reads, collection writes."""

from mediator.systems.salesforce.auth import ClientCredentials, SalesforceAuth, SalesforceSession
from mediator.systems.salesforce.commands import (
    ChangedRecords,
    UpdateRecord,
    Upserted,
    UpsertRecord,
)
from mediator.systems.salesforce.connector import (
    SalesforceConnector,
    soql_datetime,
)

__all__ = [
    "ChangedRecords",
    "ClientCredentials",
    "SalesforceAuth",
    "SalesforceConnector",
    "SalesforceSession",
    "UpdateRecord",
    "UpsertRecord",
    "Upserted",
    "soql_datetime",
]
