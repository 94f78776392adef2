"""What the demo did and what it checked: the report, the ERP check and the summary lines.

Every figure the summary presents as a result is reproduced by the same `--seed`; the ones
that depend on timing (how the ERP actor's batches form, and so which calls the ERP sandbox's
faults hit) are printed apart, under a heading that says they vary from run to run. The ERP
check compares the ERP's own timesheet lines with the entries the journal holds: a missing
line and a duplicated one both make the run a failure, and the summary says which.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Iterator

import msgspec

from mediator.demo.checks import Check

__all__ = ["DemoReport", "ErpCheck", "check_erp", "summary"]

#: The marker `timesheet_line_to_tryton` puts at the end of a line's description.
_MARKER = re.compile(r"\[mediator (?P<system>[^:\]]+):(?P<id>[^:\]]+):r(?P<revision>\d+)\]$")


class ErpCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The ERP's lines from mediator counted against the entries that should have one each."""

    expected: int
    lines: int
    missing: int
    duplicates: int
    unexpected: int

    @property
    def ok(self) -> bool:
        """True when every expected entry has exactly one line and there is no other."""
        return not (self.missing or self.duplicates or self.unexpected)


def check_erp(expected_ids: Iterable[str], descriptions: Iterable[str]) -> ErpCheck:
    """Count the ERP lines marked by mediator per source id against `expected_ids`."""
    expected = set(expected_ids)
    per_id = collections.Counter(
        match["id"] for text in descriptions if (match := _MARKER.search(text)) is not None
    )
    return ErpCheck(
        expected=len(expected),
        lines=sum(per_id.values()),
        missing=len(expected - set(per_id)),
        duplicates=sum(n - 1 for n in per_id.values()),
        unexpected=sum(n for source_id, n in per_id.items() if source_id not in expected),
    )


class DemoReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the demo did and what it checked (`timing` fields vary from run to run)."""

    seed: int
    clients: int
    entries: int
    never_approved: int
    days: int
    approved_read: int
    journaled: int
    read_again: int
    rejected: int
    duplicates_on_replay: int
    new_on_replay: int
    delivered: int
    dead: int
    erp_lines: int
    erp_missing_lines: int
    erp_duplicate_lines: int
    erp_unexpected_lines: int
    journal_path: str | None
    #: each flow's own check, read off the sandboxes (onboarding, billing, receivables, cash)
    checks: tuple[Check, ...] = ()
    #: invoices a person approved before they were posted (above the approval amount)
    approvals: int = 0
    #: invoices the customers paid (the first of them in part)
    payments: int = 0
    #: Stripe invoice-item writes (creates and updates) for the month's billable entries
    item_writes: int = 0
    #: approved billable time entries
    billable_entries: int = 0
    # timing-dependent
    retried: int
    erp_batches: int
    average_batch: float
    injected_errors: int
    injected_drops: int
    connector_retries: int
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the ERP holds one line for each journaled entry and nothing else, and
        every flow's check passed."""
        lines = not (
            self.erp_missing_lines or self.erp_duplicate_lines or self.erp_unexpected_lines
        )
        return lines and all(check.ok for check in self.checks)


def summary(report: DemoReport, month: str) -> Iterator[str]:
    """Yield the summary lines after the run: results, then the timing-dependent figures."""
    r = report
    yield (
        f"  {r.days} days of approvals polled: {r.approved_read:,} records read = "
        f"{r.journaled:,} journaled + {r.read_again:,} read again"
        + (f" + {r.rejected:,} rejected (dead letters)" if r.rejected else "")
    )
    yield (
        "    read again: each poll re-reads the entries stamped at its watermark "
        "(Harvest's updated_since is inclusive); the journal knows them by id and version"
    )
    yield (
        f"    {r.never_approved:,} of the {r.entries:,} time entries were never approved in "
        f"{month}, so never read: the poller reads approved time only"
    )
    yield (
        f"  replayed the month: {r.duplicates_on_replay + r.new_on_replay:,} read, "
        f"{r.duplicates_on_replay:,} already journaled, {r.new_on_replay} new"
    )
    yield f"  delivered {r.delivered:,} to project actors, {r.dead} dead letters"
    yield (
        f"  ERP: {r.erp_lines:,} timesheet lines from mediator for {r.journaled:,} journaled "
        f"entries: {r.erp_missing_lines} missing, {r.erp_duplicate_lines} duplicates"
        + (f", {r.erp_unexpected_lines} for no journaled entry" if r.erp_unexpected_lines else "")
    )
    for check in r.checks:
        yield f"  {check.name}: {check.figures}" + ("" if check.ok else " — FAILED")
        for problem in check.problems[:5]:
            yield f"    {problem}"
    if r.checks:
        yield (
            f"  billing: {r.item_writes} Stripe invoice-item writes for {r.billable_entries} "
            "billable entries (one item per invoice line, created once, updated at each weekly "
            "flush: never one call per entry)"
        )
        yield (
            f"  {r.approvals} invoices approved by a person before posting (above the amount "
            f"that needs one); {r.payments} invoices paid by the customers"
        )
    yield (
        "  timing-dependent, so different on every run (the ERP actor batches what arrives "
        "within 10 ms; the ERP sandbox draws its faults call by call, in arrival order):"
    )
    yield (
        f"    the ERP sandbox failed {r.injected_errors} calls and dropped {r.injected_drops} "
        f"answers after committing; the connector retried {r.connector_retries} calls, looking "
        f"each create up before repeating it; the journal retried {r.retried} deliveries"
    )
    yield (
        f"    {r.erp_batches} batched ERP calls (average {r.average_batch:.1f} lines); "
        f"done in {r.seconds:.1f} s"
    )
    if r.ok:
        yield (
            "  OK: every journaled entry is in the ERP exactly once"
            + (", and every flow's check passed" if r.checks else "")
        )
    elif not all(check.ok for check in r.checks):
        failed = ", ".join(check.name for check in r.checks if not check.ok)
        yield f"  FAILED: {failed} (see above)"
    else:
        yield (
            f"  FAILED: the ERP does not hold one line per journaled entry "
            f"({r.erp_missing_lines} missing, {r.erp_duplicate_lines} duplicates)"
        )
