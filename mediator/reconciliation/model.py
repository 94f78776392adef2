"""What a reconciliation run finds: match classes, breaks, control totals, the report.

A *check* (presence, time, money, invoices, payments) compares records of a source with
records of a target, each record under a match key. Every pair, lone record or group of
records it looks at gets one match class:

- ``matched``: the same on both sides;
- ``tolerance``: amounts differ by no more than the currency's tolerance (the delta is shown);
- ``missing``: the source has it, the target does not;
- ``orphan``: the target has it (made by or for mediator), the source does not;
- ``duplicate``: the target has it more than once;
- ``divergent``: both have it, a field differs (`FieldDiff`);
- ``in_flight``: not a break: its message is still in the journal (queued, in delivery,
  retrying, waiting for an approval or the posting window) or it changed in the source
  within the configured lag window, so the target cannot have it yet;
- ``changed_after_delivery``: the source changed after mediator delivered it (a later
  version of it is a dead letter, or was never delivered), so the target shows the old one.

The last five but ``in_flight`` are *breaks*. A break's `id` is a fingerprint of what is
broken (check, class, entity, system and the differing values), the same in every run while
the break is the same, so an operator's acceptance of it holds until the data changes.
"""

from __future__ import annotations

import hashlib
from typing import Final, Literal, TypeAlias

import msgspec

__all__ = [
    "BREAKS",
    "CHECKS",
    "Acceptance",
    "Break",
    "ControlTotal",
    "FieldDiff",
    "Report",
    "RunSummary",
    "SignOff",
    "Tolerated",
    "break_id",
]

MatchClass: TypeAlias = Literal[
    "matched",
    "tolerance",
    "missing",
    "orphan",
    "duplicate",
    "divergent",
    "in_flight",
    "changed_after_delivery",
]
#: the classes that are breaks (an operator must see them)
BREAKS: Final = frozenset({"missing", "orphan", "duplicate", "divergent", "changed_after_delivery"})

Check: TypeAlias = Literal["presence", "time", "money", "invoices", "payments"]
#: every check, in the order a run makes them (the default scope)
CHECKS: Final[tuple[Check, ...]] = ("presence", "time", "money", "invoices", "payments")

RepairAction: TypeAlias = Literal["replay", "redrive", "accept"]
"""How a break is repaired: replay its dead letters; re-drive its delivered message with its
original idempotency key (the target lost the effect); or accept it with a reason."""


class FieldDiff(msgspec.Struct, frozen=True, kw_only=True):
    """One field that differs: what the source says it should be, what the target has."""

    field: str
    expected: str
    found: str


class Acceptance(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's acceptance of a break: who, when, why (also in the audit log)."""

    break_id: str
    by: str
    at: float
    reason: str


class Break(msgspec.Struct, frozen=True, kw_only=True):
    """One difference between the systems, with what it concerns and how to repair it.

    `entity` names the business record (``time_entry:123``, ``client:001…``, ``invoice:in_…``)
    and `key` its journal entity key, when it has one. `journal` and `dead_letters` are the
    ids of the journal entries about it (see ``GET /entities/{key}``). `since` is when it
    first could be seen (the source's change time, else the run's start), so `age` grows
    while it stays open. `delta` is the amount difference, in `currency`.
    """

    id: str
    check: Check
    match: MatchClass
    entity: str
    system: str
    source: str
    detail: str
    repair: RepairAction
    key: str | None = None
    diffs: tuple[FieldDiff, ...] = ()
    delta: str | None = None
    currency: str | None = None
    since: float | None = None
    age: float | None = None
    journal: tuple[str, ...] = ()
    dead_letters: tuple[str, ...] = ()
    #: the delivered entry a re-drive sends again (its original idempotency key)
    redrive_of: str | None = None
    accepted: Acceptance | None = None


class Tolerated(msgspec.Struct, frozen=True, kw_only=True):
    """A match within tolerance: what, and by how much the target differs (target − source)."""

    check: Check
    entity: str
    currency: str
    delta: str


class ControlTotal(msgspec.Struct, frozen=True, kw_only=True):
    """A count and an amount of one kind of record in one system, for the period."""

    system: str
    what: str
    count: int
    amount: str = "0"
    currency: str | None = None


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """One run of the reconciliation over a period and a scope (some of `CHECKS`).

    `counts` are the match classes by check; `breaks` the open ones (accepted ones are in
    `accepted`); `compared` counts the records read and matched; `calls` the API calls made
    per system while the run lasted; `clean` is True when no break is open.
    """

    run_id: str
    period: str
    scope: tuple[Check, ...]
    started_at: float
    finished_at: float
    compared: int
    counts: dict[str, dict[str, int]]
    totals: tuple[ControlTotal, ...]
    breaks: tuple[Break, ...]
    accepted: tuple[Break, ...] = ()
    tolerated: tuple[Tolerated, ...] = ()
    calls: dict[str, int] = msgspec.field(default_factory=dict)
    clean: bool = True


class RunSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A stored run in the list of runs."""

    run_id: str
    period: str
    scope: tuple[Check, ...]
    finished_at: float
    compared: int
    breaks: int
    accepted: int


class SignOff(msgspec.Struct, frozen=True, kw_only=True):
    """A period signed off: the clean run it rests on, frozen, and who signed."""

    period: str
    run_id: str
    by: str
    at: float
    reason: str | None
    report: Report


def break_id(check: str, match: str, entity: str, system: str, *facts: str) -> str:
    """The fingerprint of a break: the same while the same thing is broken the same way."""
    text = "\x1f".join((check, match, entity, system, *facts))
    return "brk_" + hashlib.sha256(text.encode()).hexdigest()[:20]
