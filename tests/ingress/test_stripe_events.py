"""The Stripe events poller: what a missed webhook said, caught up from ``/v1/events``."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from mediator.ingress.stripe_events import INVALID_EVENT, StripeEventsPoller, StripePollReport
from mediator.journal import DeadLetterFilter
from mediator.policies import PolicyRegistry, default_policy_config
from mediator.runtime.finance_flows import STRIPE_EVENT_KINDS
from mediator.systems import Secret
from mediator.systems.stripe import StripeConnector
from tests.flows.finance_support import Finance, free_port, open_finance

pytestmark = pytest.mark.slow  # three sandboxes, a journal and the whole runtime per test


@pytest.fixture
async def finance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Finance]:
    async with open_finance(tmp_path, monkeypatch) as running:
        yield running


@contextlib.asynccontextmanager
async def small_pages(finance: Finance, page_size: int = 2) -> AsyncIterator[StripeEventsPoller]:
    """A poller of the Mediator's events feed reading `page_size` events a page."""
    assert finance.boxes.stripe is not None
    key = Secret(finance.boxes.credentials()["stripe"]["api_key"], source="test")
    connector = StripeConnector(
        base_url=finance.boxes.urls["stripe"],
        policies=PolicyRegistry(default_policy_config(), clock=finance.clock),
        clock=finance.clock,
        secret=lambda: key,
    )
    try:
        yield StripeEventsPoller(connector, kinds=STRIPE_EVENT_KINDS, page_size=page_size)
    finally:
        await connector.aclose()


async def poll(finance: Finance, poller: StripeEventsPoller) -> StripePollReport:
    dispatcher = finance.mediator._running_dispatcher()
    return await finance.run(poller.poll(finance.mediator.journal, dispatcher))


async def test_the_daemon_down_while_stripe_retries_is_caught_up_and_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoices: list[str] = []

    async def while_down(finance: Finance) -> None:
        for cents in (10_000, 20_000, 30_000):
            invoice = finance.invoice([cents])
            finance.stripe.finalize(invoice)
            finance.stripe.pay(invoice, out_of_band=True)
            invoices.append(invoice)
        assert finance.boxes.stripe is not None
        assert finance.boxes.stripe.webhooks is not None
        await finance.run(finance.boxes.stripe.webhooks.wait_idle())  # refused: retried later

    async with open_finance(tmp_path, monkeypatch, before_start=while_down) as finance:
        assert finance.tryton_invoices() == []
        report = await finance.run(finance.mediator.poll("stripe_events"))
        await finance.settle()

        assert (report.journaled, report.duplicates, report.rejected) == (6, 0, 0)
        assert sorted(r["reference"] for r in finance.tryton_invoices()) == sorted(invoices)
        assert {r["state"] for r in finance.tryton_invoices()} == {"paid"}

        await finance.advance(60.0)  # Stripe's first retry reaches the listener now
        assert finance.boxes.stripe is not None
        assert finance.boxes.stripe.webhooks is not None
        delivered = [a for a in finance.boxes.stripe.webhooks.attempts if a.status == 200]
        assert len(delivered) >= 6
        again = await finance.run(finance.mediator.poll("stripe_events"))
        await finance.settle()

        assert again.read == 0  # the watermark is the newest event
        assert len(finance.tryton_invoices()) == 3
        assert sorted(r["paid_amount"] for r in finance.tryton_invoices()) == [
            Decimal("100.00"),
            Decimal("200.00"),
            Decimal("300.00"),
        ]
        assert await finance.mediator.dead_letters(DeadLetterFilter()) == []


