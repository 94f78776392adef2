"""One run in progress: what the checks share (reads, the journal's knowledge, the options)
and what they find (match classes, breaks, control totals)."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from decimal import Decimal

import msgspec

from mediator.reconciliation.known import Fate, Known
from mediator.reconciliation.model import (
    BREAKS,
    Break,
    Check,
    ControlTotal,
    FieldDiff,
    MatchClass,
    RepairAction,
    Tolerated,
    break_id,
)
from mediator.reconciliation.reads import SystemReads

__all__ = ["Options", "Run"]


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """How a run judges: the lag window and the amount tolerance per currency.

    `lag` (seconds): a source record changed less than this long ago is in flight, not a
    break (the pollers have not read it yet). `tolerance` maps a currency (ISO, upper case)
    to the largest difference that still matches, in major units (``{"USD": "0.05"}``);
    `default_tolerance` applies to the others: rounding once per line against once per
    entry differs by a few cents on a month's invoice.
    """

    lag: float = 900.0
    tolerance: Mapping[str, str] = msgspec.field(default_factory=dict)
    default_tolerance: str = "0.05"

    def tolerance_of(self, currency: str) -> Decimal:
        """The tolerance of `currency`, in major units."""
        return Decimal(self.tolerance.get(currency.upper(), self.default_tolerance))


class Run:
    """The shared state of one run: its inputs and its findings so far."""

    def __init__(
        self,
        *,
        period: str,
        reads: SystemReads,
        known: Known,
        options: Options,
        now: float,
    ) -> None:
        self.period = period
        self.reads = reads
        self.known = known
        self.options = options
        self.now = now
        self.counts: dict[str, collections.Counter[str]] = {}
        self.breaks: list[Break] = []
        self.totals: list[ControlTotal] = []
        self.compared = 0
        self.tolerated: list[Tolerated] = []

    def count(self, check: Check, match: MatchClass, n: int = 1) -> None:
        """Count `n` comparisons of `check` that ended in `match` (not a break)."""
        assert match not in BREAKS, "breaks are counted by `found`"
        self.counts.setdefault(check, collections.Counter())[match] += n
        self.compared += n

    def tolerate(self, check: Check, entity: str, currency: str, delta: Decimal) -> None:
        """Count a match within tolerance, keeping its delta for the report."""
        self.count(check, "tolerance")
        self.tolerated.append(
            Tolerated(check=check, entity=entity, currency=currency, delta=str(delta))
        )

    def total(
        self,
        system: str,
        what: str,
        count: int,
        amount: Decimal = Decimal(0),
        currency: str | None = None,
    ) -> None:
        """Record a control total."""
        self.totals.append(
            ControlTotal(
                system=system, what=what, count=count, amount=str(amount), currency=currency
            )
        )

    def recent(self, changed_at: float | None) -> bool:
        """Whether a source change at `changed_at` is within the lag window (in flight)."""
        return changed_at is not None and self.now - changed_at < self.options.lag

    def found(
        self,
        check: Check,
        match: MatchClass,
        *,
        entity: str,
        system: str,
        source: str,
        detail: str,
        key: str | None = None,
        diffs: tuple[FieldDiff, ...] = (),
        delta: Decimal | None = None,
        currency: str | None = None,
        since: float | None = None,
        fate: Fate | None = None,
        journal: tuple[str, ...] = (),
        dead_letters: tuple[str, ...] = (),
        repair: RepairAction | None = None,
    ) -> None:
        """Record a break; its repair is a replay when it is missing or divergent and has dead
        letters, a re-drive when `repair` says so (a delivered message whose effect is gone),
        an acceptance else."""
        assert match in BREAKS
        if fate is not None:
            journal = (*journal, *fate.ids)
            if fate.dead:
                dead_letters = (*dead_letters, fate.latest.id)
        facts = tuple(f"{d.field}={d.expected}/{d.found}" for d in diffs)
        if delta is not None:  # a shortfall that grows is not the one an operator accepted
            facts = (*facts, f"delta={delta} {currency or ''}")
        # Only an effect that is absent (or short) is what a replay makes. A change after
        # delivery is a person's (replaying its dead letter would refuse again), and no replay
        # undoes a duplicate or an orphan: their dead letters are linked, not replayed.
        replayable = bool(dead_letters) and match in ("missing", "divergent")
        chosen: RepairAction = "replay" if replayable else (repair or "accept")
        if chosen == "redrive" and fate is None:
            chosen = "accept"  # nothing delivered to send again
        start = since if since is not None else self.now
        self.counts.setdefault(check, collections.Counter())[match] += 1
        self.compared += 1
        self.breaks.append(
            Break(
                id=break_id(check, match, entity, system, *facts),
                check=check,
                match=match,
                entity=entity,
                system=system,
                source=source,
                detail=detail,
                repair=chosen,
                key=key,
                diffs=diffs,
                delta=None if delta is None else str(delta),
                currency=currency,
                since=start,
                age=max(0.0, self.now - start),
                journal=tuple(dict.fromkeys(journal)),
                dead_letters=tuple(dict.fromkeys(dead_letters)),
                redrive_of=fate.latest.id if chosen == "redrive" and fate is not None else None,
            )
        )
