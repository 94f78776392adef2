"""Harvest's dates and times as the API takes them: days, instants, and times of day.

`updated_since` is an ISO 8601 date-time with any offset (``…T14:30:00+02:00``, ``…Z``), or a
bare date (midnight UTC): it is compared as an instant with the records' `updated_at`, never as
text, so the same moment written in two zones selects the same records. `from`/`to` and
`spent_date` are calendar days (``2017-12-31``); a date-time there counts for its own date, as
Rails' ``to_date`` takes it. Times of day are ``8:00am`` or ``14:30``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from mediator.sandbox.harvest.errors import HarvestError

__all__ = ["clock_minutes", "parse_day", "parse_instant"]

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*([ap]m)?\s*$", re.IGNORECASE)
_MAX_TEXT = 64  # the longest ISO 8601 date-time is well under this


def parse_instant(text: str, name: str) -> float:
    """Return epoch seconds of an ISO 8601 date-time (naive: UTC); 422 naming `name` if not."""
    try:
        if len(text) > _MAX_TEXT:
            raise ValueError(text)
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise HarvestError(422, f"{name} is not a valid ISO 8601 date-time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_day(text: str, name: str) -> str:
    """Return ``YYYY-MM-DD`` of a date (or of a date-time's own date); 422 naming `name` if not."""
    try:
        if len(text) > _MAX_TEXT:
            raise ValueError(text)
        if len(text.strip()) == 10:
            return date.fromisoformat(text.strip()).isoformat()
        return datetime.fromisoformat(text.strip().replace("z", "Z")).date().isoformat()
    except ValueError as exc:
        raise HarvestError(422, f"{name} is not a valid date") from exc


def clock_minutes(text: str) -> int | None:
    """Return minutes after midnight of ``8:00am``/``14:30``, or None when it is not a time."""
    match = _CLOCK.match(text)
    if match is None:
        return None
    hours, minutes, meridiem = int(match[1]), int(match[2]), (match[3] or "").lower()
    if minutes > 59:
        return None
    if meridiem:
        if not 1 <= hours <= 12:
            return None
        hours = hours % 12 + (12 if meridiem == "pm" else 0)
    elif hours > 23:
        return None
    return hours * 60 + minutes