async def test_pages_walk_from_the_watermark_to_the_newest_each_event_once(
    finance: Finance,
) -> None:
    async with small_pages(finance) as poller:
        first = finance.invoice([1_000])
        finance.stripe.finalize(first)
        await finance.settle()
        before = await poll(finance, poller)  # the first poll: everything Stripe keeps
        known = len(finance.stripe.events)
        assert finance.boxes.stripe is not None
        sender = finance.boxes.stripe.webhooks
        assert sender is not None
        reachable, sender.url = sender.url, f"http://127.0.0.1:{free_port()}/webhooks/stripe"
        later = [finance.invoice([n * 1_000]) for n in range(2, 7)]
        for invoice in later:
            finance.stripe.finalize(invoice)
        await finance.settle()  # every delivery refused: Stripe retries in a minute
        after = await poll(finance, poller)  # 2 events a page: 5 finalized among 15 events
        await finance.settle()
        sender.url = reachable
        await finance.advance(60.0)

        assert (before.journaled, before.duplicates) == (0, 1)  # the webhook had journaled it
        assert after.read == len(finance.stripe.events) - known
        assert (after.journaled, after.duplicates, after.rejected) == (len(later), 0, 0)
        assert after.watermark == list(finance.stripe.events)[-1]
        assert sorted(r["reference"] for r in finance.tryton_invoices()) == sorted([first, *later])
        assert all(a.status == 200 for a in sender.attempts[-len(later) :])  # duplicates, 200


async def test_an_undecodable_event_is_a_dead_letter_naming_the_field_and_the_rest_go_on(
    finance: Finance,
) -> None:
    async with small_pages(finance, page_size=3) as poller:
        await poll(finance, poller)  # the watermark: every event so far
        assert finance.boxes.stripe is not None
        sender = finance.boxes.stripe.webhooks
        assert sender is not None
        sender.url = f"http://127.0.0.1:{free_port()}/webhooks/stripe"  # the webhooks are lost
        good = finance.invoice([5_000])
        finance.stripe.finalize(good)
        [event] = [e for e in finance.stripe.events.values() if e["type"] == "invoice.finalized"]
        broken = copy.deepcopy(event)
        broken["id"] = "evt_broken0000000000"
        broken["created"] = "yesterday"
        finance.stripe.events[broken["id"]] = broken
        other = finance.invoice([6_000])
        finance.stripe.finalize(other)

        report = await poll(finance, poller)
        await finance.settle()
        again = await poll(finance, poller)

        assert report.rejected == 1
        [dead] = await finance.mediator.dead_letters(DeadLetterFilter(kind=INVALID_EVENT))
        assert dead.envelope.key == "event:evt_broken0000000000"
        assert ".created" in str(dead.reason)
        assert "$.data[" in str(dead.reason)
        assert sorted(r["reference"] for r in finance.tryton_invoices()) == sorted([good, other])
        assert again.read == 0


async def test_a_watermark_stripe_no_longer_keeps_reads_all_it_keeps(finance: Finance) -> None:
    async with small_pages(finance) as poller:
        invoice = finance.invoice([3_000])
        finance.stripe.finalize(invoice)
        await finance.settle()
        seen = await poll(finance, poller)
        assert seen.watermark is not None
        del finance.stripe.events[seen.watermark]  # older than Stripe's 30 days now

        report = await poll(finance, poller)

        assert report.read == len(finance.stripe.events)
        assert report.journaled == 0  # all journaled before: duplicates, not repeats
        assert report.watermark == list(finance.stripe.events)[-1]


async def test_only_the_kinds_of_enabled_flows_are_journaled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_finance(tmp_path, monkeypatch, cash=False) as finance:
        invoice = finance.invoice([7_000])
        finance.stripe.finalize(invoice)
        finance.stripe.pay(invoice, out_of_band=True)
        await finance.settle()
        report = await finance.run(finance.mediator.poll("stripe_events"))
        await finance.settle()

        assert isinstance(report, StripePollReport)
        assert report.duplicates == 1  # invoice.finalized, journaled by the webhook before
        assert report.journaled == 0
        assert report.ignored == report.read - 1  # invoice.paid among them: no flow takes it
        assert await finance.mediator.dead_letters(DeadLetterFilter()) == []
        [posted] = finance.tryton_invoices()
        assert posted["state"] == "posted"
