"""The Salesforce objects the sandbox knows: key prefixes, fields, required fields, stages."""

from __future__ import annotations

import msgspec

__all__ = [
    "CURRENCY_FIELD",
    "STAGES",
    "SYSTEM_FIELDS",
    "ObjectSchema",
    "Stage",
    "default_objects",
    "salesforce_id",
]


class Stage(msgspec.Struct, frozen=True, kw_only=True):
    """An OpportunityStage value: what `IsClosed`, `IsWon` and `Probability` derive from."""

    name: str
    probability: int
    closed: bool
    won: bool


# The stock stage picklist of a new org; wins are detected by `IsWon`, not by the label.
STAGES: dict[str, Stage] = {
    s.name.lower(): s
    for s in (
        Stage(name="Prospecting", probability=10, closed=False, won=False),
        Stage(name="Qualification", probability=10, closed=False, won=False),
        Stage(name="Needs Analysis", probability=20, closed=False, won=False),
        Stage(name="Value Proposition", probability=50, closed=False, won=False),
        Stage(name="Id. Decision Makers", probability=60, closed=False, won=False),
        Stage(name="Perception Analysis", probability=70, closed=False, won=False),
        Stage(name="Proposal/Price Quote", probability=75, closed=False, won=False),
        Stage(name="Negotiation/Review", probability=90, closed=False, won=False),
        Stage(name="Closed Won", probability=100, closed=True, won=True),
        Stage(name="Closed Lost", probability=0, closed=True, won=False),
    )
}

SYSTEM_FIELDS: tuple[str, ...] = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


CURRENCY_FIELD = "CurrencyIsoCode"
"""The record currency every object of a multi-currency org carries (default: the org's)."""


class ObjectSchema(msgspec.Struct, frozen=True, kw_only=True):
    """One sObject type: its 3-character key prefix, writable fields and references.

    Custom fields (`…__c`) not listed are accepted on any object, as if the org defined them;
    `external_ids` are the fields an upsert may match on (case-insensitively).
    """

    name: str
    prefix: str
    fields: tuple[str, ...]
    required: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()
    references: dict[str, str] = {}
    external_ids: tuple[str, ...] = ("External_Id__c",)

    def canonical(self, field: str) -> str | None:
        """Return the declared spelling of `field` (case-insensitive), or None if unknown."""
        wanted = field.lower()
        for name in (*SYSTEM_FIELDS, *self.fields, *self.read_only):
            if name.lower() == wanted:
                return name
        return None


# The firm's own custom fields (their types: `fields.py`), as codecs/salesforce/wire.py reads
# them and the seeding writes them; other `…__c` names are still accepted, untyped.
# what cash application writes back: the latest invoice's number, status and amount paid
_PAYMENT_STATUS = ("Invoice_Number__c", "Invoice_Status__c", "Amount_Paid__c")
_ACCOUNT_CUSTOM = (
    "Tax_Id__c",
    "Tax_Exempt__c",
    "Tax_Profile__c",
    "Legal_Entity__c",
    "Billing_Email__c",
    "ERP_Party_Id__c",
    "PSA_Client_Id__c",
    "Billing_Customer_Id__c",
    "Sync_Status__c",
    *_PAYMENT_STATUS,
    "Last_Payment_Date__c",
)
_OPPORTUNITY_CUSTOM = (
    "Project_Key__c",
    "Staffing__c",
    "Sync_Status__c",
    "ERP_Project_Id__c",
    "PSA_Project_Id__c",
    "Billing_Customer_Id__c",
    "Service_Line__c",
    "Delivery_Region__c",
    "Legal_Entity__c",
    "Billing_Model__c",
    "Payment_Terms_Days__c",
    "Retainer_Interval__c",
    *_PAYMENT_STATUS,
)
_MILESTONE_CUSTOM = ("Amount__c", "Due_Date__c", "Status__c", "Approved_Date__c", "Description__c")
_CHANGE_ORDER_CUSTOM = (
    "Effective_Date__c",
    "Amount_Delta__c",
    "Role__c",
    "New_Bill_Rate__c",
    "New_Cost_Rate__c",
    "Description__c",
    "Status__c",
)


def default_objects() -> dict[str, ObjectSchema]:
    """Return a services firm's objects: Account, Opportunity, Contract, Milestone__c and
    Change_Order__c.

    The org is multi-currency, so each object has `CURRENCY_FIELD`.
    """
    address = tuple(
        f"{kind}{part}"
        for kind in ("Billing", "Shipping")
        for part in ("Street", "City", "State", "PostalCode", "Country", "CountryCode")
    )
    objects = (
        ObjectSchema(
            name="Account",
            prefix="001",
            fields=(
                "Name",
                "ParentId",
                "Type",
                "Industry",
                "AnnualRevenue",
                "Phone",
                "Website",
                "Description",
                "OwnerId",
                CURRENCY_FIELD,
                *address,
                *_ACCOUNT_CUSTOM,
            ),
            required=("Name",),
            references={"ParentId": "Account"},
        ),
        ObjectSchema(
            name="Opportunity",
            prefix="006",
            fields=(
                "Name",
                "AccountId",
                "Amount",
                "CloseDate",
                "StageName",
                "Probability",
                "Type",
                "LeadSource",
                "Description",
                "OwnerId",
                "ForecastCategory",
                "ContractId",
                CURRENCY_FIELD,
                *_OPPORTUNITY_CUSTOM,
            ),
            required=("Name", "StageName", "CloseDate"),
            read_only=("IsClosed", "IsWon"),
            references={"AccountId": "Account", "ContractId": "Contract"},
        ),
        ObjectSchema(
            name="Contract",
            prefix="800",
            fields=(
                "AccountId",
                "StartDate",
                "EndDate",
                "ContractTerm",
                "Status",
                "Description",
                "CompanySignedDate",
                "CustomerSignedDate",
                "OwnerId",
                CURRENCY_FIELD,
                *address[:6],
            ),
            required=("AccountId",),
            read_only=("ContractNumber", "ActivatedDate"),
            references={"AccountId": "Account"},
        ),
        ObjectSchema(
            name="Milestone__c",
            prefix="a0M",
            fields=("Name", "OwnerId", CURRENCY_FIELD, *_MILESTONE_CUSTOM),
            required=("Name",),
            references={
                "Opportunity__c": "Opportunity",
                "Contract__c": "Contract",
                "Account__c": "Account",
            },
        ),
        ObjectSchema(
            name="Change_Order__c",
            prefix="a0C",
            fields=("Name", "OwnerId", CURRENCY_FIELD, *_CHANGE_ORDER_CUSTOM),
            required=("Opportunity__c", "Effective_Date__c"),
            references={"Opportunity__c": "Opportunity"},
        ),
    )
    return {o.name.lower(): o for o in objects}


_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def salesforce_id(prefix: str, number: int) -> str:
    """Return the 18-character id of record `number` of the object with key `prefix`.

    15 case-sensitive characters (prefix, a pod-like "5g0000", a base-62 counter) plus the
    3-character case-folding checksum Salesforce appends so the id survives case-insensitive
    systems.
    """
    digits = ""
    for _ in range(6):
        number, rem = divmod(number, 62)
        digits = _BASE62[rem] + digits
    short = f"{prefix}5g0000{digits}"[:15]
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, char in enumerate(short[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        suffix += _CHECKSUM_ALPHABET[bits]
    return short + suffix
