"""Change polling: `sobjects/<Object>/updated` and `/deleted`.

`updated` and `deleted` take `start` and `end` (ISO datetimes) and answer the ids whose
`SystemModstamp` falls in the window; like Salesforce they refuse a `start` more than 30 days
back with INVALID_REPLICATION_DATE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from mediator.clock import Clock
from mediator.sandbox.base import json_response
from mediator.sandbox.salesforce.store import ApiError, SalesforceStore, format_datetime

__all__ = ["add_change_routes"]

_WINDOW = timedelta(days=30)


def add_change_routes(
    app: web.Application, base: str, store: SalesforceStore, clock: Clock
) -> None:
    """Add each object's updated and deleted resources under `base` (before `<obj>/<id>`
    would catch them)."""

    def window(request: web.Request) -> tuple[datetime, datetime]:
        try:
            start = _parse(request.query["start"])
            end = _parse(request.query["end"])
        except (KeyError, ValueError, OverflowError) as exc:
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

    for suffix in ("", "/"):
        app.router.add_get(base + "/sobjects/{obj}/updated" + suffix, updated)
        app.router.add_get(base + "/sobjects/{obj}/deleted" + suffix, deleted)


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))
    # in UTC at once, so comparing two edge-of-calendar stamps cannot overflow later
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
