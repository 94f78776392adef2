"""A finance calendar: when postings to the ledger are allowed, and which need an approval.

Finance teams post on working days and working hours, and freeze the ledger while a period is
closed (a blackout). A posting that arrives outside the window waits for `next_open`; one above
an amount threshold, or of a kind that always needs a person, is held for approval.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Collection, Iterable
from zoneinfo import ZoneInfo

import msgspec

from mediator.errors import PostingWindowClosed
from mediator.policies.periods import parse_clock_time

__all__ = ["ApprovalRule", "ApprovalRules", "PostingWindow"]

_DAY = _dt.timedelta(days=1)
# Enough days to step over any blackout and a year of closed weekdays before giving up.
_MAX_STEPS = 800


class PostingWindow:
    """Postings allowed on `weekdays` (0 = Monday) from `opens` to `closes` (``HH:MM``, local to
    `zone`), except during `blackouts` (half-open ``[start, end)`` local datetimes in ISO form).

    ``closes = "24:00"`` means the end of the day. Times in and out are epoch seconds.
    """

    def __init__(
        self,
        name: str,
        *,
        zone: str = "UTC",
        weekdays: Collection[int] = (0, 1, 2, 3, 4),
        opens: str = "00:00",
        closes: str = "24:00",
        blackouts: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.name = name
        self.zone = ZoneInfo(zone)
        if not all(0 <= day <= 6 for day in weekdays):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        self.weekdays = frozenset(weekdays)
        self._opens = parse_clock_time(opens)
        self._closes = None if closes == "24:00" else parse_clock_time(closes)
        if self._closes is not None and self._closes <= self._opens:
            raise ValueError(f"closes ({closes}) must be after opens ({opens})")
        self.blackouts: list[tuple[float, float]] = []
        for start, end in blackouts:
            first, last = self._local(start), self._local(end)
            if last <= first:
                raise ValueError(f"blackout {start} .. {end} ends before it starts")
            self.blackouts.append((first, last))
        self.blackouts.sort()

    def is_open(self, t: float) -> bool:
        """Whether a posting at epoch time `t` is allowed."""
        return self.next_open(t) == t

    def next_open(self, t: float) -> float | None:
        """The first epoch time at or after `t` when postings are allowed (`None`: never)."""
        if not self.weekdays:
            return None
        for _ in range(_MAX_STEPS):
            blackout_end = next((end for start, end in self.blackouts if start <= t < end), None)
            if blackout_end is not None:
                t = blackout_end
                continue
            local = _dt.datetime.fromtimestamp(t, self.zone)
            day = local.date()
            opens, closes = self._day_bounds(day)
            if day.weekday() in self.weekdays and opens <= t < closes:
                return t
            if day.weekday() in self.weekdays and t < opens:
                t = opens
            else:
                t = self._day_bounds(day + _DAY)[0]
        return None

    def next_close(self, t: float) -> float | None:
        """The first epoch time at or after `t` when postings stop being allowed (`t` itself
        when closed at `t`; `None`: open from then on)."""
        if not self.is_open(t):
            return t
        end = t
        for _ in range(_MAX_STEPS):
            day = _dt.datetime.fromtimestamp(end, self.zone).date()
            end = self._day_bounds(day)[1]
            blackout = next((start for start, _ in self.blackouts if t <= start < end), None)
            if blackout is not None:
                return blackout
            if not self.is_open(end):  # the next day does not carry on from midnight
                return end
        return None

    def check(self, t: float) -> None:
        """Raise `PostingWindowClosed` (with the next opening) unless postings may go at `t`."""
        opens_at = self.next_open(t)
        if opens_at != t:
            wait = None if opens_at is None else max(opens_at - t, 0.0)
            raise PostingWindowClosed(self.name, opens_at, retry_after=wait)

    def _day_bounds(self, day: _dt.date) -> tuple[float, float]:
        opens = _dt.datetime.combine(day, self._opens, tzinfo=self.zone).timestamp()
        if self._closes is None:
            closes = _dt.datetime.combine(day + _DAY, _dt.time(), tzinfo=self.zone).timestamp()
        else:
            closes = _dt.datetime.combine(day, self._closes, tzinfo=self.zone).timestamp()
        return opens, closes

    def _local(self, text: str) -> float:
        moment = _dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.timestamp()


class ApprovalRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Hold a posting for approval when its kind is in `kinds` (empty: any kind) and its amount
    (minor units, in `currency` if given) is at least `amount_at_least` (`None`: any amount)."""

    name: str
    kinds: frozenset[str] = frozenset()
    amount_at_least: int | None = None
    currency: str | None = None

    def matches(self, *, kind: str, amount: int, currency: str) -> bool:
        """Whether this rule holds a posting of `kind` for `amount` minor units of `currency`."""
        if self.kinds and kind not in self.kinds:
            return False
        if self.currency is not None and currency != self.currency:
            return False
        return self.amount_at_least is None or amount >= self.amount_at_least


class ApprovalRules:
    """The approval rules of a posting window: the first that matches holds the posting."""

    def __init__(self, rules: Iterable[ApprovalRule]) -> None:
        self.rules = tuple(rules)

    def hold_reason(self, *, kind: str, amount: int, currency: str) -> str | None:
        """Why a posting must wait for approval, or `None` if it may go ahead."""
        for rule in self.rules:
            if rule.matches(kind=kind, amount=amount, currency=currency):
                threshold = (
                    f" of at least {rule.amount_at_least} {rule.currency or ''}".rstrip()
                    if rule.amount_at_least is not None
                    else ""
                )
                return f"held for approval by rule {rule.name}: {kind}{threshold}"
        return None
