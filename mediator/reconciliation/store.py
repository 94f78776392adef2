"""Where runs, acceptances and sign-offs are kept: the journal's flow state.

Flow state is durable, versioned and read by key, and is in the journal file the operator
already backs up, so a run outlives the process that made it and a sign-off is as durable as
the postings it signs. Names: ``reconciliation.run`` (one run's report, by run id),
``reconciliation.runs`` (the index of the latest `KEEP` runs, newest first),
``reconciliation.accepted`` (by break id) and ``reconciliation.signoff`` (by period).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import msgspec

from mediator.flows.flow_state import load, update
from mediator.journal import Journal
from mediator.journal.reads import JournalReader
from mediator.reconciliation.model import Acceptance, Report, RunSummary, SignOff

__all__ = ["KEEP", "RunStore"]

#: how many runs the index lists (each run's report stays readable by its id)
KEEP: Final = 200

_RUN = "reconciliation.run"
_RUNS = "reconciliation.runs"
_ACCEPTED = "reconciliation.accepted"
_SIGNOFF = "reconciliation.signoff"
_CHUNK = 500  # ids a query: well below SQLite's limit of parameters


class _Index(msgspec.Struct, frozen=True, kw_only=True):
    runs: tuple[RunSummary, ...] = ()


class RunStore:
    """The stored runs, acceptances and sign-offs of one journal."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def save(self, report: Report) -> None:
        """Keep a run's report and list it first in the index."""
        await update(self.journal, _RUN, report.run_id, Report, lambda _: report)
        summary = RunSummary(
            run_id=report.run_id,
            period=report.period,
            scope=report.scope,
            finished_at=report.finished_at,
            compared=report.compared,
            breaks=len(report.breaks),
            accepted=len(report.accepted),
        )

        def listed(index: _Index | None) -> _Index:
            runs = index.runs if index is not None else ()
            return _Index(runs=(summary, *(r for r in runs if r.run_id != report.run_id))[:KEEP])

        await update(self.journal, _RUNS, "index", _Index, listed)

    async def run(self, run_id: str) -> Report | None:
        """A stored run, or None."""
        return (await load(self.journal, _RUN, run_id, Report))[0]

    async def runs(self, *, period: str | None = None) -> tuple[RunSummary, ...]:
        """The latest runs, newest first (of `period` only, if given)."""
        index = (await load(self.journal, _RUNS, "index", _Index))[0]
        runs = index.runs if index is not None else ()
        return tuple(r for r in runs if period is None or r.period == period)

    async def accept(self, acceptance: Acceptance) -> None:
        """Record that a break is accepted."""
        await update(self.journal, _ACCEPTED, acceptance.break_id, Acceptance, lambda _: acceptance)

    async def acceptances(
        self, reader: JournalReader, break_ids: Collection[str]
    ) -> dict[str, Acceptance]:
        """The acceptances of these breaks that exist, by break id: read through `reader`'s
        index of flow state, a few hundred ids a query, never one read per break."""
        wanted = list(dict.fromkeys(break_ids))
        found: dict[str, Acceptance] = {}
        for start in range(0, len(wanted), _CHUNK):
            for state in await reader.flow_states([_ACCEPTED], wanted[start : start + _CHUNK]):
                found[state.entity] = msgspec.json.decode(state.state, type=Acceptance)
        return found

    async def sign_off(self, signed: SignOff) -> tuple[SignOff, bool]:
        """Record a period's sign-off, unless it was signed already (the first one holds);
        return the one kept and whether it is this one."""
        before, kept = await update(
            self.journal, _SIGNOFF, signed.period, SignOff, lambda old: old or signed
        )
        return kept, before is None

    async def signed_off(self, period: str) -> SignOff | None:
        """The period's sign-off, if any."""
        return (await load(self.journal, _SIGNOFF, period, SignOff))[0]
