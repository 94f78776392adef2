"""Salesforce → canonical, leniently: won opportunities as `Deal`s, contracts as `Contract`s.

Unlike `engagement_from_salesforce`, which stops at the first missing term, these mappings
keep every business term as the CRM holds it (optional, the labels unjudged), so the
onboarding flow can list *every* rule a deal breaks in one business exception. What raises
`DecodeError` is only what cannot be represented at all: an amount that is no money in its
currency, payment terms that are not whole days, a ``Staffing__c`` line that is not
``email=role``. Such a record is a dead letter naming the field, not a rejected deal.
"""

from __future__ import annotations

from mediator.codecs.canonical.deals import Contract, Deal, StaffingLine
from mediator.codecs.salesforce import wire
from mediator.codecs.salesforce.mapping import SYSTEM, _currency, _fail, _money

__all__ = ["contract_from_salesforce", "deal_from_salesforce", "staffing_from_salesforce"]

_MAX_LINES = 500  # a deal staffed with more people than this is a paste gone wrong


def deal_from_salesforce(
    opportunity: wire.SfOpportunity, *, org_currency: str, path: str = "$"
) -> Deal:
    """Map an Opportunity to a `Deal` with every term it has, judged by nobody yet.

    The currency is the record's ``CurrencyIsoCode`` or else `org_currency`; `updated_at` is
    its ``SystemModstamp`` (the version the flow sees). Raises `DecodeError` with the field's
    path for an amount or payment terms that cannot be represented, and for a malformed
    ``Staffing__c`` (see `staffing_from_salesforce`).
    """
    currency = _currency(opportunity.CurrencyIsoCode, org_currency, path)
    amount = opportunity.Amount
    terms = opportunity.Payment_Terms_Days__c
    if terms is not None and (terms != terms.to_integral_value() or abs(terms) > 10_000):
        raise _fail(path, "Payment_Terms_Days__c", f"{terms} is not a whole number of days")
    return Deal(
        source_system=SYSTEM,
        source_id=opportunity.Id,
        name=opportunity.Name,
        account_id=opportunity.AccountId,
        contract_id=opportunity.ContractId,
        is_won=opportunity.IsWon,
        close_date=opportunity.CloseDate,
        amount=None if amount is None else _money(amount, currency, path, "Amount"),
        currency=currency,
        billing_model=_label(opportunity.Billing_Model__c),
        payment_terms_days=None if terms is None else int(terms),
        retainer_interval=_label(opportunity.Retainer_Interval__c),
        service_line=_label(opportunity.Service_Line__c),
        delivery_region=_label(opportunity.Delivery_Region__c),
        legal_entity=_label(opportunity.Legal_Entity__c),
        project_code=_label(opportunity.Project_Key__c),
        staffing=staffing_from_salesforce(opportunity.Staffing__c, path=path),
        updated_at=opportunity.SystemModstamp,
    )


def staffing_from_salesforce(text: str | None, *, path: str = "$") -> tuple[StaffingLine, ...]:
    """Read ``Staffing__c``: one ``email=role`` a line (blank lines skipped, spaces trimmed).

    Raises `DecodeError` at ``<path>.Staffing__c`` naming the first line that is not an
    e-mail address, ``=``, and a role, or a person named twice.
    """
    lines: list[StaffingLine] = []
    seen: set[str] = set()
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        email, equals, role = (part.strip() for part in line.partition("="))
        if not equals or not role or not _is_email(email):
            raise _fail(
                path, "Staffing__c", f"line {number} {line.strip()!r:.80} is not email=role"
            )
        if email.lower() in seen:
            raise _fail(path, "Staffing__c", f"line {number}: {email!r:.80} is staffed twice")
        if len(lines) >= _MAX_LINES:
            raise _fail(path, "Staffing__c", f"more than {_MAX_LINES} people")
        seen.add(email.lower())
        lines.append(StaffingLine(email=email.lower(), role=role))
    return tuple(lines)


def contract_from_salesforce(contract: wire.SfContract) -> Contract:
    """Map a Contract: its account, number, status and delivery dates."""
    return Contract(
        source_system=SYSTEM,
        source_id=contract.Id,
        account_id=contract.AccountId,
        number=contract.ContractNumber,
        status=contract.Status,
        starts_on=contract.StartDate,
        ends_on=contract.EndDate,
        updated_at=contract.SystemModstamp,
    )


def _label(value: str | None) -> str | None:
    # an empty or blank picklist is no value: the flow reports it missing, not "unknown"
    text = (value or "").strip()
    return text or None


def _is_email(text: str) -> bool:
    local, at, domain = text.rpartition("@")
    return bool(at and local and "." in domain and not any(c.isspace() for c in text))
