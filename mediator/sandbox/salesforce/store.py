"""The in-memory Salesforce org: records, validation, derived fields and an undo log.

Ids are checked as Salesforce does: 15 case-sensitive characters, or 18 whose last three
encode the case of the first 15 (so a lower-cased 18-character id still finds its record).
An id of another length is taken for an external id that does not exist (404 NOT_FOUND);
one whose checksum or key prefix is wrong is a 400 MALFORMED_ID. Written values are checked
against their field's type (`fields.check_value`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from mediator.clock import Clock
from mediator.sandbox.salesforce.errors import ApiError, malformed_id, not_found
from mediator.sandbox.salesforce.fields import ID_PATTERN, Field, check_value, fields_of
from mediator.sandbox.salesforce.schema import (
    CURRENCY_FIELD,
    STAGES,
    ObjectSchema,
    default_objects,
    salesforce_id,
)

__all__ = [
    "ApiError",
    "SalesforceStore",
    "format_datetime",
    "full_id",
    "normalize_id",
    "not_found",
    "salesforce_id_from_short",
]

Record = dict[str, object]

_USER_ID = salesforce_id("005", 1)
_USER_PREFIX = "005"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SYSTEM_WRITES = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "LastModifiedDate",
    "SystemModstamp",
    "CreatedById",
    "LastModifiedById",
)


def format_datetime(epoch: float) -> str:
    """Format epoch seconds the way the REST API does: `2026-11-26T22:20:31.000+0000`."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class SalesforceStore:
    """Records of every object, keyed by 18-character id; deleted ones kept for `queryAll`.

    `currency` is the org's corporate currency: a record created without a `CurrencyIsoCode`
    gets it, as in a multi-currency org (the running user's default currency, here the org's).
    `strict_custom_fields` refuses a custom field (``…__c``) the schema does not declare with
    400 INVALID_FIELD, as an org does; by default such fields are accepted, untyped, as if the
    org defined them (what tests of made-up fields use).
    """

    def __init__(
        self,
        clock: Clock,
        objects: dict[str, ObjectSchema] | None = None,
        *,
        currency: str = "USD",
        strict_custom_fields: bool = False,
    ) -> None:
        self._clock = clock
        self.currency = currency
        self.strict_custom_fields = strict_custom_fields
        self.objects = objects or default_objects()
        self._records: dict[str, dict[str, Record]] = {name: {} for name in self.objects}
        self._counter = 0
        self._undo: list[Callable[[], None]] | None = None
        self._fields = {name: fields_of(schema) for name, schema in self.objects.items()}

    def schema(self, obj: str) -> ObjectSchema:
        """Return the schema of `obj` (case-insensitive) or raise 404 NOT_FOUND."""
        found = self.objects.get(obj.lower())
        if found is None:
            raise not_found()
        return found

    def records(self, obj: str, *, include_deleted: bool = False) -> list[Record]:
        """Return the records of `obj` in creation order."""
        rows = self._records[self.schema(obj).name.lower()].values()
        return [r for r in rows if include_deleted or not r["IsDeleted"]]

    def fields(self, obj: str) -> dict[str, Field]:
        """Return the declared fields of `obj` with their types (describe's `fields`)."""
        return self._fields[self.schema(obj).name.lower()]

    def get(self, obj: str, record_id: str, *, include_deleted: bool = False) -> Record:
        """Return one record; 404 NOT_FOUND if there is none, 400 MALFORMED_ID for a bad id."""
        schema = self.schema(obj)
        key = normalize_id(record_id)
        if key is None and not ID_PATTERN.match(record_id):
            raise not_found(
                "Provided external ID field does not exist or is not accessible: " + record_id[:255]
            )
        if key is None or not key.startswith(schema.prefix):
            raise malformed_id(f"{schema.name} ID", record_id)
        record = self._records[schema.name.lower()].get(key)
        if record is None or (record["IsDeleted"] and not include_deleted):
            raise not_found()
        return record

    def _live(self, obj: str, record_id: str) -> Record:
        # A write to a record in the recycle bin: ENTITY_IS_DELETED, as Salesforce answers
        # an update or a second delete (a read of it is a plain NOT_FOUND).
        record = self.get(obj, record_id, include_deleted=True)
        if record["IsDeleted"]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    def find_by(self, obj: str, field: str, value: object) -> list[Record]:
        """Return the live records whose external id `field` equals `value`, ignoring case."""
        wanted = str(value).lower()
        return [r for r in self.records(obj) if str(r.get(field, "")).lower() == wanted]

    def create(self, obj: str, values: Record) -> str:
        """Validate and insert a record; return its new id."""
        schema = self.schema(obj)
        clean = self._clean(schema, values, creating=True)
        self._counter += 1
        record_id = salesforce_id(schema.prefix, self._counter)
        now = format_datetime(self._clock.time())
        record: Record = {
            "Id": record_id,
            "IsDeleted": False,
            "CreatedDate": now,
            "CreatedById": _USER_ID,
            "LastModifiedDate": now,
            "LastModifiedById": _USER_ID,
            "SystemModstamp": now,
        }
        if schema.name == "Contract":
            record["ContractNumber"] = f"{self._counter:08d}"
            clean.setdefault("Status", "Draft")
        record.update(clean)
        if CURRENCY_FIELD in schema.fields and record.get(CURRENCY_FIELD) is None:
            record[CURRENCY_FIELD] = self.currency
        _derive(schema, record)
        table = self._records[schema.name.lower()]
        table[record_id] = record
        self._log(lambda: table.pop(record_id, None))
        return record_id

    def update(self, obj: str, record_id: str, values: Record) -> None:
        """Validate and apply changes to a live record; bump its modification stamps."""
        schema = self.schema(obj)
        record = self._live(obj, record_id)
        clean = self._clean(schema, values, creating=False)
        before = dict(record)

        def restore() -> None:
            record.clear()
            record.update(before)

        self._log(restore)
        record.update(clean)
        now = format_datetime(self._clock.time())
        record["LastModifiedDate"] = record["SystemModstamp"] = now
        _derive(schema, record)

    def delete(self, obj: str, record_id: str) -> None:
        """Move a live record to the recycle bin (`IsDeleted`, still visible to `queryAll`)."""
        record = self._live(obj, record_id)
        self._log(lambda: record.update(IsDeleted=False))
        record["IsDeleted"] = True
        record["SystemModstamp"] = format_datetime(self._clock.time())

    @contextmanager
    def transaction(self) -> Iterator[Callable[[], None]]:
        """Group mutations; the yielded function undoes every one made so far (allOrNone)."""
        outer, self._undo = self._undo, []
        undo = self._undo

        def rollback() -> None:
            while undo:
                undo.pop()()

        try:
            yield rollback
        finally:
            self._undo = outer

    def snapshot(self) -> dict[str, list[Record]]:
        """Return every live record by object name."""
        return {
            schema.name: [dict(r) for r in self.records(schema.name)]
            for schema in self.objects.values()
        }

    def _log(self, undo: Callable[[], object]) -> None:
        if self._undo is not None:
            self._undo.append(lambda: _discard(undo()))

    def _clean(self, schema: ObjectSchema, values: Record, *, creating: bool) -> Record:
        fields = self._fields[schema.name.lower()]
        clean: Record = {}
        for key, value in values.items():
            if key == "attributes":
                continue
            name = schema.canonical(key)
            if name is None and key.endswith("__c") and not self.strict_custom_fields:
                name = key
            if name is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{key[:255]}' on sobject of type {schema.name}",
                    [key[:255]],
                )
            if name in schema.read_only or name in _SYSTEM_WRITES:
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security "
                    "settings of this field and verify that it is read/write for your profile "
                    "or permission set.",
                    [name],
                )
            field = fields.get(name)
            value = check_value(field, name, value)
            if field is not None and field.type == "reference" and value is not None:
                value = self._check_reference(field, value)
            clean[name] = value
        missing = [
            f
            for f in schema.required
            if (creating and clean.get(f) is None) or (f in clean and clean[f] is None)
        ]
        if missing:
            raise ApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        stage = clean.get("StageName")
        if stage is not None and str(stage).lower() not in STAGES:
            raise ApiError(
                400,
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Stage: bad value for restricted picklist field: {str(stage)[:255]}",
                ["StageName"],
            )
        return clean

    def _check_reference(self, field: Field, value: object) -> str:
        # Stored in the 18-character form, as Salesforce returns every id.
        key = normalize_id(value) if isinstance(value, str) else None
        if key is None:
            raise ApiError(
                400,
                "MALFORMED_ID",
                f"{field.name}: id value of incorrect type: {str(value)[:255]}",
                [field.name],
            )
        [target] = field.reference_to
        prefix = _USER_PREFIX if target == "User" else self.schema(target).prefix
        if not key.startswith(prefix):
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"{field.label}: id value of incorrect type: {key}",
                [field.name],
            )
        parent = self._records[target.lower()].get(key) if target != "User" else {}
        if parent is None:
            raise ApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"invalid cross reference id: {str(value)[:255]}",
                [field.name],
            )
        if parent.get("IsDeleted"):
            raise ApiError(400, "ENTITY_IS_DELETED", "entity is deleted", [field.name])
        return key


