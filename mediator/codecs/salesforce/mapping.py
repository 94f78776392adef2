"""Salesforce ↔ canonical: accounts become clients, won opportunities engagements, and back.

Amounts are in the record's ``CurrencyIsoCode`` (multi-currency orgs) or else in the org's
currency, which the caller passes as `org_currency`. The reverse direction writes what the
flows write to the CRM: ids and status on the Account, and seeds for the sandbox and demo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Final, TypeVar

import msgspec

from mediator.codecs.canonical.engagements import (
    BillingModel,
    ChangeOrder,
    ChangeOrderStatus,
    Engagement,
    Milestone,
    MilestoneStatus,
    RateChange,
)
from mediator.codecs.canonical.money import Money
from mediator.codecs.canonical.parties import Address, Client, TaxProfile
from mediator.codecs.page import Page
from mediator.codecs.records import Decoded, decode_each
from mediator.codecs.salesforce import wire
from mediator.codecs.validation import WireDecoder
from mediator.errors import DecodeError

__all__ = [
    "accounts_from_soql",
    "change_order_from_salesforce",
    "client_from_salesforce",
    "decode_salesforce",
    "decode_salesforce_records",
    "engagement_from_salesforce",
    "milestone_from_salesforce",
    "milestones_from_soql",
    "opportunities_from_soql",
]

SYSTEM: Final = "salesforce"
T = TypeVar("T")

_WIRE_TYPES: tuple[object, ...] = (
    wire.SfAccount, wire.SfOpportunity, wire.SfContract, wire.SfMilestone, wire.SfChangeOrder,
    wire.SoqlPage[wire.SfAccount], wire.SoqlPage[wire.SfOpportunity],
    wire.SoqlPage[wire.SfContract], wire.SoqlPage[wire.SfMilestone],
    wire.SoqlPage[wire.SfChangeOrder], list[wire.SfError], wire.SfSaveResult,
    list[wire.SfSaveResult], wire.SoqlPage[msgspec.Raw],
    wire.SoqlPage[wire.SfRecordId], wire.SoqlPage[wire.SfInvoiceStatus],
)  # fmt: skip
_DECODERS: Mapping[object, WireDecoder[object]] = MappingProxyType(
    {kind: WireDecoder(SYSTEM, kind) for kind in _WIRE_TYPES}  # type: ignore[arg-type]  # aliases
)

_MODELS: Mapping[str, BillingModel] = MappingProxyType(
    {
        "time & materials": "time_and_materials",
        "time and materials": "time_and_materials",
        "t&m": "time_and_materials",
        "fixed fee": "fixed_fee",
        "fixed-fee": "fixed_fee",
        "retainer": "retainer",
    }
)
_STATUSES: Mapping[str, MilestoneStatus] = MappingProxyType(
    {"planned": "planned", "approved": "approved", "invoiced": "invoiced", "cancelled": "cancelled"}
)
_ORDER_STATUSES: Mapping[str, ChangeOrderStatus] = MappingProxyType(
    {"draft": "draft", "approved": "approved", "applied": "applied", "cancelled": "cancelled"}
)
_EXEMPT = MappingProxyType({"exempt": "exempt", "reverse charge": "reverse", "reverse": "reverse"})


def decode_salesforce(body: bytes | str, type: type[T]) -> T:
    """Decode a response into a wire type (``SfAccount``, ``SoqlPage[SfOpportunity]``,
    ``list[SfError]``...); `DecodeError` with the path on anything else."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        raise TypeError(f"{type!r} is not a Salesforce wire type")
    return decoder.decode(body)  # type: ignore[return-value]  # keyed by the same type


def decode_salesforce_records(
    raws: Sequence[msgspec.Raw], type: type[T], path: str = "$.records"
) -> Decoded[T]:
    """Decode each raw record of a ``SoqlPage[msgspec.Raw]`` into wire `type`, apart: one bad
    record is an `Undecodable` (with its ``Id`` and ``SystemModstamp``), not a failed page."""
    decoder = _DECODERS.get(type)
    if decoder is None:
        raise TypeError(f"{type!r} is not a Salesforce wire type")
    return decode_each(
        decoder,  # type: ignore[arg-type]  # keyed by the same type
        raws,
        path,
        id_field="Id",
        stamp_field="SystemModstamp",
    )


