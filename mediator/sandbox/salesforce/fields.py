"""Field types of the sandbox's objects, and the checks Salesforce makes on written values.

Each field has a describe type (`id`, `string`, `boolean`, `datetime`, `reference`, …) with
its length or precision, as `GET /sobjects/<Object>/describe` reports it and as a create or
update is checked against it. Salesforce's JSON reader is lenient where Java's is: a number
may be sent as a string ("1200.50", what a Decimal encodes to) and text as a number; what
cannot be read answers the way Salesforce does:

    an object or array for a scalar, a bad date     400 JSON_PARSER_ERROR
    "abc" for a number, "maybe" for a boolean       400 INVALID_TYPE_ON_FIELD_IN_RECORD
    text past the field's length                    400 STRING_TOO_LONG
    a number past the field's precision             400 NUMBER_OUTSIDE_VALID_RANGE
    a malformed id in a lookup                      400 MALFORMED_ID

Custom fields (`…__c`) the schema does not declare are accepted as any scalar, kept as sent
(text up to a long text area's 131,072 characters, numbers within 18 digits).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import msgspec

from mediator.codecs.canonical.currencies import EXPONENTS
from mediator.sandbox.salesforce.errors import ApiError
from mediator.sandbox.salesforce.schema import CURRENCY_FIELD, SYSTEM_FIELDS, ObjectSchema

__all__ = ["ID_PATTERN", "Field", "check_value", "fields_of", "name_field"]

ID_PATTERN = re.compile(r"\A[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?\Z")
_LONG_TEXT = 131_072
_TEXT = ("string", "textarea", "picklist", "phone", "url", "email", "combobox")
_NUMBER = ("double", "currency", "percent", "int")


class Field(msgspec.Struct, frozen=True, kw_only=True):
    """One field as describe reports it (the subset of properties the sandbox acts on)."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None


def _text(length: int) -> tuple[str, int, int, int]:
    return ("string", length, 0, 0)


