"""The Salesforce connector: OAuth2 client credentials, SOQL reads, collection writes."""

from mediator.systems.salesforce.auth import ClientCredentials, SalesforceAuth, SalesforceSession
from mediator.systems.salesforce.commands import (
    CRM_POLL,
    CRM_WRITEBACK,
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
    "CRM_POLL",
    "CRM_WRITEBACK",
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