def _fail(path: str, field: str, reason: str) -> DecodeError:
    return DecodeError(SYSTEM, f"{path}.{field}", reason)


def _money(value: Decimal, currency: str, path: str, field: str) -> Money:
    try:
        return Money.from_decimal(value, currency)
    except ValueError as exc:
        raise _fail(path, field, str(exc)) from exc


def _currency(record_currency: str | None, org_currency: str, path: str) -> str:
    currency = record_currency or org_currency
    try:
        Money.zero(currency)
    except ValueError as exc:
        raise _fail(path, "CurrencyIsoCode", str(exc)) from exc
    return currency


def client_from_salesforce(account: wire.SfAccount, *, path: str = "$") -> Client:
    """Map an Account: hierarchy, billing address, tax id and exemption, legal entity."""
    exempt = _EXEMPT.get((account.Tax_Exempt__c or "").strip().lower(), "none")
    has_address = account.BillingStreet or account.BillingCity or account.BillingCountry
    address = (
        Address(
            street=account.BillingStreet,
            city=account.BillingCity,
            region=account.BillingState,
            postal_code=account.BillingPostalCode,
            country=account.BillingCountryCode or account.BillingCountry,
        )
        if has_address
        else None
    )
    currency = (
        None if account.CurrencyIsoCode is None else _currency(account.CurrencyIsoCode, "", path)
    )
    return Client(
        source_system=SYSTEM,
        source_id=account.Id,
        name=account.Name,
        legal_entity=account.Legal_Entity__c,
        parent_id=account.ParentId,
        tax=TaxProfile(tax_id=account.Tax_Id__c, exempt=exempt),  # type: ignore[arg-type]  # _EXEMPT's values and "none" are TaxProfile.exempt literals
        billing_address=address,
        currency=currency,
        is_active=not account.IsDeleted,
    )


def _required(value: T | None, path: str, field: str) -> T:
    if value is None or value == "":
        raise _fail(path, field, "required for a won deal")
    return value


def engagement_from_salesforce(
    opportunity: wire.SfOpportunity,
    *,
    org_currency: str,
    contract: wire.SfContract | None = None,
    path: str = "$",
) -> Engagement:
    """Map an Opportunity (and its Contract's dates) to an engagement.

    The custom fields a won deal must have (account, billing model, service line, delivery
    region) raise `DecodeError` naming the field when missing: the flow turns that into a
    business exception for sales operations.
    """
    currency = _currency(opportunity.CurrencyIsoCode, org_currency, path)
    label: str = _required(opportunity.Billing_Model__c, path, "Billing_Model__c")
    model = _MODELS.get(label.strip().lower())
    if model is None:
        raise _fail(path, "Billing_Model__c", f"unknown billing model {label!r:.40}")
    amount = opportunity.Amount
    terms = opportunity.Payment_Terms_Days__c
    if terms is not None and not (0 <= terms <= 365 and terms == terms.to_integral_value()):
        raise _fail(path, "Payment_Terms_Days__c", f"{terms} is not 0 to 365 days")
    interval = (opportunity.Retainer_Interval__c or "").strip().lower() or None
    if interval not in (None, "month", "quarter", "year"):
        raise _fail(path, "Retainer_Interval__c", f"unknown interval {interval!r:.20}")
    return Engagement(
        source_system=SYSTEM,
        source_id=opportunity.Id,
        name=opportunity.Name,
        client_id=_required(opportunity.AccountId, path, "AccountId"),
        billing_model=model,
        currency=currency,
        value=None if amount is None else _money(amount, currency, path, "Amount"),
        payment_terms_days=30 if terms is None else int(terms),
        service_line=_required(opportunity.Service_Line__c, path, "Service_Line__c"),
        delivery_region=_required(opportunity.Delivery_Region__c, path, "Delivery_Region__c"),
        legal_entity=opportunity.Legal_Entity__c,
        won_on=opportunity.CloseDate if opportunity.IsWon else None,
        starts_on=None if contract is None else contract.StartDate,
        ends_on=None if contract is None else contract.EndDate,
        retainer_interval=interval,  # type: ignore[arg-type]  # checked just above
    )