# name → (type, length, precision, scale); references get their target from the schema.
_STANDARD: dict[str, tuple[str, int, int, int]] = {
    "Id": ("id", 18, 0, 0),
    "IsDeleted": ("boolean", 0, 0, 0),
    "CreatedDate": ("datetime", 0, 0, 0),
    "CreatedById": ("reference", 18, 0, 0),
    "LastModifiedDate": ("datetime", 0, 0, 0),
    "LastModifiedById": ("reference", 18, 0, 0),
    "SystemModstamp": ("datetime", 0, 0, 0),
    "OwnerId": ("reference", 18, 0, 0),
    "Name": _text(255),
    "Type": ("picklist", 255, 0, 0),
    "Industry": ("picklist", 255, 0, 0),
    "AnnualRevenue": ("currency", 0, 18, 0),
    "Phone": ("phone", 40, 0, 0),
    "Website": ("url", 255, 0, 0),
    "Description": ("textarea", 32_000, 0, 0),
    CURRENCY_FIELD: ("picklist", 3, 0, 0),
    "Amount": ("currency", 0, 18, 2),
    "CloseDate": ("date", 0, 0, 0),
    "StageName": ("picklist", 255, 0, 0),
    "Probability": ("percent", 0, 3, 0),
    "LeadSource": ("picklist", 255, 0, 0),
    "ForecastCategory": ("picklist", 40, 0, 0),
    "IsClosed": ("boolean", 0, 0, 0),
    "IsWon": ("boolean", 0, 0, 0),
    "StartDate": ("date", 0, 0, 0),
    "EndDate": ("date", 0, 0, 0),
    "ContractTerm": ("int", 0, 4, 0),
    "Status": ("picklist", 40, 0, 0),
    "CompanySignedDate": ("date", 0, 0, 0),
    "CustomerSignedDate": ("date", 0, 0, 0),
    "ContractNumber": ("string", 30, 0, 0),
    "ActivatedDate": ("datetime", 0, 0, 0),
    "External_Id__c": _text(255),
    # the firm's custom fields (schema.py lists which object has which)
    "Tax_Id__c": _text(64),
    "Tax_Exempt__c": ("picklist", 255, 0, 0),
    "Tax_Profile__c": ("picklist", 255, 0, 0),
    "Legal_Entity__c": ("picklist", 255, 0, 0),
    "Billing_Email__c": ("email", 80, 0, 0),
    "ERP_Party_Id__c": _text(255),
    "PSA_Client_Id__c": _text(255),
    "Billing_Customer_Id__c": _text(255),
    "Sync_Status__c": ("picklist", 255, 0, 0),
    "Project_Key__c": _text(255),
    "Staffing__c": ("textarea", 32_768, 0, 0),  # a long text area: one email=role a line
    "ERP_Project_Id__c": _text(255),
    "PSA_Project_Id__c": _text(255),
    "Effective_Date__c": ("date", 0, 0, 0),
    "Amount_Delta__c": ("currency", 0, 16, 2),
    "Role__c": _text(255),
    "New_Bill_Rate__c": ("currency", 0, 16, 2),
    "New_Cost_Rate__c": ("currency", 0, 16, 2),
    "Service_Line__c": ("picklist", 255, 0, 0),
    "Delivery_Region__c": ("picklist", 255, 0, 0),
    "Billing_Model__c": ("picklist", 255, 0, 0),
    "Payment_Terms_Days__c": ("double", 0, 3, 0),
    "Retainer_Interval__c": ("picklist", 255, 0, 0),
    "Amount__c": ("currency", 0, 16, 2),
    "Due_Date__c": ("date", 0, 0, 0),
    "Status__c": ("picklist", 255, 0, 0),
    "Approved_Date__c": ("date", 0, 0, 0),
    "Description__c": ("textarea", 32_000, 0, 0),
    "Invoice_Number__c": _text(255),
    "Invoice_Status__c": ("picklist", 255, 0, 0),
    "Amount_Paid__c": ("currency", 0, 16, 2),
    "Last_Payment_Date__c": ("date", 0, 0, 0),
}
_ADDRESS: dict[str, tuple[str, int]] = {
    "Street": ("textarea", 255),
    "City": ("string", 40),
    "State": ("string", 80),
    "PostalCode": ("string", 20),
    "Country": ("string", 80),
    "CountryCode": ("picklist", 10),
}
_NAME_LENGTH = {"Opportunity": 120, "Milestone__c": 80, "Change_Order__c": 80}
_USERS = {"CreatedById": "CreatedBy", "LastModifiedById": "LastModifiedBy", "OwnerId": "Owner"}


def fields_of(schema: ObjectSchema) -> dict[str, Field]:
    """Return every declared field of `schema` in describe order, with its type."""
    names = (
        *SYSTEM_FIELDS,
        *schema.fields,
        *schema.read_only,
        *schema.references,
        *schema.external_ids,
    )
    return {name: _field(schema, name) for name in dict.fromkeys(names)}


def name_field(schema: ObjectSchema) -> str:
    """Return the field describe marks `nameField` (Contract's is its number)."""
    return "ContractNumber" if schema.name == "Contract" else "Name"


def _field(schema: ObjectSchema, name: str) -> Field:
    label = _label(name)
    if name in _USERS:
        return Field(
            name=name,
            type="reference",
            label=label,
            length=18,
            reference_to=("User",),
            relationship=_USERS[name],
        )
    if name in schema.references:
        return Field(
            name=name,
            type="reference",
            label=label,
            length=18,
            reference_to=(schema.references[name],),
            relationship=name[:-3] + "__r" if name.endswith("__c") else name.removesuffix("Id"),
        )
    for kind in ("Billing", "Shipping"):
        part = name.removeprefix(kind)
        if part != name and part in _ADDRESS:
            type_, length = _ADDRESS[part]
            return Field(name=name, type=type_, label=label, length=length)
    type_, length, precision, scale = _STANDARD.get(name, _text(255))
    if name == "Name":
        length = _NAME_LENGTH.get(schema.name, length)
    return Field(
        name=name, type=type_, label=label, length=length, precision=precision, scale=scale
    )


