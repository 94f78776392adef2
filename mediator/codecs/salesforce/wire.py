"""Salesforce REST records as they arrive: Account, Opportunity, Contract, Milestone__c, pages.

Field names are the API names, so the Structs read SOQL results and sObject GETs directly.
Custom fields of this firm's org (``__c``) are declared here and nowhere else:

    Account       Tax_Id__c, Tax_Exempt__c, Tax_Profile__c, Legal_Entity__c, Billing_Email__c,
                  ERP_Party_Id__c, PSA_Client_Id__c, Billing_Customer_Id__c, Sync_Status__c
    Opportunity   Project_Key__c, Service_Line__c, Delivery_Region__c, Legal_Entity__c,
                  Billing_Model__c, Payment_Terms_Days__c, Retainer_Interval__c, Staffing__c
                  (long text: one ``email=role`` a line), CurrencyIsoCode (multi-currency);
                  written back: Sync_Status__c, ERP_Project_Id__c, PSA_Project_Id__c,
                  Billing_Customer_Id__c
    Milestone__c  Opportunity__c, Contract__c, Account__c, Amount__c, Due_Date__c, Status__c,
                  Approved_Date__c
    Change_Order__c  Opportunity__c, Effective_Date__c, Amount_Delta__c, Role__c,
                  New_Bill_Rate__c, New_Cost_Rate__c, Description__c, Status__c (Draft,
                  Approved, Applied, Cancelled)

The ids and status the flows write back (``*_Id__c``, ``Sync_Status__c``) are read too, so a
poll shows what the CRM holds; nothing reads them as input to a decision.

Amounts (currency fields) are JSON numbers; they decode straight into `Decimal`, checked by
`WireStruct` (finite, bounded), as is ``SystemModstamp`` (with an offset).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Generic, TypeVar

import msgspec

from mediator.codecs.validation import Identifier, Text, Timestamp, WireStruct
from mediator.codecs.validation import Name as Label

__all__ = [
    "SfAccount",
    "SfAttributes",
    "SfChangeOrder",
    "SfContract",
    "SfError",
    "SfInvoiceStatus",
    "SfMilestone",
    "SfOpportunity",
    "SfRecordId",
    "SfSaveError",
    "SfSaveResult",
    "SoqlPage",
]

R = TypeVar("R")


class SfAttributes(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The ``attributes`` member of every record: its sObject type and REST URL."""

    type: Label
    url: Text | None = None


class _Record(WireStruct, frozen=True, kw_only=True, gc=False):
    attributes: SfAttributes | None = None
    Id: Identifier
    SystemModstamp: Timestamp | None = None
    IsDeleted: bool = False


class SfAccount(_Record, frozen=True, kw_only=True):
    """An Account: a client, in a hierarchy through ``ParentId``."""

    Name: Label
    ParentId: Identifier | None = None
    BillingStreet: Text | None = None
    BillingCity: Label | None = None
    BillingState: Label | None = None
    BillingPostalCode: Label | None = None
    BillingCountry: Label | None = None
    BillingCountryCode: Identifier | None = None
    CurrencyIsoCode: Identifier | None = None
    Tax_Id__c: Identifier | None = None
    Tax_Exempt__c: Label | None = None
    Tax_Profile__c: Label | None = None
    Legal_Entity__c: Label | None = None
    Billing_Email__c: Label | None = None
    ERP_Party_Id__c: Identifier | None = None
    PSA_Client_Id__c: Identifier | None = None
    Billing_Customer_Id__c: Identifier | None = None
    Sync_Status__c: Label | None = None


