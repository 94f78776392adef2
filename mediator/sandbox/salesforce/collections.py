"""sObject Collections: create, update, upsert and delete up to 200 records in one call.

Results come back in request order as SaveResults whose errors carry `statusCode` (not
`errorCode`, as in the single-record resources). With `allOrNone`, one failure rolls every
change back and the other records report ALL_OR_NONE_OPERATION_ROLLED_BACK.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from mediator.sandbox.base import json_response
from mediator.sandbox.salesforce.body import read_object
from mediator.sandbox.salesforce.errors import invalid_type
from mediator.sandbox.salesforce.store import ApiError, SalesforceStore

__all__ = ["MAX_RECORDS", "add_collection_routes"]

MAX_RECORDS = 200

Result = dict[str, object]
Record = dict[str, object]


def add_collection_routes(app: web.Application, base: str, store: SalesforceStore) -> None:
    """Add `/composite/sobjects` (POST, PATCH, DELETE) and its upsert form under `base`."""

    async def create(request: web.Request) -> web.Response:
        all_or_none, records = _body(await request.read())

        def one(record: Record) -> Result:
            obj = _type(store, record)
            return {"id": store.create(obj, record), "success": True, "errors": []}

        return json_response(_apply(store, records, all_or_none, one))

    async def update(request: web.Request) -> web.Response:
        all_or_none, records = _body(await request.read())

        def one(record: Record) -> Result:
            values = dict(record)
            record_id = values.pop("id", None) or values.pop("Id", None)
            if not isinstance(record_id, str):
                raise ApiError(400, "MISSING_ARGUMENT", "Id not specified in an update call")
            store.update(_type(store, record), record_id, values)
            return {"id": record_id, "success": True, "errors": []}

        return json_response(_apply(store, records, all_or_none, one))

    async def upsert(request: web.Request) -> web.Response:
        all_or_none, records = _body(await request.read())
        schema = store.schema(request.match_info["obj"])
        wanted = request.match_info["field"].lower()
        field = next((f for f in schema.external_ids if f.lower() == wanted), None)
        if field is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {wanted}",
            )

        def one(record: Record) -> Result:
            key = next((v for k, v in record.items() if k.lower() == wanted), None)
            if key is None:
                raise ApiError(400, "MISSING_ARGUMENT", f"{field} not specified", [field])
            matches = store.find_by(schema.name, field, key)
            if len(matches) > 1:
                raise ApiError(
                    300,
                    "DUPLICATE_EXTERNAL_ID",
                    f"{field}: more than one record found for external id field: "
                    + str([m["Id"] for m in matches]),
                    [field],
                )
            if matches:
                store.update(schema.name, str(matches[0]["Id"]), record)
                return {"id": matches[0]["Id"], "success": True, "errors": [], "created": False}
            return {
                "id": store.create(schema.name, record),
                "success": True,
                "errors": [],
                "created": True,
            }

        return json_response(_apply(store, records, all_or_none, one))

    async def delete(request: web.Request) -> web.Response:
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids or len(ids) > MAX_RECORDS:
            raise _too_many() if ids else ApiError(400, "MISSING_ARGUMENT", "ids is required")
        all_or_none = request.query.get("allOrNone", "false").lower() == "true"

        def one(record: Record) -> Result:
            record_id = str(record["id"])
            obj = _object_of(store, record_id)
            store.delete(obj, record_id)
            return {"id": record_id, "success": True, "errors": []}

        return json_response(_apply(store, [{"id": i} for i in ids], all_or_none, one))

    path = base + "/composite/sobjects"
    for suffix in ("", "/"):
        app.router.add_post(path + suffix, create)
        app.router.add_patch(path + suffix, update)
        app.router.add_delete(path + suffix, delete)
        app.router.add_patch(path + "/{obj}/{field}" + suffix, upsert)


def _apply(
    store: SalesforceStore,
    records: list[Record],
    all_or_none: bool,
    one: Callable[[Record], Result],
) -> list[Result]:
    results: list[Result] = []
    failed = False
    with store.transaction() as rollback:
        for record in records:
            try:
                results.append(one(record))
            except ApiError as exc:
                failed = True
                results.append(
                    {
                        "success": False,
                        "errors": [
                            {
                                "statusCode": exc.code,
                                "message": exc.message,
                                "fields": exc.fields or [],
                            }
                        ],
                    }
                )
        if failed and all_or_none:
            rollback()
            rolled_back = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
            results = [
                r if not r["success"] else {"success": False, "errors": [rolled_back]}
                for r in results
            ]
    return results


def _body(raw: bytes) -> tuple[bool, list[Record]]:
    body = read_object(raw)
    records = body.get("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ApiError(400, "INVALID_FIELD", "records is required and must be an array")
    if len(records) > MAX_RECORDS:
        raise _too_many()
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of boolean from {str(all_or_none)[:80]!r} (allOrNone)",
        )
    return all_or_none, records


def _too_many() -> ApiError:
    return ApiError(
        400,
        "EXCEEDED_ID_LIMIT",
        f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
    )


def _type(store: SalesforceStore, record: Record) -> str:
    attributes = record.get("attributes")
    obj = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(obj, str):
        raise ApiError(400, "INVALID_TYPE", "Must send a concrete entity type.")
    if obj.lower() not in store.objects:
        raise invalid_type(obj)
    return obj


def _object_of(store: SalesforceStore, record_id: str) -> str:
    for schema in store.objects.values():
        if record_id.startswith(schema.prefix):
            return schema.name
    raise ApiError(400, "MALFORMED_ID", f"malformed id {record_id}")
