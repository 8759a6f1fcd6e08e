from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commerce.dunning import (
    BUCKETS,
    CreditHoldParams,
    DunningItem,
    ReminderSchedule,
    ageing,
    ageing_bucket,
    credit_hold,
    days_sales_outstanding,
    due_reminders,
    payment_success_rate,
)
from commerce.errors import InvalidDocumentError

DUE = date(2026, 1, 10)
SCHEDULES = {
    "default": ReminderSchedule("default", (3, 7, 14)),
    "enterprise": ReminderSchedule("enterprise", (14, 30)),
}


def item(
    iid: str = "i1",
    due: date | None = DUE,
    remaining: int = 1000,
    segment: str = "default",
    ccy: str = "USD",
) -> DunningItem:
    return DunningItem(iid, "c1", ccy, remaining, due, segment)


class TestReminders:
    @pytest.mark.parametrize(
        ("days", "stage"),
        [(0, None), (2, None), (3, 1), (6, 1), (7, 2), (13, 2), (14, 3), (100, 3)],
    )
    def test_stage_by_days_overdue(self, days: int, stage: int | None) -> None:
        evs = due_reminders([item()], SCHEDULES, DUE + timedelta(days=days))
        assert [e.stage for e in evs] == ([stage] if stage else [])

    def test_segments_and_fallback(self) -> None:
        as_of = DUE + timedelta(days=10)
        evs = due_reminders(
            [item("a", segment="enterprise"), item("b", segment="unknown")],
            SCHEDULES,
            as_of,
        )
        assert [(e.invoice_id, e.segment, e.stage) for e in evs] == [
            ("b", "default", 2)
        ]
        with pytest.raises(InvalidDocumentError, match="no reminder schedule"):
            due_reminders(
                [item(segment="x")], {"enterprise": SCHEDULES["enterprise"]}, as_of
            )

    def test_sent_stages_not_repeated_and_catch_up_once(self) -> None:
        as_of = DUE + timedelta(days=20)
        (ev,) = due_reminders([item()], SCHEDULES, as_of)  # stages 1-3 all due: only 3
        assert ev.stage == 3 and ev.offset_days == 14 and ev.days_overdue == 20
        assert ev.event_key == "i1:reminder:3"
        assert due_reminders([item()], SCHEDULES, as_of, sent={"i1": 3}) == []
        assert (
            due_reminders([item()], SCHEDULES, DUE + timedelta(days=8), sent={"i1": 1})[
                0
            ].stage
            == 2
        )

    def test_paid_or_undated_items_skipped(self) -> None:
        assert (
            due_reminders(
                [item(remaining=0), item(due=None)], SCHEDULES, DUE + timedelta(days=30)
            )
            == []
        )

    @pytest.mark.parametrize("offs", [(), (3, 3), (7, 3), (-1,), (1.5,)])
    def test_bad_schedule(self, offs: tuple) -> None:
        with pytest.raises(
            InvalidDocumentError, match=r"schedules\['s'\]\.offsets_days"
        ):
            ReminderSchedule("s", offs)


class TestCreditHold:
    def test_threshold(self) -> None:
        p = CreditHoldParams(overdue_days=30)
        assert not credit_hold([item()], DUE + timedelta(days=30), params=p).on_hold
        d = credit_hold([item()], DUE + timedelta(days=31), params=p)
        assert d.on_hold and d.invoice_ids == ("i1",) and "30 days" in d.reasons[0]

    def test_payment_lifts_until_next_crossing(self) -> None:
        as_of = DUE + timedelta(days=40)
        paid_on = DUE + timedelta(days=35)
        assert not credit_hold([item()], as_of, last_payment_on=paid_on).on_hold
        # a payment before the crossing does not lift it
        assert credit_hold(
            [item()], as_of, last_payment_on=DUE + timedelta(days=5)
        ).on_hold
        # another invoice crossing after the payment brings the hold back
        later = item("i2", due=DUE + timedelta(days=8))
        d = credit_hold(
            [item(), later],
            DUE + timedelta(days=40),
            last_payment_on=DUE + timedelta(days=35),
        )
        assert d.on_hold and d.invoice_ids == ("i2",)

    def test_strict_mode_needs_settlement(self) -> None:
        p = CreditHoldParams(lift_on_any_payment=False)
        as_of = DUE + timedelta(days=40)
        assert credit_hold([item()], as_of, last_payment_on=as_of, params=p).on_hold
        assert not credit_hold([item(remaining=0)], as_of, params=p).on_hold

    def test_minimum_amount_per_currency(self) -> None:
        p = CreditHoldParams(min_overdue_minor=500)
        as_of = DUE + timedelta(days=60)
        assert not credit_hold([item(remaining=499)], as_of, params=p).on_hold
        d = credit_hold(
            [item("a", remaining=499), item("b", remaining=600, ccy="EUR")],
            as_of,
            params=p,
        )
        assert d.invoice_ids == ("b",)


class TestKpis:
    @pytest.mark.parametrize(
        ("days", "bucket"),
        [
            (-5, "current"),
            (0, "current"),
            (1, "1-30"),
            (30, "1-30"),
            (31, "31-60"),
            (60, "31-60"),
            (61, "61-90"),
            (90, "61-90"),
            (91, "90+"),
        ],
    )
    def test_bucket_edges(self, days: int, bucket: str) -> None:
        assert ageing_bucket(days) == bucket

    def test_ageing_report(self) -> None:
        as_of = DUE + timedelta(days=45)
        r = ageing(
            [
                item("a"),
                item("b", due=None, remaining=5),
                item("c", due=as_of, remaining=7),
                item("d", remaining=0),
                item("e", ccy="JPY", due=DUE - timedelta(days=100)),
            ],
            as_of,
        )
        assert r.amounts["USD"] == {
            "current": 12,
            "1-30": 0,
            "31-60": 1000,
            "61-90": 0,
            "90+": 0,
        }
        assert r.counts["USD"]["current"] == 2 and r.amounts["JPY"]["90+"] == 1000

    @settings(deadline=None)
    @given(
        st.lists(st.tuples(st.integers(-200, 400), st.integers(0, 10**6)), max_size=30)
    )
    def test_ageing_conserves_amounts(self, rows: list[tuple[int, int]]) -> None:
        as_of = date(2026, 6, 1)
        items = [
            item(f"i{k}", due=as_of - timedelta(days=d), remaining=a)
            for k, (d, a) in enumerate(rows)
        ]
        r = ageing(items, as_of)
        total = sum(a for _, a in rows)
        assert sum(r.amounts.get("USD", dict.fromkeys(BUCKETS, 0)).values()) == total

    def test_dso(self) -> None:
        assert days_sales_outstanding(0, 100, 30) == Decimal("0.0")
        assert days_sales_outstanding(100, 0, 30) is None
        assert days_sales_outstanding(1, 3, 365) == Decimal("121.7")
        with pytest.raises(InvalidDocumentError, match=r"^period_days"):
            days_sales_outstanding(1, 1, 0)

    def test_success_rate(self) -> None:
        assert payment_success_rate([]) is None
        assert payment_success_rate(["pending"]) is None
        assert payment_success_rate(["succeeded"] * 3) == Decimal(1)
        assert payment_success_rate(
            ["failed", "succeeded", "failed", "failed"]
        ) == Decimal("0.25")