class SfOpportunity(_Record, frozen=True, kw_only=True):
    """An Opportunity: a deal; won when ``IsWon`` (derived from its stage by Salesforce)."""

    Name: Label
    AccountId: Identifier | None = None
    Amount: Decimal | None = None
    CloseDate: datetime.date
    StageName: Label
    IsClosed: bool = False
    IsWon: bool = False
    ContractId: Identifier | None = None
    CurrencyIsoCode: Identifier | None = None
    Service_Line__c: Label | None = None
    Delivery_Region__c: Label | None = None
    Legal_Entity__c: Label | None = None
    Billing_Model__c: Label | None = None
    Payment_Terms_Days__c: Decimal | None = None
    Retainer_Interval__c: Label | None = None
    Project_Key__c: Identifier | None = None
    Staffing__c: Text | None = None
    Sync_Status__c: Label | None = None
    ERP_Project_Id__c: Identifier | None = None
    PSA_Project_Id__c: Identifier | None = None
    Billing_Customer_Id__c: Identifier | None = None


class SfContract(_Record, frozen=True, kw_only=True):
    """A Contract: the signed terms of an account; dates and term in months."""

    AccountId: Identifier
    ContractNumber: Identifier | None = None
    Status: Label | None = None
    StartDate: datetime.date | None = None
    EndDate: datetime.date | None = None
    ContractTerm: int | None = None


class SfMilestone(_Record, frozen=True, kw_only=True):
    """A ``Milestone__c`` record: a fixed-fee deliverable of an opportunity."""

    Name: Label
    Opportunity__c: Identifier | None = None
    Contract__c: Identifier | None = None
    Account__c: Identifier | None = None
    Amount__c: Decimal | None = None
    Due_Date__c: datetime.date | None = None
    Status__c: Label | None = None
    Approved_Date__c: datetime.date | None = None
    CurrencyIsoCode: Identifier | None = None


class SfChangeOrder(_Record, frozen=True, kw_only=True):
    """A ``Change_Order__c`` record: a new rate for a role and/or a change of contract value."""

    Name: Label | None = None
    Opportunity__c: Identifier
    Effective_Date__c: datetime.date
    Amount_Delta__c: Decimal | None = None
    Role__c: Label | None = None
    New_Bill_Rate__c: Decimal | None = None
    New_Cost_Rate__c: Decimal | None = None
    Description__c: Text | None = None
    Status__c: Label | None = None
    CurrencyIsoCode: Identifier | None = None


class SfRecordId(_Record, frozen=True, kw_only=True):
    """Any record read for its ``Id`` only (does it exist?)."""


class SfInvoiceStatus(_Record, frozen=True, kw_only=True):
    """An Opportunity or Account as cash application writes it: the last invoice's status."""

    Invoice_Number__c: Identifier | None = None
    Invoice_Status__c: Label | None = None
    Amount_Paid__c: Decimal | None = None


class SoqlPage(msgspec.Struct, Generic[R], frozen=True, kw_only=True, gc=False):
    """A SOQL result page; fetch ``nextRecordsUrl`` until ``done``."""

    totalSize: int
    done: bool
    nextRecordsUrl: Text | None = None
    records: list[R]


class SfError(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One element of Salesforce's error array."""

    message: Text
    errorCode: Identifier
    fields: list[Label] = []


class SfSaveError(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One error of a SaveResult, read from either shape Salesforce sends.

    sObject Collections results name the code ``statusCode`` (REST guide, "sObject
    Collections"); the single-record resources' error arrays say ``errorCode``. One of the two
    must be present; `code` is whichever is.
    """

    message: Text
    statusCode: Identifier | None = None
    errorCode: Identifier | None = None
    fields: list[Label] = []

    def __post_init__(self) -> None:
        if self.statusCode is None and self.errorCode is None:
            raise ValueError("Object missing required field `statusCode` (or `errorCode`)")

    @property
    def code(self) -> str:
        """The error code, whichever key carried it."""
        return self.statusCode or self.errorCode or ""


class SfSaveResult(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A create/upsert result (alone or per record of a collection call)."""

    id: Identifier | None = None
    success: bool
    errors: list[SfSaveError] = []
    created: bool | None = None
