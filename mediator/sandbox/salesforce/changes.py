"""Change polling and metadata: `sobjects/<Object>/updated`, `/deleted` and `/describe`.

`updated` and `deleted` take `start` and `end` (ISO datetimes) and answer the ids whose
`SystemModstamp` falls in the window; like Salesforce they refuse a `start` more than 30 days
back with INVALID_REPLICATION_DATE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from mediator.clock import Clock
from mediator.sandbox.base import json_response
from mediator.sandbox.salesforce.schema import SYSTEM_FIELDS
from mediator.sandbox.salesforce.store import ApiError, SalesforceStore, format_datetime

__all__ = ["add_change_routes"]

_WINDOW = timedelta(days=30)


def add_change_routes(
    app: web.Application, base: str, store: SalesforceStore, clock: Clock
) -> None:
    """Add the version root, global describe, and each object's updated, deleted and describe
    resources under `base` (before `<obj>/<id>` would catch them)."""

    def window(request: web.Request) -> tuple[datetime, datetime]:
        try:
            start = _parse(request.query["start"])
            end = _parse(request.query["end"])
        except (KeyError, ValueError) as exc:
            raise ApiError(400, "MALFORMED_QUERY", "start and end must be ISO datetimes") from exc
        now = datetime.fromtimestamp(clock.time(), UTC)
        if start < now - _WINDOW:
            raise ApiError(
                400, "INVALID_REPLICATION_DATE", "startDate cannot be more than 30 days ago"
            )
        if end <= start:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "endDate must be after startDate")
        return start, min(end, now)

    def stamp(record: dict[str, object]) -> datetime:
        return _parse(str(record["SystemModstamp"]))

    async def updated(request: web.Request) -> web.Response:
        start, end = window(request)
        rows = store.records(request.match_info["obj"])
        return json_response(
            {
                "ids": [r["Id"] for r in rows if start <= stamp(r) <= end],
                "latestDateCovered": format_datetime(end.timestamp()),
            }
        )

    async def deleted(request: web.Request) -> web.Response:
        start, end = window(request)
        rows = store.records(request.match_info["obj"], include_deleted=True)
        return json_response(
            {
                "deletedRecords": [
                    {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
                    for r in rows
                    if r["IsDeleted"] and start <= stamp(r) <= end
                ],
                "earliestDateAvailable": format_datetime(clock.time() - _WINDOW.total_seconds()),
                "latestDateCovered": format_datetime(end.timestamp()),
            }
        )

    async def describe(request: web.Request) -> web.Response:
        schema = store.schema(request.match_info["obj"])
        names = (
            *SYSTEM_FIELDS,
            *schema.fields,
            *schema.read_only,
            *schema.references,
            *schema.external_ids,
        )
        fields = [
            {
                "name": name,
                "label": name.removesuffix("__c").replace("_", " "),
                "type": "reference" if name in schema.references or name == "Id" else "string",
                "referenceTo": [schema.references[name]] if name in schema.references else [],
                "nillable": name not in schema.required and name not in SYSTEM_FIELDS,
                "createable": name not in SYSTEM_FIELDS and name not in schema.read_only,
                "updateable": name not in SYSTEM_FIELDS and name not in schema.read_only,
                "externalId": name in schema.external_ids,
                "custom": name.endswith("__c"),
            }
            for name in dict.fromkeys(names)
        ]
        return json_response(
            {
                "name": schema.name,
                "label": schema.name.removesuffix("__c"),
                "keyPrefix": schema.prefix,
                "custom": schema.name.endswith("__c"),
                "createable": True,
                "updateable": True,
                "queryable": True,
                "fields": fields,
            }
        )

    async def resources(request: web.Request) -> web.Response:
        root = f"/services/data/v{request.match_info['version']}"
        return json_response(
            {name: f"{root}/{name}" for name in ("sobjects", "query", "queryAll", "limits")}
        )

    async def global_describe(request: web.Request) -> web.Response:
        root = f"/services/data/v{request.match_info['version']}/sobjects"
        return json_response(
            {
                "encoding": "UTF-8",
                "maxBatchSize": 200,
                "sobjects": [
                    {
                        "name": o.name,
                        "label": o.name.removesuffix("__c"),
                        "keyPrefix": o.prefix,
                        "custom": o.name.endswith("__c"),
                        "queryable": True,
                        "createable": True,
                        "urls": {
                            "sobject": f"{root}/{o.name}",
                            "describe": f"{root}/{o.name}/describe",
                            "rowTemplate": f"{root}/{o.name}/{{ID}}",
                        },
                    }
                    for o in store.objects.values()
                ],
            }
        )

    app.router.add_get(base, resources)
    for suffix in ("", "/"):
        app.router.add_get(base + "/sobjects" + suffix, global_describe)
        app.router.add_get(base + "/sobjects/{obj}/updated" + suffix, updated)
        app.router.add_get(base + "/sobjects/{obj}/deleted" + suffix, deleted)
        app.router.add_get(base + "/sobjects/{obj}/describe" + suffix, describe)


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
