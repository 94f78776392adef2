"""Canonical → Salesforce: what the flows write back to the CRM, and seeds for sandbox and demo.

Field names are the org's API names (see `salesforce_wire` for the custom fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import msgspec

from mediator.codecs.canonical.engagements import BillingModel, Engagement
from mediator.codecs.canonical.parties import Address, Client

__all__ = [
    "account_sync_fields",
    "account_to_salesforce",
    "encode_salesforce",
    "opportunity_to_salesforce",
]

_ENCODER = msgspec.json.Encoder(decimal_format="number")
_MODEL_LABELS: Mapping[BillingModel, str] = MappingProxyType(
    {"time_and_materials": "Time & Materials", "fixed_fee": "Fixed Fee", "retainer": "Retainer"}
)


def encode_salesforce(fields: Mapping[str, object]) -> bytes:
    """Encode an sObject body: JSON with Decimals as numbers and dates as ISO text."""
    return _ENCODER.encode(dict(fields))


def account_sync_fields(
    *,
    erp_party_id: str | None = None,
    psa_client_id: str | None = None,
    billing_customer_id: str | None = None,
    status: str | None = None,
) -> dict[str, object]:
    """Return the Account fields the flows write back (only those given), for a PATCH."""
    fields = {
        "ERP_Party_Id__c": erp_party_id,
        "PSA_Client_Id__c": psa_client_id,
        "Billing_Customer_Id__c": billing_customer_id,
        "Sync_Status__c": status,
    }
    return {name: value for name, value in fields.items() if value is not None}


def account_to_salesforce(client: Client) -> dict[str, object]:
    """Return the Account fields that represent `client` (seeding a sandbox, the demo)."""
    address = client.billing_address or Address()
    exempt = {"exempt": "Exempt", "reverse": "Reverse charge"}.get(client.tax.exempt)
    fields: dict[str, object | None] = {
        "Name": client.name,
        "ParentId": client.parent_id,
        "BillingStreet": address.street,
        "BillingCity": address.city,
        "BillingState": address.region,
        "BillingPostalCode": address.postal_code,
        "BillingCountryCode": address.country,
        "Tax_Id__c": client.tax.tax_id,
        "Tax_Exempt__c": exempt,
        "Legal_Entity__c": client.legal_entity,
        "CurrencyIsoCode": client.currency,
    }
    return {name: value for name, value in fields.items() if value is not None}


def opportunity_to_salesforce(
    engagement: Engagement, *, stage: str = "Closed Won"
) -> dict[str, object]:
    """Return the Opportunity fields that represent `engagement` (seeding a sandbox, the demo)."""
    fields: dict[str, object | None] = {
        "Name": engagement.name,
        "AccountId": engagement.client_id,
        "StageName": stage,
        "CloseDate": engagement.won_on,
        "Amount": None if engagement.value is None else engagement.value.to_decimal(),
        "CurrencyIsoCode": engagement.currency,
        "Billing_Model__c": _MODEL_LABELS[engagement.billing_model],
        "Service_Line__c": engagement.service_line,
        "Delivery_Region__c": engagement.delivery_region,
        "Legal_Entity__c": engagement.legal_entity,
        "Payment_Terms_Days__c": engagement.payment_terms_days,
        "Retainer_Interval__c": engagement.retainer_interval,
    }
    return {name: value for name, value in fields.items() if value is not None}
