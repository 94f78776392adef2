"""Back-billing arithmetic: which billed entries a change order re-prices, by how much."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from mediator.codecs.canonical.engagements import ChangeOrder, RateChange
from mediator.codecs.canonical.money import Money
from mediator.errors import BusinessRejected
from mediator.flows.billed_periods import BilledEntry, BilledPeriod
from mediator.flows.change_orders import adjustments_for, periods_since, terms_of
from mediator.flows.rate_history import RateHistory, RatePeriod

START = datetime.date(2026, 1, 1)
EFFECTIVE = datetime.date(2026, 3, 16)


def usd(cents: int) -> Money:
    return Money(amount=cents, currency="USD")


def order(**fields: object) -> ChangeOrder:
    values: dict[str, object] = {
        "source_system": "salesforce",
        "source_id": "a0C1",
        "engagement_id": "006A",
        "effective_on": EFFECTIVE,
        "rate_changes": (RateChange(role="Senior", bill_rate=usd(24_000)),),
        **fields,
    }
    return ChangeOrder(**values)  # type: ignore[arg-type]  # the test's own field values


def history(change: ChangeOrder) -> RateHistory:
    card = RateHistory(
        project_id="P-1",
        currency="USD",
        staffing={"ana": "Senior", "bo": "Senior", "cy": "Partner"},
        periods=(
            RatePeriod(role="Senior", bill_rate=usd(21_000), effective_from=START, source="card"),
            RatePeriod(role="Partner", bill_rate=usd(42_000), effective_from=START, source="card"),
            # bo's own rate: a role's change order does not reach it
            RatePeriod(
                role="Senior",
                consultant_id="bo",
                bill_rate=usd(22_000),
                effective_from=START,
                source="card",
            ),
        ),
    )
    for rate in change.rate_changes:
        card = card.with_period(
            RatePeriod(
                role=rate.role,
                consultant_id=rate.consultant_id,
                bill_rate=rate.bill_rate,
                effective_from=change.effective_on,
                source=f"change_order:{change.source_id}",
            )
        )
    return card


def entry(key: str, who: str, day: int, hours: str, rate: int, *, month: int = 3) -> BilledEntry:
    return BilledEntry(
        entry_id=key,
        project_id="P-1",
        consultant_id=who,
        spent_on=datetime.date(2026, month, day),
        hours=Decimal(hours),
        unit_rate=rate,
    )


def period(month: int, *entries: BilledEntry, status: str = "finalized") -> BilledPeriod:
    return BilledPeriod(
        client_id="001A",
        period=f"2026-{month:02d}",
        currency="USD",
        status=status,  # type: ignore[arg-type]  # the test's own literal
        entries=entries,
    )


def test_only_entries_from_the_effective_date_at_the_changed_rate_are_adjusted() -> None:
    change = order()
    march = period(
        3,
        entry("before", "ana", 15, "8", 21_000),
        entry("on", "ana", 16, "7.25", 21_000),
        entry("own-rate", "bo", 20, "5", 22_000),
        entry("partner", "cy", 20, "3", 42_000),
        BilledEntry(
            entry_id="other-project",
            project_id="P-2",
            consultant_id="ana",
            spent_on=datetime.date(2026, 3, 20),
            hours=Decimal(9),
            unit_rate=21_000,
        ),
    )
    april = period(4, entry("april", "ana", 2, "1.5", 21_000, month=4))

    found = adjustments_for(change, "P-1", history(change), [march, april])

    assert [(a.period, a.amount) for a in found] == [
        ("2026-03", usd(21_750)),  # 7.25 h × 30.00
        ("2026-04", usd(4_500)),
    ]
    assert found[0].source == "change_order:a0C1"
    assert "1 entries of project P-1 billed in 2026-03" in found[0].description


def test_a_draft_period_and_a_period_billed_at_the_new_rate_need_no_adjustment() -> None:
    change = order()
    draft = period(3, entry("d", "ana", 20, "8", 21_000), status="draft")
    repriced = period(4, entry("r", "ana", 2, "8", 24_000, month=4))

    assert adjustments_for(change, "P-1", history(change), [draft, repriced]) == []


def test_a_draft_s_entries_priced_before_the_change_order_are_repriced_on_the_draft() -> None:
    # booked before the order was applied, at the rates of then: due as they are, no approval
    change = order()
    draft = period(3, entry("d", "ana", 20, "8", 21_000), status="draft")

    [repriced] = adjustments_for(change, "P-1", history(change), [draft], status="draft")

    assert (repriced.period, repriced.amount) == ("2026-03", usd(24_000))  # 8 h × 30.00


def test_a_rate_cut_is_a_credit_rounded_half_even_per_entry() -> None:
    change = order(rate_changes=(RateChange(role="Senior", bill_rate=usd(20_950)),))
    march = period(3, entry("a", "ana", 17, "0.25", 21_000), entry("b", "ana", 18, "0.75", 21_000))

    [credit] = adjustments_for(change, "P-1", history(change), [march])

    assert credit.amount == usd(-12 - 38)  # -12.5 → -12 and -37.5 → -38, half even


def test_a_period_billed_in_another_currency_is_refused_by_name() -> None:
    change = order()
    euros = BilledPeriod(
        client_id="001A",
        period="2026-03",
        currency="EUR",
        status="finalized",
        entries=(entry("e", "ana", 20, "1", 21_000),),
    )
    with pytest.raises(BusinessRejected, match="billed period 001A 2026-03"):
        adjustments_for(change, "P-1", history(change), [euros])


def test_periods_run_from_the_effective_month_to_today_across_a_year() -> None:
    assert periods_since(datetime.date(2025, 11, 30), datetime.date(2026, 2, 1)) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]
    assert periods_since(datetime.date(2026, 5, 1), datetime.date(2026, 4, 30)) == []


def test_terms_ignore_status_and_wording_but_not_rates() -> None:
    applied = order(status="applied", description="reworded")
    assert terms_of(order()) == terms_of(applied)
    assert terms_of(order()) != terms_of(
        order(rate_changes=(RateChange(role="Senior", bill_rate=usd(25_000)),))
    )
