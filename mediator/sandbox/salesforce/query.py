"""Running SOQL against the store: field resolution, relationship fields, sorting, shaping.

Before any row is read, the object must exist (400 INVALID_TYPE, as SOQL answers, unlike the
REST resources' 404), every selected, filtered and ordered field must resolve (400
INVALID_FIELD), and each filter's literal must suit its field's type (`Name = 5` is refused
the way Salesforce refuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from mediator.sandbox.salesforce.errors import invalid_type
from mediator.sandbox.salesforce.schema import ObjectSchema
from mediator.sandbox.salesforce.soql import Query, RelativeDate
from mediator.sandbox.salesforce.store import ApiError, SalesforceStore, normalize_id

__all__ = ["attributes", "run_query", "shape_record"]

Record = dict[str, object]


def attributes(schema: ObjectSchema, record_id: object, version: str) -> dict[str, object]:
    """Return the `attributes` object every record in a response carries."""
    return {
        "type": schema.name,
        "url": f"/services/data/v{version}/sobjects/{schema.name}/{record_id}",
    }


def shape_record(schema: ObjectSchema, record: Record, version: str) -> Record:
    """Return a whole record as `GET /sobjects/<Object>/<Id>` answers it."""
    shaped: Record = {"attributes": attributes(schema, record["Id"], version)}
    for name in ("Id", *schema.fields, *schema.read_only):
        shaped[name] = record.get(name)
    shaped.update(record)
    return shaped


def run_query(
    store: SalesforceStore, query: Query, *, version: str, include_deleted: bool
) -> tuple[int, list[Record]]:
    """Return the total count and the shaped rows of `query` (all of them, before paging)."""
    if query.obj.lower() not in store.objects:
        raise invalid_type(query.obj)
    schema = store.schema(query.obj)
    for path in query.fields:
        _resolve(store, schema, path)  # unknown fields fail before any row is read
    for path, _, _ in query.order:
        _resolve(store, schema, path)
    for path, literal in query.filters:
        _check_literal(store, schema, path, literal)
    rows = store.records(schema.name, include_deleted=include_deleted)

    def getter(record: Record) -> Callable[[str], object]:
        return lambda path: _lookup(store, schema, record, path)

    if query.where is not None:
        where = query.where
        rows = [r for r in rows if where(getter(r))]
    for name, desc, nulls_last in reversed(query.order):
        present = [r for r in rows if _lookup(store, schema, r, name) is not None]
        absent = [r for r in rows if _lookup(store, schema, r, name) is None]
        present.sort(key=lambda r, n=name: _sort_key(_lookup(store, schema, r, n)), reverse=desc)  # type: ignore[misc]  # n binds the loop's name
        rows = present + absent if nulls_last else absent + present
    total = len(rows)
    rows = rows[query.offset :]
    if query.limit is not None:
        rows = rows[: query.limit]
        total = min(total, query.limit)
    if query.count_only:
        return total, []
    return total, [_shape(store, schema, r, query.fields, version) for r in rows]


_LITERAL_TYPES: dict[str, tuple[type, ...]] = {
    "boolean": (bool,),
    "double": (float,),
    "currency": (float,),
    "percent": (float,),
    "int": (float,),
    "date": (date,),
    "datetime": (datetime,),
}


def _check_literal(
    store: SalesforceStore, schema: ObjectSchema, path: str, literal: object
) -> None:
    resolved = _resolve(store, schema, path)
    owner = schema if len(resolved) == 1 else store.schema(schema.references[resolved[0]])
    field = store.fields(owner.name).get(resolved[-1])
    if field is None or literal is None:
        return  # an undeclared custom field takes any literal; null suits every field
    if field.type in ("id", "reference") and isinstance(literal, str):
        if normalize_id(literal) is None:
            raise ApiError(
                400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {literal[:255]}"
            )
        return
    wanted = _LITERAL_TYPES.get(field.type, (str,))
    # a datetime is not a date here, although Python's datetime subclasses date
    ok = isinstance(literal, wanted) and not (
        field.type == "date" and isinstance(literal, datetime)
    )
    if isinstance(literal, RelativeDate) and field.type in ("date", "datetime"):
        ok = True
    if isinstance(literal, bool) and field.type != "boolean":
        ok = False
    if not ok:
        kind = {"double": "number", "currency": "number", "percent": "number", "int": "number"}
        name = kind.get(field.type, "string" if wanted == (str,) else field.type)
        quoted = (
            "and should be enclosed in quotes"
            if name == "string"
            else ("and should not be enclosed in quotes")
        )
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{field.name}' must be of type {name} {quoted}",
        )


def _sort_key(value: object) -> tuple[int, float, str]:
    # One field's values share a type, except undeclared custom fields, which may mix them:
    # numbers sort before text, so mixed values order instead of failing.
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int | float):
        return (0, float(value), "")
    return (1, 0.0, str(value).lower())


def _resolve(store: SalesforceStore, schema: ObjectSchema, path: str) -> tuple[str, ...]:
    parts = path.split(".")
    if len(parts) == 1:
        return (_field(schema, parts[0]),)
    if len(parts) != 2:
        raise ApiError(400, "MALFORMED_QUERY", f"unsupported relationship path: {path}")
    reference, target = _relationship(store, schema, parts[0])
    return reference, _field(store.schema(target), parts[1])


def _field(schema: ObjectSchema, name: str) -> str:
    found = schema.canonical(name)
    if found is None and name.lower().endswith("__c"):
        return name
    if found is None:
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{schema.name}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name.",
        )
    return found


def _relationship(store: SalesforceStore, schema: ObjectSchema, name: str) -> tuple[str, str]:
    wanted = name.lower()
    for field, target in schema.references.items():
        rel = field[:-3] + "__r" if field.endswith("__c") else field.removesuffix("Id")
        if rel.lower() == wanted:
            return field, target
    raise ApiError(
        400,
        "INVALID_FIELD",
        f"Didn't understand relationship '{name}' in field path. If you are attempting to use a "
        "custom relationship, be sure to append the '__r' after the custom relationship name.",
    )


def _value(record: Record, name: str) -> object:
    if name in record:
        return record[name]
    wanted = name.lower()
    for key, value in record.items():
        if key.lower() == wanted:
            return value
    return None


def _lookup(store: SalesforceStore, schema: ObjectSchema, record: Record, path: str) -> object:
    resolved = _resolve(store, schema, path)
    value = _value(record, resolved[0])
    if len(resolved) == 1 or value is None:
        return value
    target = store.schema(schema.references[resolved[0]])
    try:
        parent = store.get(target.name, str(value), include_deleted=True)
    except ApiError:  # a dangling reference reads as null, as in SOQL
        return None
    return _value(parent, resolved[1])


def _shape(
    store: SalesforceStore, schema: ObjectSchema, record: Record, fields: list[str], version: str
) -> Record:
    shaped: Record = {"attributes": attributes(schema, record["Id"], version)}
    for path in fields:
        resolved = _resolve(store, schema, path)
        if len(resolved) == 1:
            shaped[resolved[0]] = _value(record, resolved[0])
            continue
        reference = _value(record, resolved[0])
        rel = path.split(".")[0]
        rel_name = next(
            (k for k in shaped if k.lower() == rel.lower() and isinstance(shaped[k], dict)), None
        )
        if reference is None:
            shaped.setdefault(rel_name or rel, None)
            continue
        target = store.schema(schema.references[resolved[0]])
        parent = store.get(target.name, str(reference), include_deleted=True)
        existing = shaped.get(rel_name) if rel_name else None
        nested: Record = (
            existing
            if isinstance(existing, dict)
            else {"attributes": attributes(target, reference, version)}
        )
        shaped[_relationship_label(schema, resolved[0])] = nested
        nested[resolved[1]] = _value(parent, resolved[1])
    return shaped


def _relationship_label(schema: ObjectSchema, field: str) -> str:
    return field[:-3] + "__r" if field.endswith("__c") else field.removesuffix("Id")
