"""Polling Harvest for approved expenses into the journal, for the billing flow.

As the time poller does (`mediator.ingress.harvest_time`): each poll reads the expenses
approved and updated since the watermark, maps each to a canonical `Expense`, and journals
them with the new watermark in one transaction; the idempotency key is the expense's id and
its `updated_at`, so an edit after approval arrives as a new version (billing corrects it).
Each version is keyed by its first version's project (``billing:project:<harvest id>``, kept
in flow state), so versions of one expense are delivered in order.

Billing only: billable versions, and a non-billable version of an expense that reached
billing before (to take it back); the rest never reach billing. A record that does not decode
or map is journaled as a dead letter naming the field, never dropped. The ERP's expense lines
are not journaled here yet.
"""

from __future__ import annotations

import datetime

from mediator._task_group import TaskGroup
from mediator.codecs.canonical.time_and_expenses import Expense
from mediator.codecs.harvest.mapping import expense_from_harvest
from mediator.flows.billing.kinds import APPROVED_EXPENSE, PAYLOADS
from mediator.ingress.harvest_time import PollReport
from mediator.ingress.rejected import Rejected, record_version
from mediator.journal import Dispatcher, Journal, Watermark
from mediator.systems.harvest import HarvestConnector

__all__ = ["INVALID_EXPENSE", "HarvestExpensesPoller"]

#: The kind under which expenses that could not be decoded are dead-lettered.
INVALID_EXPENSE = "psa.expense.invalid"
_SOURCE = "harvest"
_KEYS = "harvest_expenses.key"
_BILLED = "harvest_expenses.billing"


class HarvestExpensesPoller:
    """Reads approved expenses from Harvest and hands billing's to the dispatcher durably."""

    def __init__(
        self, harvest: HarvestConnector, *, account_currency: str, name: str = "harvest_expenses"
    ) -> None:
        self.harvest = harvest
        self.account_currency = account_currency
        self.name = name

    async def poll(self, journal: Journal, dispatcher: Dispatcher) -> PollReport:
        """Run one poll; return once everything it read is durable (and queued)."""
        mark = await journal.get_watermark(self.name)
        since = datetime.datetime.fromisoformat(mark.value) if mark is not None else None
        changed = await self.harvest.approved_expenses(since=since)
        for bad in changed.rejected:
            await self._reject(journal, Rejected.of(bad))
        expenses: list[Expense] = []
        for i, raw in enumerate(changed.records):
            path = f"$.expenses[{i}]"
            try:
                expenses.append(
                    expense_from_harvest(raw, account_currency=self.account_currency, path=path)
                )
            # one record's failure is that record's dead letter, as for time entries (#13)
            except Exception as exc:  # noqa: BLE001
                stamp = record_version(raw.updated_at, raw)
                failed = Rejected.failed(
                    raw, exc, path=path, source_id=str(raw.id), version=stamp,
                    what="Harvest expense",
                )  # fmt: skip
                await self._reject(journal, failed)
        async with TaskGroup() as group:
            tasks = [group.create_task(_route(journal, expense)) for expense in expenses]
        envelopes = [
            PAYLOADS.envelope(
                APPROVED_EXPENSE,
                expense,
                key=key,
                source=_SOURCE,
                idempotency_key=f"harvest:expense:{expense.source_id}:{_version(expense)}",
                occurred_at=expense.updated_at or datetime.datetime.now(datetime.UTC),
            )
            for expense, task in zip(expenses, tasks, strict=True)
            if (key := task.result()) is not None
        ]
        watermark = (
            None
            if changed.watermark is None
            else Watermark(name=self.name, value=changed.watermark.isoformat())
        )
        appended = await dispatcher.accept_many(envelopes, watermark=watermark)
        duplicates = sum(a.duplicate for a in appended)
        read = len(changed.records) + len(changed.rejected)
        return PollReport(
            read=read,
            journaled=len(appended) - duplicates,
            duplicates=duplicates,
            rejected=read - len(expenses),
            watermark=None if watermark is None else watermark.value,
        )

    async def _reject(self, journal: Journal, rejected: Rejected) -> None:
        source_id = rejected.source_id or "unidentified"
        await rejected.dead_letter(
            journal,
            key=f"expense:{source_id}",
            kind=INVALID_EXPENSE,
            source=_SOURCE,
            idempotency_key=f"harvest:expense:{source_id}:{rejected.version}:invalid",
        )


def _version(expense: Expense) -> str:
    return expense.updated_at.isoformat() if expense.updated_at else "unstamped"


async def _route(journal: Journal, expense: Expense) -> str | None:
    # the key of the expense's first version; None when it never reaches billing
    billed = await journal.load_flow(_BILLED, expense.source_id) is not None
    if not expense.billable and not billed:
        return None
    if not billed:
        await journal.save_flow(_BILLED, expense.source_id, b"1", expected_version=0)
    key = f"billing:project:{expense.project_id}"
    while True:
        saved = await journal.load_flow(_KEYS, expense.source_id)
        if saved is not None:
            return saved.state.decode()
        if await journal.save_flow(_KEYS, expense.source_id, key.encode(), expected_version=0):
            return key