def _label(name: str) -> str:
    base = name.removesuffix("__c").replace("_", " ")
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)


def check_value(field: Field | None, name: str, value: object) -> object:
    """Return `value` as stored for field `name` (`field` None: an undeclared custom field).

    Raises `ApiError` 400 with Salesforce's code for a value the field cannot take.
    """
    if value is None:
        return None
    if isinstance(value, dict | list):
        kind = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
        java = _java(field)
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {java} from {kind} value "
            f"{'{' if kind == 'START_OBJECT' else '['} or request may be missing a required "
            f"field at [line:1, column:1]",
        )
    if field is None:
        return _undeclared(name, value)
    if field.type in _TEXT or field.type == "id":
        text = _text_value(name, value, field.length or _LONG_TEXT, field.label)
        if field.name == CURRENCY_FIELD and text.upper() not in EXPONENTS:
            raise ApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Currency ISO Code: invalid currency code: {text[:20]}",
                [name],
            )
        return text
    if field.type in _NUMBER:
        return _number(field, name, value)
    if field.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _wrong_type(field, name, value)
    if field.type == "date":
        return _date(name, value)
    if field.type == "datetime":
        return _datetime(name, value)
    return value  # references: checked against the records by the store


def _undeclared(name: str, value: object) -> object:
    # Kept as sent (a number stays a number), within what any field type could hold.
    if isinstance(value, str):
        return _text_value(name, value, _LONG_TEXT, name)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
        raise ApiError(
            400,
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{name}: number outside valid range: {_show(value)}",
            [name],
        )
    return value


def _java(field: Field | None) -> str:
    if field is None or field.type in (*_TEXT, "id", "reference"):
        return "string"
    return {"boolean": "boolean", "date": "date", "datetime": "datetime"}.get(field.type, "double")


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 255 else text[:255] + "..."


def _text_value(name: str, value: object, length: int, label: str) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = str(value)
    else:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Cannot deserialize {name}: {_show(value)}")
    if len(text) > length:
        raise ApiError(
            400,
            "STRING_TOO_LONG",
            f"{label}: data value too large: {_show(text)} (max length={length})",
            [name],
        )
    return text


def _wrong_type(field: Field, name: str, value: object) -> ApiError:
    return ApiError(
        400,
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{field.label}: value not of required type: {_show(value)}",
        [name],
    )


def _number(field: Field, name: str, value: object) -> int | float:
    if isinstance(value, bool):
        raise _wrong_type(field, name, value)
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise _wrong_type(field, name, value) from None
    if not number.is_finite():
        raise _wrong_type(field, name, value)
    if field.type == "int" and number != number.to_integral_value():
        raise _wrong_type(field, name, value)
    digits = (field.precision or 18) - field.scale
    if abs(number) >= Decimal(10) ** digits:
        raise ApiError(
            400,
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{field.label}: number outside valid range: {_show(value)}",
            [name],
        )
    if field.type == "int" or (isinstance(value, int) and field.scale == 0):
        return int(number)
    # Salesforce rounds half up to the field's scale (Python's round() would go to even)
    result = float(number.quantize(Decimal(1).scaleb(-field.scale), ROUND_HALF_UP))
    return result if math.isfinite(result) else 0.0


def _parser_error(name: str, kind: str, value: object) -> ApiError:
    token = "VALUE_STRING" if isinstance(value, str) else "VALUE_NUMBER_INT"
    if isinstance(value, bool):
        token = "VALUE_TRUE" if value else "VALUE_FALSE"
    return ApiError(
        400,
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {kind} from {token} value {_show(value)} or request "
        f"may be missing a required field at [line:1, column:1]",
        [name],
    )


def _date(name: str, value: object) -> str:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            pass
    raise _parser_error(name, "date", value)


def _datetime(name: str, value: object) -> str:
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("+0000", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            utc = moment.astimezone(UTC)
        except (ValueError, OverflowError):
            pass
        else:
            return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"
    raise _parser_error(name, "datetime", value)
