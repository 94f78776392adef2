"""The periods a quota counts over: a day that resets at a fixed local time, or a rolling window.

Times are wall-clock epoch seconds (a quota outlives the process, so monotonic time is no use).
"""

from __future__ import annotations

import datetime as _dt
import re
from zoneinfo import ZoneInfo

__all__ = ["DailyPeriod", "RollingPeriod", "parse_clock_time"]

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_clock_time(text: str) -> _dt.time:
    """Parse ``HH:MM`` (24-hour) into a `datetime.time`; raise `ValueError` otherwise."""
    match = _HHMM.match(text)
    if match is None:
        raise ValueError(f"expected HH:MM, got {text!r}")
    return _dt.time(int(match[1]), int(match[2]))


class DailyPeriod:
    """A day that starts at `reset_at` (``HH:MM``) local time in the IANA `zone`.

    Days follow the zone's calendar, so a day is 23 or 25 hours long across a DST change.
    Raises `ValueError` for a bad time and `zoneinfo.ZoneInfoNotFoundError` for an unknown zone.
    """

    kind = "daily"

    def __init__(self, *, reset_at: str = "00:00", zone: str = "UTC") -> None:
        self.reset_at = parse_clock_time(reset_at)
        self.zone = ZoneInfo(zone)

    def start(self, now: float) -> float:
        """The epoch time the period containing `now` began."""
        local = _dt.datetime.fromtimestamp(now, self.zone)
        day = local.date()
        start = self._at(day)
        while start > now:
            day -= _dt.timedelta(days=1)
            start = self._at(day)
        return start

    def end(self, now: float) -> float:
        """The epoch time the period containing `now` ends (the next reset)."""
        day = _dt.datetime.fromtimestamp(self.start(now), self.zone).date()
        end = self._at(day + _dt.timedelta(days=1))
        while end <= now:
            day += _dt.timedelta(days=1)
            end = self._at(day + _dt.timedelta(days=1))
        return end

    def _at(self, day: _dt.date) -> float:
        return _dt.datetime.combine(day, self.reset_at, tzinfo=self.zone).timestamp()


class RollingPeriod:
    """The last `window` seconds (24 h by default), as Salesforce counts its API allowance."""

    kind = "rolling"

    def __init__(self, *, window: float = 86_400.0) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self.window = window

    def start(self, now: float) -> float:
        """The epoch time the window ending at `now` began."""
        return now - self.window
