"""The Salesforce REST sandbox (CRM): OAuth2, sObjects, upsert, SOQL, collections, limits."""

from mediator.sandbox.salesforce.app import SalesforceSandbox
from mediator.sandbox.salesforce.schema import STAGES, ObjectSchema, Stage, salesforce_id
from mediator.sandbox.salesforce.store import ApiError, SalesforceStore

__all__ = [
    "STAGES",
    "ApiError",
    "ObjectSchema",
    "SalesforceSandbox",
    "SalesforceStore",
    "Stage",
    "salesforce_id",
]