def _derive(schema: ObjectSchema, record: Record) -> None:
    # IsClosed/IsWon come from the stage table, exactly as the org's OpportunityStage does.
    if schema.name != "Opportunity":
        return
    stage = STAGES[str(record["StageName"]).lower()]
    record["StageName"] = stage.name
    record["IsClosed"] = stage.closed
    record["IsWon"] = stage.won
    if record.get("Probability") is None:
        record["Probability"] = stage.probability
    record["ForecastCategory"] = (
        "Closed" if stage.won else "Omitted" if stage.closed else "Pipeline"
    )


def full_id(record_id: str) -> str:
    """Return the 18-character form of a 15- or 18-character id (others unchanged)."""
    return normalize_id(record_id) or record_id


def normalize_id(record_id: str) -> str | None:
    """Return the canonical 18-character form of an id, or None if it cannot be one.

    A 15-character id gets its checksum; an 18-character one gets the case its checksum
    encodes (so ids that went through a case-insensitive system still match).
    """
    if not ID_PATTERN.match(record_id):
        return None
    if len(record_id) == 15:
        return salesforce_id_from_short(record_id)
    suffix = record_id[15:].upper()
    chars = list(record_id[:15])
    for chunk, code in enumerate(suffix):
        bits = _CHECKSUM.find(code)
        if bits < 0:
            return None
        for i in range(5):
            at = chunk * 5 + i
            upper = bool(bits >> i & 1)
            if upper and not chars[at].isalpha():
                return None
            chars[at] = chars[at].upper() if upper else chars[at].lower()
    return "".join(chars) + suffix


def salesforce_id_from_short(short: str) -> str:
    """Append the case-folding checksum to a 15-character id."""
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(short[chunk * 5 : chunk * 5 + 5]) if c.isupper())
        suffix += _CHECKSUM[bits]
    return short + suffix


def _discard(value: object) -> None:
    return None