def milestone_from_salesforce(
    milestone: wire.SfMilestone, *, org_currency: str, path: str = "$"
) -> Milestone:
    """Map a ``Milestone__c``; it belongs to the engagement of its ``Opportunity__c``."""
    currency = _currency(milestone.CurrencyIsoCode, org_currency, path)
    status_label = (milestone.Status__c or "planned").strip().lower()
    status = _STATUSES.get(status_label)
    if status is None:
        raise _fail(path, "Status__c", f"unknown status {milestone.Status__c!r:.40}")
    amount = _required(milestone.Amount__c, path, "Amount__c")
    return Milestone(
        source_system=SYSTEM,
        source_id=milestone.Id,
        name=milestone.Name,
        engagement_id=_required(milestone.Opportunity__c, path, "Opportunity__c"),
        amount=_money(amount, currency, path, "Amount__c"),
        due_on=milestone.Due_Date__c,
        status=status,
        approved_on=milestone.Approved_Date__c,
    )


def change_order_from_salesforce(
    order: wire.SfChangeOrder, *, org_currency: str, path: str = "$"
) -> ChangeOrder:
    """Map a ``Change_Order__c``: a value change and/or a new rate for one role.

    ``Status__c`` (Draft, Approved, Applied, Cancelled) becomes `ChangeOrder.status`; a change
    order without one is a draft (nothing nobody approved is applied); another label raises
    `DecodeError` naming ``Status__c``.
    """
    currency = _currency(order.CurrencyIsoCode, org_currency, path)
    status = _ORDER_STATUSES.get((order.Status__c or "draft").strip().lower())
    if status is None:
        raise _fail(path, "Status__c", f"unknown status {order.Status__c!r:.40}")
    changes: tuple[RateChange, ...] = ()
    if order.New_Bill_Rate__c is not None:
        role: str = _required(order.Role__c, path, "Role__c")
        cost = order.New_Cost_Rate__c
        changes = (
            RateChange(
                role=role,
                bill_rate=_money(order.New_Bill_Rate__c, currency, path, "New_Bill_Rate__c"),
                cost_rate=None
                if cost is None
                else _money(cost, currency, path, "New_Cost_Rate__c"),
            ),
        )
    delta = order.Amount_Delta__c
    return ChangeOrder(
        source_system=SYSTEM,
        source_id=order.Id,
        engagement_id=order.Opportunity__c,
        effective_on=order.Effective_Date__c,
        description=order.Description__c or "",
        value_delta=None if delta is None else _money(delta, currency, path, "Amount_Delta__c"),
        rate_changes=changes,
        status=status,
    )


def accounts_from_soql(body: bytes | str) -> Page[Client]:
    """Decode and map a SOQL page of Accounts; errors name ``$.records[i].Field``."""
    page = decode_salesforce(body, wire.SoqlPage[wire.SfAccount])
    items = [client_from_salesforce(a, path=f"$.records[{i}]") for i, a in enumerate(page.records)]
    return Page(items=items, next_url=page.nextRecordsUrl, total=page.totalSize)


def opportunities_from_soql(body: bytes | str, *, org_currency: str) -> Page[Engagement]:
    """Decode and map a SOQL page of (won) Opportunities into engagements."""
    page = decode_salesforce(body, wire.SoqlPage[wire.SfOpportunity])
    items = [
        engagement_from_salesforce(o, org_currency=org_currency, path=f"$.records[{i}]")
        for i, o in enumerate(page.records)
    ]
    return Page(items=items, next_url=page.nextRecordsUrl, total=page.totalSize)


def milestones_from_soql(body: bytes | str, *, org_currency: str) -> Page[Milestone]:
    """Decode and map a SOQL page of ``Milestone__c`` records."""
    page = decode_salesforce(body, wire.SoqlPage[wire.SfMilestone])
    items = [
        milestone_from_salesforce(m, org_currency=org_currency, path=f"$.records[{i}]")
        for i, m in enumerate(page.records)
    ]
    return Page(items=items, next_url=page.nextRecordsUrl, total=page.totalSize)
